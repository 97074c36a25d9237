"""The SFTP pages: the endpoint, a unit's transfer log, and Test connection."""

import io
from datetime import UTC, datetime

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from credentials.models import ConnectionKind
from credentials.services import current_version
from organizations.roles import Role
from sftpd.models import HostKey
from sftpd.services import Session, host_key_create, transfer_record, unit_folder
from tests.factories import make_connection, make_credential, make_user
from tests.sftpd.helpers import can_log_in, connect, password_of, username_of


@pytest.fixture
def partner(unit, alice):
    credential = make_credential(unit)
    make_connection(credential, alice)
    return credential


def unit_url(unit):
    return reverse("sftp_unit", args=[unit.organization.slug, unit.slug])


def test_it_shows_an_upload_in_the_transfer_log_in_the_viewers_time_zone(
    sftp_server, client, acme, unit, alice, time_machine
):
    time_machine.move_to(datetime(2026, 1, 15, 9, 30, tzinfo=UTC))
    partner = make_credential(unit)
    make_connection(partner, alice)
    ssh = connect(sftp_server, username_of(partner), password=password_of(partner))
    with ssh.open_sftp() as sftp:
        sftp.putfo(io.BytesIO(b"a" * 2048), "january-orders.csv")
    ssh.close()
    sftp_server.wait_idle()
    berliner = make_user("berliner", acme, Role.VIEWER, time_zone="Europe/Berlin")
    client.force_login(berliner)
    page = client.get(unit_url(unit)).content.decode()
    assert "/january-orders.csv" in page
    assert "2.0\xa0KB" in page and 'title="2048 bytes"' in page
    assert username_of(partner) in page
    assert f"{partner.name} v1" in page
    assert "15 Jan 2026 10:30:" in page and "CET" in page  # 09:30 UTC in Berlin
    assert sftp_server.fingerprint in page
    # The credential's version shows its last login and last transfer.
    versions = page.split('id="versions"')[1].split("</table>")[0]
    assert versions.count("15 Jan 2026 10:30 CET") == 2


def test_it_costs_the_same_queries_for_one_transfer_or_many(db, client, alice, unit, partner):
    version = current_version(partner)
    session = Session(username=version.username, address="192.0.2.1",
                      business_unit_id=unit.pk, credential_id=partner.pk,
                      version_id=version.pk, folder=unit_folder(unit))
    client.force_login(alice)

    def queries() -> int:
        with CaptureQueriesContext(db_connection) as captured:
            assert client.get(unit_url(unit)).status_code == 200
        return len(captured)

    transfer_record(session=session, file_name="/one.csv", size=1, direction="upload")
    one = queries()
    for n in range(30):
        transfer_record(session=session, file_name=f"/{n}.csv", size=n, direction="upload")
    assert queries() == one


def test_it_shows_failed_login_details_only_to_those_who_may_read_the_audit(
    sftp_server, client, unit, partner, vic, rita
):
    assert not can_log_in(sftp_server, username_of(partner), password="wrong-password-1")
    client.force_login(vic)
    page = client.get(unit_url(unit)).content.decode()
    assert "1 failed login for this unit" in page
    assert 'id="failed-logins"' not in page
    client.force_login(rita)
    page = client.get(unit_url(unit)).content.decode()
    assert 'id="failed-logins"' in page and "wrong_secret" in page and "127.0.0.1" in page
    assert "wrong-password-1" not in page


def test_it_shows_the_endpoint_and_its_host_key_fingerprint(db, client, settings, acme, alice):
    settings.KEYTURN_SFTP_PUBLIC_HOST = "sftp.acme.example"
    settings.KEYTURN_SFTP_PORT = 2222
    client.force_login(alice)
    page = client.get(reverse("sftp_endpoint", args=["acme"])).content.decode()
    assert "sftp.acme.example" in page and "2222" in page
    assert "Not generated yet" in page
    host_key = host_key_create()
    page = client.get(reverse("sftp_endpoint", args=["acme"])).content.decode()
    assert host_key.fingerprint in page
    assert reverse("sftp_unit", args=["acme", "warehouse"]) in page
    assert HostKey.objects.get().private_key_ciphertext not in page


