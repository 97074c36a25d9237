"""Connection tests of outbound SFTP connections, against the built-in endpoint as the
partner's server."""

import socket
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.models import AuditEvent
from credentials import material as m
from credentials.kinds import sftp_password
from credentials.models import ConnectionKind, Kind
from credentials.rotation.requests import rotation_schedule
from credentials.services import current_version
from organizations.access import SYSTEM
from sftpd import client as sftp_client
from sftpd.client import Outcome, connection_test
from sftpd.services import host_key_create
from tests.factories import make_connection, make_credential
from tests.helpers import free_port
from tests.sftpd.helpers import password_of, start_server, username_of


@pytest.fixture
def partner_credential(unit, alice):
    """A credential the built-in endpoint accepts (it has an inbound connection)."""
    credential = make_credential(unit)
    make_connection(credential, alice)
    return credential


def outbound(credential, alice, server, **fields):
    defaults = {"hostname": "127.0.0.1", "port": server.port if server else 22,
                "remote_path": "/"}
    return make_connection(credential, alice, kind=ConnectionKind.OUTBOUND_SFTP,
                           **{**defaults, **fields})


def test_it_succeeds_against_a_pinned_server(sftp_server, sftp_root, partner_credential, alice):
    (sftp_root / "acme" / "warehouse").mkdir(parents=True)
    (sftp_root / "acme" / "warehouse" / "ready.csv").write_text("x")
    connection = outbound(partner_credential, alice, sftp_server,
                          host_key_fingerprint=sftp_server.fingerprint)
    result = connection_test(connection=connection, actor=alice, source_ip="198.51.100.4")
    assert result.ok, result.message
    assert result.entries == ["ready.csv"]
    assert result.host_fingerprint == sftp_server.fingerprint
    assert result.version_number == 1
    event = AuditEvent.objects.get(action="connection.test")
    assert event.details["outcome"] == "ok"
    assert event.target_id == str(connection.pk)
    assert event.actor == alice and event.source_ip == "198.51.100.4"
    assert password_of(partner_credential) not in str(event.details)


def test_it_asks_to_confirm_an_unknown_host_key_then_pins_it(
    sftp_server, partner_credential, alice
):
    connection = outbound(partner_credential, alice, sftp_server)
    logins_before = AuditEvent.objects.filter(action="sftp.login").count()
    first = connection_test(connection=connection, actor=alice)
    assert first.outcome == Outcome.HOST_KEY_UNKNOWN
    assert first.message == (f"Unknown host key {sftp_server.fingerprint}. Confirm it with the "
                             "partner, then pin it.")
    # Nothing was sent to an unverified server: no login reached it.
    assert AuditEvent.objects.filter(action="sftp.login").count() == logins_before
    connection.refresh_from_db()
    assert connection.host_key_fingerprint == ""

    second = connection_test(connection=connection, actor=alice, trust_new_host_key=True,
                             confirmed_fingerprint=first.host_fingerprint)
    assert second.ok and second.pinned_now
    connection.refresh_from_db()
    assert connection.host_key_fingerprint == sftp_server.fingerprint
    pin = AuditEvent.objects.get(action="connection.pin_host_key")
    assert pin.actor == alice and pin.details == {"fingerprint": sftp_server.fingerprint}


def test_it_pins_nothing_when_the_key_differs_from_the_confirmed_one(
    sftp_server, partner_credential, alice
):
    connection = outbound(partner_credential, alice, sftp_server)
    result = connection_test(connection=connection, actor=alice, trust_new_host_key=True,
                             confirmed_fingerprint="SHA256:" + "A" * 43)
    assert result.outcome == Outcome.HOST_KEY_CHANGED
    connection.refresh_from_db()
    assert connection.host_key_fingerprint == ""


def test_it_reports_a_changed_host_key(sftp_server, sleeps, partner_credential, alice):
    pinned = sftp_server.fingerprint
    connection = outbound(partner_credential, alice, sftp_server, host_key_fingerprint=pinned)
    assert connection_test(connection=connection, actor=alice).ok
    new_key = host_key_create()
    sftp_server.stop()
    server = start_server(sleeps)
    try:
        connection.port = server.port
        connection.save(update_fields=["port"])
        result = connection_test(connection=connection, actor=alice)
    finally:
        server.stop()
    assert result.outcome == Outcome.HOST_KEY_CHANGED
    assert result.message.startswith(
        f"Host key changed: expected {pinned}, got {new_key.fingerprint}."
    )
    connection.refresh_from_db()
    assert connection.host_key_fingerprint == pinned  # a changed key is never re-pinned
    assert AuditEvent.objects.filter(action="connection.test").latest("at").details[
        "outcome"] == "host_key_changed"


