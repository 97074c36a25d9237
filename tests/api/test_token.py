"""POST /authentication/token, activation on first use, and GET /api/v1/whoami."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from api.authentication import ClientCredentials
from api.services import client_token_issue
from audit.models import AuditEvent
from credentials.models import VersionState
from credentials.services import credential_set_active
from organizations.access import SYSTEM
from tests.api.helpers import basic_auth, make_api_client, prepare_new_secret

TOKEN = "/authentication/token"
WHOAMI = "/api/v1/whoami"


def _token(client, api, *, how="basic"):
    if how == "basic":
        return client.post(TOKEN, HTTP_AUTHORIZATION=api.basic)
    fields = {"grant_type": "client_credentials", "client_id": api.client_id,
              "client_secret": api.secret}
    if how == "json":
        return client.post(TOKEN, json.dumps(fields), content_type="application/json")
    return client.post(TOKEN, urlencode(fields), content_type="application/x-www-form-urlencoded")


def _versions(credential):
    return {v.number: v.state for v in credential.versions.all()}


@pytest.mark.parametrize("how", ["basic", "json", "form"])
def test_it_issues_a_short_lived_bearer_token_for_client_credentials(client, api_client, how):
    response = _token(client, api_client, how=how)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert response["Cache-Control"] == "no-store"
    assert api_client.secret not in response.content.decode()


def test_it_answers_a_wrong_client_id_and_a_wrong_secret_identically(client, api_client):
    wrong_secret = client.post(
        TOKEN, HTTP_AUTHORIZATION=basic_auth(api_client.client_id, "x" * 64))
    wrong_id = client.post(
        TOKEN, HTTP_AUTHORIZATION=basic_auth("no-such-client", api_client.secret))
    missing = client.post(TOKEN)
    for response in (wrong_secret, wrong_id, missing):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Basic realm="keyturn"'
        assert response.json() == {"error": "invalid_client",
                                   "error_description": "Client authentication failed."}
    assert wrong_secret.content == wrong_id.content == missing.content


def test_it_refuses_expired_and_deactivated_credentials(client, api_client, alice):
    with time_machine.travel(timezone.now() + timedelta(days=21)):
        assert _token(client, api_client).status_code == 401
    credential_set_active(credential=api_client.credential, active=False, actor=alice)
    assert _token(client, api_client).status_code == 401


def test_it_activates_a_new_secret_on_first_use_and_then_refuses_the_old_one(
    client, api_client, django_capture_on_commit_callbacks
):
    new = prepare_new_secret(api_client)
    # The overlap: both work, and the old one activates nothing.
    assert _token(client, api_client).status_code == 200
    # The new version gets its number when it goes live.
    assert _versions(api_client.credential) == {1: VersionState.CURRENT,
                                                None: VersionState.PENDING}

    with django_capture_on_commit_callbacks(execute=True):
        response = _token(client, new)
    assert response.status_code == 200
    assert _versions(api_client.credential) == {1: VersionState.RETIRED, 2: VersionState.CURRENT}
    assert [m.subject for m in mail.outbox] == [
        f"[Keyturn] Rotation complete: {api_client.credential.name}"
    ]
    assert new.secret not in mail.outbox[0].body

    old = _token(client, api_client)
    assert old.status_code == 401
    assert _token(client, new).status_code == 200
    assert AuditEvent.objects.filter(action="rotation.activate").count() == 1


def test_it_accepts_the_old_secret_for_a_request_that_arrived_before_the_activation(api_client):
    start = timezone.now()
    new = prepare_new_secret(api_client, now=start)
    arrived_before = start + timedelta(seconds=10)
    activated_at = start + timedelta(seconds=11)
    assert client_token_issue(
        credentials=ClientCredentials(new.client_id, new.secret), now=activated_at
    ).activated
    # Answered after the switch, but it arrived before it: works_at(arrival) decides.
    late_but_valid = client_token_issue(
        credentials=ClientCredentials(api_client.client_id, api_client.secret),
        now=arrived_before,
    )
    assert late_but_valid is not None and not late_but_valid.activated
    arrived_after = client_token_issue(
        credentials=ClientCredentials(api_client.client_id, api_client.secret),
        now=activated_at + timedelta(microseconds=1),
    )
    assert arrived_after is None


def test_it_gives_every_issued_token_to_whoami_until_it_expires(client, api_client):
    with time_machine.travel(timezone.now(), tick=False):
        access_token = _token(client, api_client).json()["access_token"]
        response = client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {access_token}")
        assert response.status_code == 200
        assert response.json()["client_id"] == api_client.client_id
        assert response.json()["credential_id"] == str(api_client.credential.pk)
        assert response.json()["version"] == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=1)):
        expired = client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert expired.status_code == 401
    assert expired["WWW-Authenticate"].startswith('Bearer realm="keyturn"')


def test_it_refuses_tampered_missing_and_dead_tokens(client, api_client, alice):
    access_token = _token(client, api_client).json()["access_token"]
    payload, signature = access_token.rsplit(":", 1)
    for bad in (f"{payload}:{signature[:-2]}xx", "nonsense", ""):
        assert client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {bad}").status_code == 401
    assert client.get(WHOAMI).status_code == 401
    credential_set_active(credential=api_client.credential, active=False, actor=alice)
    assert client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {access_token}").status_code == 401


def test_it_refuses_malformed_token_requests_with_oauth_errors(client, api_client):
    bad_json = client.post(TOKEN, "{nope", content_type="application/json")
    assert bad_json.status_code == 400
    assert bad_json.json()["error"] == "invalid_request"
    grant = client.post(TOKEN, json.dumps({"grant_type": "password"}),
                        content_type="application/json", HTTP_AUTHORIZATION=api_client.basic)
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"
    assert client.post(TOKEN, "x", content_type="text/plain").status_code == 415
    huge = json.dumps({"client_id": "a", "client_secret": "s" * 70_000})
    assert client.post(TOKEN, huge, content_type="application/json").status_code == 413
    wrong_method = client.get(TOKEN)
    assert wrong_method.status_code == 405
    assert wrong_method["Allow"] == "POST"


def test_it_dates_the_last_use_of_a_version_to_the_minute(client, unit):
    api = make_api_client(unit)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _token(client, api)
        first = api.credential.versions.get().last_used_at
        traveller.shift(timedelta(seconds=30))
        _token(client, api)
        assert api.credential.versions.get().last_used_at == first
        traveller.shift(timedelta(seconds=31))
        _token(client, api)
        assert api.credential.versions.get().last_used_at > first


# --- Text that cannot be kept --------------------------------------------------------------

LONE_SURROGATE = "\ud800"  # json.dumps sends it as the escape \ud800, as a client could


@pytest.mark.parametrize("field", ["client_id", "client_secret", "grant_type", "scope"])
def test_it_refuses_a_lone_surrogate_in_any_field_with_an_oauth_400(client, api_client, field):
    fields = {"grant_type": "client_credentials", "client_id": api_client.client_id,
              "client_secret": api_client.secret, field: f"x{LONE_SURROGATE}y"}
    for auth in ({}, {"HTTP_AUTHORIZATION": api_client.basic}):
        response = client.post(TOKEN, json.dumps(fields), content_type="application/json",
                               **auth)
        assert response.status_code == 400, response.content
        assert response["Content-Type"] == "application/json"
        assert response["Cache-Control"] == "no-store"
        body = response.json()
        assert body["error"] == "invalid_request"
        assert body["error_description"].startswith(f"{field}: ")
        assert "lone surrogate" in body["error_description"]


def test_it_answers_unencodable_text_in_forms_and_basic_without_a_server_error(
        client, api_client):
    # Forms and headers are bytes: what is not UTF-8 never becomes a lone surrogate.
    form = client.post(TOKEN, f"client_id={api_client.client_id}&client_secret=%ED%A0%80",
                       content_type="application/x-www-form-urlencoded")
    basic = client.post(TOKEN, HTTP_AUTHORIZATION="Basic " + base64.b64encode(
        api_client.client_id.encode() + b":\xed\xa0\x80").decode())
    for response in (form, basic):
        assert response.status_code == 401
        assert response["Cache-Control"] == "no-store"


# --- The body's shape ----------------------------------------------------------------------


def _json(client, fields, **extra):
    return client.post(TOKEN, json.dumps(fields), content_type="application/json", **extra)


def _form(client, body, **extra):
    return client.post(TOKEN, body, content_type="application/x-www-form-urlencoded", **extra)


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"client_id": 12345}, "client_id", "Enter a string."),
    ({"client_id": "c" * 201}, "client_id", "at most 200"),
    ({"client_secret": ["a"]}, "client_secret", "Enter a string."),
    ({"client_secret": "s" * 1025}, "client_secret", "at most 1024"),
    ({"grant_type": None}, "grant_type", "may not be null"),
    ({"grant_type": 1}, "grant_type", "Enter a string."),
    ({"client_id": "erp\x00prod"}, "client_id", "NUL"),
])
def test_it_refuses_fields_that_do_not_fit_the_documented_shape_with_400(
        client, api_client, fields, field, words):
    # Valid client credentials by HTTP Basic do not make an invalid body acceptable.
    for extra in ({}, {"HTTP_AUTHORIZATION": api_client.basic}):
        response = _json(client, {"client_secret": api_client.secret, **fields}, **extra)
        assert response.status_code == 400, response.content
        body = response.json()
        assert body["error"] == "invalid_request"
        assert body["error_description"].startswith(f"{field}: ")
        assert words in body["error_description"]
        assert api_client.secret not in response.content.decode()


@pytest.mark.parametrize(("body", "field"), [
    ("client_id=" + "c" * 201 + "&client_secret=s", "client_id"),
    ("client_id=erp%00prod&client_secret=s", "client_id"),
    ("client_id=erp-prod&client_id=other&client_secret=s", "client_id"),
    ("grant_type=client_credentials&grant_type=client_credentials", "grant_type"),
])
def test_it_refuses_form_fields_that_do_not_fit_the_documented_shape_with_400(
        client, api_client, body, field):
    response = _form(client, body, HTTP_AUTHORIZATION=api_client.basic)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].startswith(f"{field}: ")


def test_it_ignores_parameters_it_does_not_know_as_oauth_requires(client, api_client):
    """RFC 6749 section 3.2: the token endpoint MUST ignore unrecognized parameters (clients
    send scope or audience), and a parameter without a value counts as not sent."""
    fields = {"grant_type": "client_credentials", "client_id": api_client.client_id,
              "client_secret": api_client.secret, "scope": "read", "audience": "keyturn"}
    assert _json(client, fields).status_code == 200
    assert _json(client, {**fields, "grant_type": ""}).status_code == 200
    form = _form(client, urlencode({**fields, "grant_type": "", "resource": ""}))
    assert form.status_code == 200, form.content


def test_it_documents_the_token_body_it_enforces(client, db):
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["TokenRequest"]
    assert schema["properties"]["client_id"] == {"type": "string", "maxLength": 200}
    assert schema["properties"]["client_secret"]["maxLength"] == 1024
    assert schema["properties"]["grant_type"]["enum"] == ["client_credentials", ""]
    assert schema["additionalProperties"] is True
    assert "RFC 6749" in schema["description"]


def test_it_switches_at_a_scheduled_start_to_the_second_without_waiting_for_a_job(
    client, unit
):
    from credentials.kinds import api_client_secret
    from credentials.models import Rotation, RotationState
    from credentials.rotation.requests import rotation_schedule

    start = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    old = make_api_client(unit, client_id="exact-start")
    material = api_client_secret.material(client_id="exact-start")
    rotation_schedule(credential=old.credential, material=material, actor=SYSTEM, starts_at=start)
    new = basic_auth("exact-start", material.secret)

    def token(authorization, at):
        with time_machine.travel(at, tick=False):
            return client.post(TOKEN, HTTP_AUTHORIZATION=authorization).status_code

    second = timedelta(seconds=1)
    assert (token(old.basic, start - second), token(new, start - second)) == (200, 401)
    assert token(old.basic, start) == 401  # no overlap: it stops at the start itself
    assert token(old.basic, start + second) == 401
    assert Rotation.objects.get().state == RotationState.SCHEDULED  # no job has run
    assert token(new, start) == 200  # works from the start, and its first use switches it
    retired = old.credential.versions.get(number=1)
    assert (retired.state, retired.retired_at) == (VersionState.RETIRED, start)
    assert (token(old.basic, start + second), token(new, start + second)) == (401, 200)