def test_it_answers_404_for_another_organizations_pages(db, client, unit, charlie):
    client.force_login(charlie)
    assert client.get(unit_url(unit)).status_code == 404
    assert client.get(reverse("sftp_endpoint", args=["acme"])).status_code == 404
    assert client.get(reverse("sftp_unit", args=["globex", "warehouse"])).status_code == 404


def test_it_asks_anonymous_visitors_to_sign_in(db, client, unit):
    response = client.get(unit_url(unit))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- Test connection -----------------------------------------------------------------------


def connection_test_url(connection):
    return reverse("connection_test", args=[connection.business_unit.organization.slug,
                                            connection.pk])


@pytest.fixture
def outbound(partner, alice, sftp_server):
    return make_connection(partner, alice, kind=ConnectionKind.OUTBOUND_SFTP,
                           hostname="127.0.0.1", port=sftp_server.port, remote_path="/")


def test_it_confirms_pins_and_tests_through_the_page(sftp_server, client, bob, outbound):
    client.force_login(bob)
    page = client.get(connection_test_url(outbound)).content.decode()
    assert 'id="test-form"' in page and "none yet" in page
    page = client.post(connection_test_url(outbound)).content.decode()
    assert f"Unknown host key {sftp_server.fingerprint}" in page
    assert 'id="pin-form"' in page
    assert f'name="fingerprint" value="{sftp_server.fingerprint}"' in page
    page = client.post(connection_test_url(outbound), {
        "pin_host_key": "on", "fingerprint": sftp_server.fingerprint,
    }).content.decode()
    assert "Success:" in page and "is now pinned" in page
    outbound.refresh_from_db()
    assert outbound.host_key_fingerprint == sftp_server.fingerprint
    page = client.post(connection_test_url(outbound)).content.decode()
    assert "Success:" in page and "listed / (0 entries)" in page


def test_it_refuses_a_pin_without_a_fingerprint(db, client, bob, partner, alice):
    connection = make_connection(partner, alice, kind=ConnectionKind.OUTBOUND_SFTP,
                                 hostname="127.0.0.1", port=1)
    client.force_login(bob)
    page = client.post(connection_test_url(connection), {"pin_host_key": "on"}).content.decode()
    assert "Confirm the fingerprint you were shown" in page
    assert 'id="test-result"' not in page


def test_it_lets_only_credential_managers_test(db, client, vic, rita, charlie, partner, alice):
    connection = make_connection(partner, alice, kind=ConnectionKind.OUTBOUND_SFTP,
                                 hostname="127.0.0.1", port=1)
    for user in (vic, rita):
        client.force_login(user)
        assert client.get(connection_test_url(connection)).status_code == 403
        assert client.post(connection_test_url(connection)).status_code == 403
    client.force_login(charlie)
    assert client.get(connection_test_url(connection)).status_code == 404


def test_it_has_no_test_page_for_inbound_connections(db, client, alice, partner):
    client.force_login(alice)
    inbound = partner.connections.get()
    assert client.get(connection_test_url(inbound)).status_code == 404


def test_it_shows_file_names_with_control_and_direction_characters_escaped(
    sftp_server, client, unit, alice
):
    partner = make_credential(unit)
    make_connection(partner, alice)
    names = ["invoice\u202efdp.exe",  # the right-to-left override shows it as "invoiceexe.pdf"
             "report\x1b[2J\x07\tfinal.csv", "line\nbreak\u200b.csv", "back\\u202eslash.csv"]
    ssh = connect(sftp_server, username_of(partner), password=password_of(partner))
    with ssh.open_sftp() as sftp:
        for name in names:
            sftp.putfo(io.BytesIO(b"x"), name)
    ssh.close()
    sftp_server.wait_idle()
    client.force_login(alice)
    page = client.get(unit_url(unit)).content.decode()
    log = page.split('id="transfers"')[1].split("</table>")[0]
    for shown in ("/invoice\\u202efdp.exe", "/report\\x1b[2J\\x07\\tfinal.csv",
                  "/line\\nbreak\\u200b.csv", "/back\\\\u202eslash.csv"):
        assert shown in log
    for hidden in ("\u202e", "\x1b", "\x07", "\t", "\u200b"):
        assert hidden not in log
    assert "/line\nbreak" not in log