def test_it_reports_a_wrong_password_as_authentication_failed(
    sftp_server, unit, partner_credential, alice
):
    # Same user name as the endpoint knows, another password.
    impostor = make_credential(unit, username=username_of(partner_credential))
    connection = outbound(impostor, alice, sftp_server,
                          host_key_fingerprint=sftp_server.fingerprint)
    result = connection_test(connection=connection, actor=alice)
    assert result.outcome == Outcome.AUTH_FAILED
    assert result.message == (f"Authentication failed for {username_of(impostor)} with "
                              "version 1.")
    assert password_of(impostor) not in str(
        AuditEvent.objects.get(action="connection.test").details)


def test_it_logs_in_with_a_key(sftp_server, unit, alice):
    credential = make_credential(unit, Kind.SFTP_KEY)
    make_connection(credential, alice)
    connection = outbound(credential, alice, sftp_server,
                          host_key_fingerprint=sftp_server.fingerprint)
    assert connection_test(connection=connection, actor=alice).ok


def test_it_tests_a_given_version_before_the_switch(sftp_server, partner_credential, alice):
    """What a rotation does with its new material: the server does not know it yet."""
    connection = outbound(partner_credential, alice, sftp_server,
                          host_key_fingerprint=sftp_server.fingerprint)
    rotation = rotation_schedule(
        credential=partner_credential, starts_at=timezone.now() + timedelta(days=1),
        actor=alice, material=sftp_password.material(username="someone-new",
                                              password=m.generate_password()),
    )
    result = connection_test(connection=connection, version=rotation.to_version, actor=SYSTEM)
    assert result.outcome == Outcome.AUTH_FAILED
    assert result.version_number is None  # numbered only if it goes live
    assert "with the new version" in result.message
    assert connection_test(connection=connection, actor=SYSTEM).ok  # current still works
    assert current_version(partner_credential).number == 1


def test_it_reports_a_refused_connection(transactional_db, partner_credential, alice):
    port = free_port()
    connection = outbound(partner_credential, alice, None, port=port)
    result = connection_test(connection=connection, actor=alice)
    assert result.outcome == Outcome.REFUSED
    assert result.message == (f"Connection refused: nothing accepts connections on "
                              f"127.0.0.1:{port}.")


def test_it_reports_a_timeout_when_the_server_stays_silent(
    transactional_db, partner_credential, alice, settings
):
    settings.KEYTURN_CONNECTION_TEST_TIMEOUT = 0.5
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts; nobody ever speaks SSH
        connection = outbound(partner_credential, alice, None, port=silent.getsockname()[1])
        result = connection_test(connection=connection, actor=alice)
    assert result.outcome == Outcome.TIMEOUT


def test_it_reports_a_dns_failure(db, partner_credential, alice, monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    # The resolver is the one part replaced: tests never touch the network.
    monkeypatch.setattr(sftp_client.socket, "getaddrinfo", no_such_host)
    connection = outbound(partner_credential, alice, None, hostname="sftp.partner.invalid")
    result = connection_test(connection=connection, actor=alice)
    assert result.outcome == Outcome.DNS
    assert "sftp.partner.invalid" in result.message


def test_it_reports_a_missing_remote_folder(sftp_server, partner_credential, alice):
    connection = outbound(partner_credential, alice, sftp_server, remote_path="/nowhere",
                          host_key_fingerprint=sftp_server.fingerprint)
    result = connection_test(connection=connection, actor=alice)
    assert result.outcome == Outcome.LIST_FAILED
    assert "/nowhere does not exist" in result.message


def test_it_requires_the_credentials_manage_permission(db, partner_credential, alice, vic):
    connection = outbound(partner_credential, alice, None)
    with pytest.raises(PermissionDenied):
        connection_test(connection=connection, actor=vic)
    assert not AuditEvent.objects.filter(action="connection.test").exists()
