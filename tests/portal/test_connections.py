"""Connections and AS2 profiles: create, edit, attach and detach a credential, with a
confirmation before a connection loses the credential it uses."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from api.services import api_key_create
from audit.models import AuditEvent
from credentials import crypto, network
from credentials.models import Connection, ConnectionKind, Kind
from tests.factories import make_connection, make_credential
from tests.portal.helpers import assert_refused


def _form(**fields: object) -> dict[str, object]:
    from organizations.models import BusinessUnit

    unit = BusinessUnit.objects.get(organization__slug="acme", slug="warehouse")
    return {"business_unit": str(unit.pk), "name": "Partner upload", "kind": "inbound_sftp",
            "credential": "", "is_active": "on", "remote_path": "/", **fields}


def test_it_creates_a_connection_using_a_credential(client, bob, unit):
    credential = make_credential(unit, actor=bob)
    client.force_login(bob)
    page = client.get(reverse("connection_create", args=["acme"]),
                      {"credential": str(credential.pk)}).content.decode()
    assert f'<option value="{credential.pk}" selected>' in page  # prefilled from the usage tab
    response = client.post(reverse("connection_create", args=["acme"]),
                           _form(credential=str(credential.pk)))
    assert response.status_code == 302
    connection = Connection.objects.get()
    assert (connection.credential, connection.kind, connection.is_active) == (
        credential, "inbound_sftp", True)
    assert AuditEvent.objects.filter(action="connection.create", actor=bob).exists()


def test_it_creates_an_as2_profile_for_a_certificate(client, bob, unit):
    certificate = make_credential(unit, Kind.AS2_CERTIFICATE, actor=bob)
    client.force_login(bob)
    client.post(reverse("connection_create", args=["acme"]), _form(
        name="Retailer", kind="as2_profile", credential=str(certificate.pk),
        partner_as2_id="RETAILER-AS2"))
    assert Connection.objects.get().partner_as2_id == "RETAILER-AS2"


def test_it_refuses_a_credential_that_does_not_fit_the_connection(client, bob, unit):
    certificate = make_credential(unit, Kind.AS2_CERTIFICATE, actor=bob)
    client.force_login(bob)
    response = client.post(reverse("connection_create", args=["acme"]),
                           _form(credential=str(certificate.pk)))
    assert_refused(response, "credential", "cannot use")
    assert not Connection.objects.exists()


def test_it_refuses_another_organizations_credential_or_unit(client, bob, unit, globex,
                                                             charlie):
    theirs = make_credential(globex.business_units.get(), actor=charlie)
    client.force_login(bob)
    url = reverse("connection_create", args=["acme"])
    assert_refused(client.post(url, _form(credential=str(theirs.pk))), "credential",
                    "valid choice")
    other_unit = str(globex.business_units.get().pk)
    assert_refused(client.post(url, _form(business_unit=other_unit)), "business_unit",
                    "valid choice")
    assert not Connection.objects.exists()


def test_it_asks_before_an_edit_takes_a_connections_credential_away(client, bob, unit):
    credential = make_credential(unit, actor=bob, name="In use")
    spare = make_credential(unit, actor=bob, name="Spare")
    connection = make_connection(credential, bob)
    url = reverse("connection_edit", args=["acme", connection.pk])
    client.force_login(bob)
    data = _form(name=connection.name, credential=str(spare.pk))
    response = client.post(url, data)
    assert response.status_code == 200
    assert (f"“{connection.name}” stops using “In use” and uses “Spare” instead."
            in response.content.decode())
    connection.refresh_from_db()
    assert connection.credential == credential  # not yet
    assert client.post(url, {**data, "confirmed": "1"}).status_code == 302
    connection.refresh_from_db()
    assert connection.credential == spare


def test_it_saves_a_harmless_edit_without_asking(client, bob, unit):
    credential = make_credential(unit, actor=bob)
    connection = make_connection(credential, bob)
    client.force_login(bob)
    response = client.post(reverse("connection_edit", args=["acme", connection.pk]),
                           _form(name="Renamed", credential=str(credential.pk)))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Renamed"


def test_it_detaches_a_credential_after_confirmation(client, bob, unit):
    credential = make_credential(unit, actor=bob)
    connection = make_connection(credential, bob)
    url = reverse("connection_detach", args=["acme", connection.pk])
    client.force_login(bob)
    assert "stops authenticating" in client.get(url).content.decode()
    connection.refresh_from_db()
    assert connection.credential == credential
    response = client.post(url)
    assert response["Location"].endswith("?tab=usage")
    connection.refresh_from_db()
    assert connection.credential is None
    assert AuditEvent.objects.filter(action="connection.update", actor=bob).exists()


def test_it_attaches_a_credential_from_its_usage_tab(client, bob, unit):
    credential = make_credential(unit, actor=bob, name="New one")
    old = make_credential(unit, actor=bob, name="Old one")
    free = Connection.objects.create(business_unit=unit, name="Free",
                                     kind=ConnectionKind.INBOUND_SFTP)
    busy = make_connection(old, bob)
    as2 = Connection.objects.create(business_unit=unit, name="Profile",
                                    kind=ConnectionKind.AS2_PROFILE)
    url = reverse("credential_attach", args=["acme", credential.pk])
    client.force_login(bob)
    page = client.get(url).content.decode()
    assert "Free" in page and busy.name in page and as2.name not in page
    client.post(url, {"connection": str(free.pk)})
    free.refresh_from_db()
    assert free.credential == credential  # no credential replaced: no question asked
    response = client.post(url, {"connection": str(busy.pk)})
    assert "stops using “Old one”" in response.content.decode()
    busy.refresh_from_db()
    assert busy.credential == old
    client.post(url, {"connection": str(busy.pk), "confirmed": "1"})
    busy.refresh_from_db()
    assert busy.credential == credential


def test_it_lists_connections_for_everybody_but_lets_only_managers_edit(client, vic, bob, unit):
    credential = make_credential(unit, actor=bob, name="Listed credential")
    connection = make_connection(credential, bob)
    client.force_login(vic)
    page = client.get(reverse("connection_list", args=["acme"])).content.decode()
    assert connection.name in page and "Listed credential" in page
    assert reverse("connection_edit", args=["acme", connection.pk]) not in page
    assert client.get(reverse("connection_edit", args=["acme", connection.pk])).status_code == 403


PIN = crypto.generate_ssh_key()[1].fingerprint


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"port": "0"}, "port", "from 1 to 65535"),
    ({"port": "65536"}, "port", "from 1 to 65535"),
    ({"hostname": "any text at all"}, "hostname", "host name such as"),
    ({"hostname": "sftp.example.com/upload"}, "hostname", "host name such as"),
    ({"hostname": "-dash.example.com"}, "hostname", "host name such as"),
    ({"hostname": "a" * 64 + ".example.com"}, "hostname", "host name such as"),
    ({"host_key_fingerprint": "SHA256:short"}, "host_key_fingerprint", "43 characters"),
    ({"host_key_fingerprint": PIN + "="}, "host_key_fingerprint", "43 characters"),
    ({"host_key_fingerprint": "MD5:" + "ab:" * 15 + "ab"}, "host_key_fingerprint", "SHA256:"),
    ({"host_key_fingerprint": f"256 {PIN} partner (ED25519)"}, "host_key_fingerprint",
     "SHA256:"),
])
def test_it_refuses_a_bad_host_port_or_pin_on_its_field(client, bob, unit, fields, field,
                                                        words):
    client.force_login(bob)
    response = client.post(reverse("connection_create", args=["acme"]),
                           _form(**{"kind": "outbound_sftp", "hostname": "sftp.example.com",
                                    "port": "22", **fields}))
    assert_refused(response, field, words)
    assert not Connection.objects.exists()


@pytest.mark.parametrize(("hostname", "port"), [
    ("sftp.example.com", "1"), ("10.0.0.5", "65535"), ("localhost", "22"),
])
def test_it_accepts_host_names_ports_and_a_pin_within_the_rules(client, bob, unit, hostname,
                                                               port):
    client.force_login(bob)
    response = client.post(reverse("connection_create", args=["acme"]), _form(
        kind="outbound_sftp", hostname=hostname, port=port, host_key_fingerprint=PIN))
    assert response.status_code == 302
    connection = Connection.objects.get()
    assert (connection.hostname, connection.port, connection.host_key_fingerprint) == (
        hostname, int(port), PIN)


def test_it_refuses_a_host_name_with_the_same_words_in_the_portal_and_the_api(client, bob,
                                                                              alice, acme):
    """One rule (credentials/network.py): what the connection form refuses, the API refuses
    with the same message."""
    _row, key = api_key_create(organization=acme, name="ci", actor=alice, now=timezone.now())
    client.force_login(bob)
    portal = client.post(reverse("connection_create", args=["acme"]), _form(
        kind="outbound_sftp", hostname="any text at all", port="22"))
    api = client.post("/api/v1/headless/sftp/credentials/", data={
        "hostname": "any text at all", "port": 22, "user": "sftpuser", "auth_type": "PASSWORD",
        "password": "new-secure-password-123"}, content_type="application/json",
        HTTP_X_KEYTURN_KEY=key)
    assert api.status_code == 400
    assert api.json()["errors"]["hostname"] == portal.context["form"].errors["hostname"] == [
        network.HOSTNAME_MESSAGE]
    assert not Connection.objects.exists()
