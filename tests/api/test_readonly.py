"""Read-only endpoints for security tooling: AS2 certificates and API credentials."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from credentials.models import Kind
from credentials.rotation.requests import rotation_schedule
from credentials.services import credential_set_active
from tests.api.helpers import prepare_new_secret
from tests.factories import make_connection, make_credential, material_for

AS2 = "/api/v1/headless/as2/certificates/"
API = "/api/v1/headless/api/credentials/"


def test_it_shows_as2_certificates_public_facts_and_status(client, acme_key, unit, alice):
    certificate = make_credential(unit, Kind.AS2_CERTIFICATE)
    make_connection(certificate, alice)
    version = certificate.versions.get()
    page = client.get(AS2, HTTP_X_KEYTURN_KEY=acme_key).json()
    assert page["count"] == 1
    row = page["results"][0]
    assert row == client.get(f"{AS2}{certificate.pk}/", HTTP_X_KEYTURN_KEY=acme_key).json()
    assert (row["subject"], row["fingerprint"], row["serial"]) == (
        version.cert_subject, version.fingerprint, version.cert_serial)
    assert row["status"] == ["active"] and row["new_version_pending"] is False
    assert "PRIVATE KEY" not in json.dumps(page)


def test_it_shows_api_credentials_with_a_pending_new_secret(client, acme_key, api_client, alice):
    make_connection(api_client.credential, alice)
    new = prepare_new_secret(api_client)
    api_key_credential = make_credential(api_client.credential.business_unit, Kind.API_KEY,
                                         expires_in=timedelta(days=90))
    page = client.get(API, HTTP_X_KEYTURN_KEY=acme_key).json()
    rows = {row["id"]: row for row in page["results"]}
    assert set(rows) == {str(api_client.credential.pk), str(api_key_credential.pk)}
    client_row = rows[str(api_client.credential.pk)]
    assert client_row["client_id"] == api_client.client_id
    assert client_row["new_version_pending"] is True
    assert client_row["rotation_policy"] == "automatic"
    assert rows[str(api_key_credential.pk)]["key_id"]
    text = json.dumps(page)
    assert api_client.secret not in text and new.secret not in text


def test_it_filters_read_only_lists_by_status(client, acme_key, unit, alice):
    scheduled = make_credential(unit, Kind.AS2_CERTIFICATE)
    rotation_schedule(credential=scheduled, starts_at=timezone.now() + timedelta(days=3),
                      actor=alice, material=material_for(Kind.AS2_CERTIFICATE))
    deactivated = make_credential(unit, Kind.AS2_CERTIFICATE)
    credential_set_active(credential=deactivated, active=False, actor=alice)
    only = client.get(AS2, {"status": "rotation_scheduled"}, HTTP_X_KEYTURN_KEY=acme_key).json()
    assert [r["id"] for r in only["results"]] == [str(scheduled.pk)]
    inactive = client.get(AS2, {"status": "inactive"}, HTTP_X_KEYTURN_KEY=acme_key).json()
    assert {r["id"] for r in inactive["results"]} == {str(scheduled.pk), str(deactivated.pk)}


def test_it_keeps_read_only_endpoints_to_the_keys_organization(client, globex_key, unit,
                                                               api_client):
    certificate = make_credential(unit, Kind.AS2_CERTIFICATE)
    assert client.get(AS2, HTTP_X_KEYTURN_KEY=globex_key).json()["count"] == 0
    assert client.get(API, HTTP_X_KEYTURN_KEY=globex_key).json()["count"] == 0
    assert client.get(f"{AS2}{certificate.pk}/", HTTP_X_KEYTURN_KEY=globex_key).status_code == 404
    assert client.get(f"{API}{api_client.credential.pk}/",
                      HTTP_X_KEYTURN_KEY=globex_key).status_code == 404
    assert client.get(AS2).status_code == 401
    assert client.post(AS2, "{}", content_type="application/json",
                       HTTP_X_KEYTURN_KEY=globex_key).status_code == 405
