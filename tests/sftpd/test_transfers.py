"""Uploads land in the unit's folder and in the transfer log; the folder is a jail."""

import io
import os

import paramiko
import pytest
from django.utils import timezone

from credentials import material as m
from credentials.kinds import sftp_password
from credentials.models import Kind
from credentials.rotation.requests import rotation_rotate_now
from credentials.services import current_version
from sftpd.models import TransferLog
from sftpd.selectors import inbound_versions_for_unit
from tests.factories import make_connection, make_credential
from tests.sftpd.helpers import connect, key_of, password_of, username_of


@pytest.fixture
def partner(unit, alice):
    credential = make_credential(unit)
    make_connection(credential, alice)
    return credential


def sftp_session(server, credential):
    client = connect(server, username_of(credential), password=password_of(credential))
    return client, client.open_sftp()


def test_it_stores_an_upload_in_the_unit_folder_and_logs_it(sftp_server, sftp_root, partner):
    client, sftp = sftp_session(sftp_server, partner)
    sftp.putfo(io.BytesIO(b"order;qty\n42;7\n"), "/orders.csv")
    sftp.mkdir("inbox")
    sftp.putfo(io.BytesIO(b"x" * 5000), "inbox/big.bin")
    client.close()
    sftp_server.wait_idle()
    folder = sftp_root / "acme" / "warehouse"
    assert (folder / "orders.csv").read_bytes() == b"order;qty\n42;7\n"
    assert (folder / "inbox" / "big.bin").stat().st_size == 5000
    first, second = TransferLog.objects.order_by("at", "pk")
    version = current_version(partner)
    assert (first.business_unit, first.credential, first.version) == (
        partner.business_unit, partner, version)
    assert (first.username, first.file_name, first.size, first.direction) == (
        version.username, "/orders.csv", 15, "upload")
    assert first.completed and first.remote_address == "127.0.0.1"
    assert (second.file_name, second.size) == ("/inbox/big.bin", 5000)


def test_it_logs_downloads(sftp_server, sftp_root, partner):
    folder = sftp_root / "acme" / "warehouse"
    folder.mkdir(parents=True)
    (folder / "outbound.xml").write_bytes(b"<invoice/>")
    client, sftp = sftp_session(sftp_server, partner)
    assert sftp.listdir("/") == ["outbound.xml"]
    buffer = io.BytesIO()
    sftp.getfo("outbound.xml", buffer)
    client.close()
    sftp_server.wait_idle()
    assert buffer.getvalue() == b"<invoice/>"
    transfer = TransferLog.objects.get()
    assert (transfer.direction, transfer.file_name, transfer.size) == (
        "download", "/outbound.xml", 10)


def test_it_marks_an_upload_cut_off_by_a_disconnect(sftp_server, partner):
    client, sftp = sftp_session(sftp_server, partner)
    handle = sftp.open("partial.csv", "w")
    handle.write(b"half a file")
    handle.flush()
    client.close()  # without closing the file
    sftp_server.wait_idle()
    transfer = TransferLog.objects.get()
    assert (transfer.file_name, transfer.completed) == ("/partial.csv", False)


def test_it_logs_a_key_login_upload_against_its_version(sftp_server, unit, alice):
    credential = make_credential(unit, Kind.SFTP_KEY)
    make_connection(credential, alice)
    client = connect(sftp_server, username_of(credential), pkey=key_of(credential))
    with client.open_sftp() as sftp:
        sftp.putfo(io.BytesIO(b"hello"), "hello.txt")
    client.close()
    sftp_server.wait_idle()
    assert TransferLog.objects.get().version == current_version(credential)


def test_it_keeps_the_partner_inside_the_unit_folder(sftp_server, sftp_root, tmp_path, partner):
    folder = sftp_root / "acme" / "warehouse"
    folder.mkdir(parents=True)
    secret = tmp_path / "outside.txt"
    secret.write_text("not for partners")
    os.symlink(secret, folder / "link-out")
    os.symlink(tmp_path, folder / "dir-out")
    client, sftp = sftp_session(sftp_server, partner)
    sftp.putfo(io.BytesIO(b"climb"), "../../../escape.txt")
    assert sftp.normalize("../..") == "/"
    assert sorted(sftp.listdir("/..")) == ["escape.txt"]  # symlinks are not even listed
    with pytest.raises(PermissionError):
        sftp.open("link-out").read()
    with pytest.raises(PermissionError):
        sftp.listdir("dir-out")
    with pytest.raises(PermissionError):
        sftp.putfo(io.BytesIO(b"x"), "dir-out/planted.txt")
    with pytest.raises(OSError):
        sftp.symlink("/etc/passwd", "passwd")
    with pytest.raises(PermissionError):
        sftp.rmdir("/")
    client.close()
    sftp_server.wait_idle()
    assert (folder / "escape.txt").read_bytes() == b"climb"
    assert not (sftp_root / "escape.txt").exists()
    assert not (tmp_path / "planted.txt").exists()
    assert not (tmp_path / "escape.txt").exists()


def test_it_gives_each_business_unit_its_own_folder(sftp_server, sftp_root, acme, alice, partner):
    finance = acme.business_units.get(slug="finance")
    other = make_credential(finance)
    make_connection(other, alice)
    client, sftp = sftp_session(sftp_server, partner)
    sftp.putfo(io.BytesIO(b"warehouse data"), "stock.csv")
    client.close()
    client, sftp = sftp_session(sftp_server, other)
    assert sftp.listdir("/") == []
    client.close()
    sftp_server.wait_idle()
    assert (sftp_root / "acme" / "warehouse" / "stock.csv").exists()
    assert TransferLog.objects.get().business_unit.slug == "warehouse"


def test_it_refuses_a_shell(sftp_server, partner):
    client = connect(sftp_server, username_of(partner), password=password_of(partner))
    with pytest.raises(paramiko.SSHException):
        client.exec_command("id")
    client.close()
    sftp_server.wait_idle()


def test_it_tells_each_versions_last_login_and_transfer(sftp_server, partner, alice):
    client, sftp = sftp_session(sftp_server, partner)
    sftp.putfo(io.BytesIO(b"before the rotation"), "before.csv")
    client.close()
    sftp_server.wait_idle()
    rotation_rotate_now(
        credential=partner, actor=alice,
        material=sftp_password.material(username=username_of(partner),
                                        password=m.generate_password()),
    )
    # What the unit's SFTP page lists: each live version, newest first.
    new, old = inbound_versions_for_unit(partner.business_unit, timezone.now())
    assert (new.number, new.last_login_at, new.last_transfer_at) == (2, None, None)
    upload = TransferLog.objects.get()
    assert old.last_login_at is not None and old.last_transfer_at == upload.at
