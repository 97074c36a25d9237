"""The headless API's partner contacts: CRUD, audited as the key, refusals naming the field,
another organization's objects 404."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from credentials.models import Kind
from partners.models import PartnerContact
from tests.factories import make_connection, make_credential

API = "/api/v1/headless/partner-contacts/"


@pytest.fixture
def connection(unit, alice):
    return make_connection(make_credential(unit, Kind.SFTP_PASSWORD, actor=alice), alice)


def _send(client, key, method, url, body):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json",
                                   HTTP_X_KEYTURN_KEY=key)


def test_it_creates_reads_lists_updates_and_deletes(client, acme_key, connection):
    created = _send(client, acme_key, "post", API, {
        "name": "Dana Weber", "email": "dana@partner.example", "time_zone": "Europe/Berlin",
        "connection": str(connection.pk)})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["connection"] == str(connection.pk) and body["credential"] is None
    assert body["time_zone"] == "Europe/Berlin" and body["opted_out_at"] is None
    url = f"{API}{body['id']}/"
    assert created["Location"].endswith(url)
    assert client.get(url, HTTP_X_KEYTURN_KEY=acme_key).json()["email"] == "dana@partner.example"
    listed = client.get(f"{API}?connection={connection.pk}", HTTP_X_KEYTURN_KEY=acme_key).json()
    assert listed["count"] == 1
    updated = _send(client, acme_key, "put", url, {"name": "Dana W.",
                                                   "email": "dana@partner.example"})
    assert updated.status_code == 200 and updated.json()["time_zone"] is None
    assert client.delete(url, HTTP_X_KEYTURN_KEY=acme_key).status_code == 204
    assert not PartnerContact.objects.exists()
    actions = list(AuditEvent.objects.filter(action__startswith="partner_contact.")
                   .order_by("pk").values_list("action", "actor_label"))
    assert [a for a, _ in actions] == ["partner_contact.add", "partner_contact.edit",
                                       "partner_contact.remove"]
    assert all(label.startswith('API key "ci"') for _, label in actions)


def test_it_adds_to_an_api_client_and_lists_by_credential(client, acme_key, unit, alice):
    api_client = make_credential(unit, Kind.API_CLIENT_SECRET, actor=alice)
    response = _send(client, acme_key, "post", API, {
        "name": "Ken", "email": "ken@partner.example", "credential": str(api_client.pk)})
    assert response.status_code == 201
    via = make_connection(api_client, alice)
    _send(client, acme_key, "post", API, {"name": "Bo", "email": "bo@partner.example",
                                          "connection": str(via.pk)})
    listed = client.get(f"{API}?credential={api_client.pk}", HTTP_X_KEYTURN_KEY=acme_key)
    assert sorted(r["name"] for r in listed.json()["results"]) == ["Bo", "Ken"]


@pytest.mark.parametrize("body, field", [
    ({"name": "A", "email": "a@example.com"}, "connection"),
    ({"name": "A", "email": "nope", "connection": "CONNECTION"}, "email"),
    ({"name": "A", "email": "a@example.com", "connection": "CONNECTION",
      "time_zone": "Mars/Olympus"}, "time_zone"),
    ({"name": "A", "email": "a@example.com", "connection": "not-a-uuid"}, "connection"),
    ({"name": "A", "email": "a@example.com", "connection": "CONNECTION", "extra": 1}, "extra"),
])
def test_it_refuses_bad_input_naming_the_field(client, acme_key, connection, body, field):
    body = {k: str(connection.pk) if v == "CONNECTION" else v for k, v in body.items()}
    response = _send(client, acme_key, "post", API, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not PartnerContact.objects.exists()


def test_it_refuses_an_sftp_credential_as_owner(client, acme_key, connection):
    response = _send(client, acme_key, "post", API, {
        "name": "A", "email": "a@example.com", "credential": str(connection.credential_id)})
    assert response.status_code == 400 and "credential" in response.json()["errors"]


def test_another_organizations_contacts_and_connections_answer_404(
        client, acme_key, globex_key, connection):
    created = _send(client, acme_key, "post", API, {
        "name": "A", "email": "a@example.com", "connection": str(connection.pk)}).json()
    url = f"{API}{created['id']}/"
    assert client.get(url, HTTP_X_KEYTURN_KEY=globex_key).status_code == 404
    assert _send(client, globex_key, "put", url, {"name": "Evil",
                                                  "email": "e@example.com"}).status_code == 404
    assert client.delete(url, HTTP_X_KEYTURN_KEY=globex_key).status_code == 404
    assert client.get(API, HTTP_X_KEYTURN_KEY=globex_key).json()["count"] == 0
    theirs = _send(client, globex_key, "post", API, {
        "name": "A", "email": "b@example.com", "connection": str(connection.pk)})
    assert theirs.status_code == 400
    assert PartnerContact.objects.get().name == "A"
