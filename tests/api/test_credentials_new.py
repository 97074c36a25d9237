"""GET /api/credentials/new: the new secret of a rotation, for the holder of the current one."""

from __future__ import annotations

import json
from datetime import timedelta

import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.kinds import api_client_secret
from credentials.models import VersionState
from credentials.rotation.requests import rotation_rotate_now
from organizations.access import SYSTEM
from tests.api.helpers import basic_auth, make_api_client, prepare_new_secret

NEW = "/api/credentials/new"
TOKEN = "/authentication/token"


def test_it_hands_the_new_secret_to_the_current_credentials_until_it_is_activated(
    client, api_client
):
    with time_machine.travel(timezone.now(), tick=False):
        new = prepare_new_secret(api_client)
        pending = api_client.credential.versions.get(state=VersionState.PENDING)
        for _ in range(2):  # it can be fetched again
            response = client.get(NEW, HTTP_AUTHORIZATION=api_client.basic)
            assert response.status_code == 200
            body = response.json()
            assert body["clientSecret"] == new.secret
            assert body["clientId"] == api_client.client_id
            assert body["credentialId"] == str(api_client.credential.pk)
            assert body["isActive"] is False
            assert body["version"] is None  # numbered when it goes live
            assert body["validFrom"] == pending.valid_from.isoformat(timespec="seconds").replace(
                "+00:00", "Z")
            assert body["validUntil"].endswith("Z")
            assert "activate" in body["message"]
            assert response["Cache-Control"] == "no-store"
    # Fetching activates nothing.
    assert api_client.credential.versions.get(pk=pending.pk).state == VersionState.PENDING


def test_it_audits_every_retrieval_without_the_secret(client, api_client):
    new = prepare_new_secret(api_client)
    client.get(NEW, HTTP_AUTHORIZATION=api_client.basic)
    event = AuditEvent.objects.get(action="secret.retrieve")
    assert event.target_id == str(api_client.credential.pk)
    assert event.details["client_id"] == api_client.client_id
    assert new.secret not in json.dumps(event.details)
    assert api_client.secret not in json.dumps(event.details)


def test_it_lists_a_retrieval_among_the_credentials_reveals(client, api_client, alice):
    prepare_new_secret(api_client)
    fetched = Client().get(NEW, HTTP_AUTHORIZATION=api_client.basic, REMOTE_ADDR="203.0.113.7")
    assert fetched.status_code == 200
    client.force_login(alice)
    detail = reverse("credential_detail", args=["acme", api_client.credential.pk])
    history = client.get(detail, {"tab": "history"}).content.decode()
    reveals = history.split('id="reveals"')[1].split("</table>")[0]
    assert f"API client {api_client.client_id}" in reveals and "203.0.113.7" in reveals
    overview = client.get("/o/acme/").content.decode()
    recent = overview.split('id="recent-reveals"')[1].split("</table>")[0]
    assert api_client.credential.name in recent
    assert "secret.retrieve" not in overview.split('id="recent-changes"')[1]


def test_it_answers_404_before_a_rotation_and_410_once_the_new_secret_is_active(
    client, api_client
):
    assert client.get(NEW, HTTP_AUTHORIZATION=api_client.basic).status_code == 404
    new = prepare_new_secret(api_client)
    assert client.post(TOKEN, HTTP_AUTHORIZATION=new.basic).status_code == 200
    gone = client.get(NEW, HTTP_AUTHORIZATION=new.basic)
    assert gone.status_code == 410
    assert gone.json()["error"] == "already_active"
    # The old secret is retired: it authenticates nothing any more.
    assert client.get(NEW, HTTP_AUTHORIZATION=api_client.basic).status_code == 401


def test_it_answers_410_after_an_immediate_rotation_too(client, unit):
    api = make_api_client(unit, client_id="portal-rotated")
    material = api_client_secret.material(client_id="portal-rotated")
    rotation_rotate_now(credential=api.credential, material=material, actor=SYSTEM)
    assert client.get(NEW, HTTP_AUTHORIZATION=basic_auth("portal-rotated", material.secret)
                      ).status_code == 410


def test_it_refuses_wrong_credentials_and_the_new_secret_itself_with_401(client, api_client):
    new = prepare_new_secret(api_client)
    for authorization in (basic_auth(api_client.client_id, "wrong" * 10),
                          basic_auth("nobody", api_client.secret), new.basic, None):
        headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
        response = client.get(NEW, **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Basic realm="keyturn"'
    assert api_client.credential.versions.get(state=VersionState.PENDING).number is None


def test_it_allows_ten_requests_an_hour_per_client_then_answers_429(client, api_client, unit):
    other = make_api_client(unit, client_id="other-client")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for _ in range(10):
            assert client.get(NEW, HTTP_AUTHORIZATION=api_client.basic).status_code == 404
            traveller.shift(timedelta(minutes=1))
        limited = client.get(NEW, HTTP_AUTHORIZATION=api_client.basic)
        assert limited.status_code == 429
        # The first counted request leaves the window 60 minutes after it was made.
        assert limited["Retry-After"] == str(50 * 60)
        assert limited.json()["error"] == "rate_limited"
        assert client.get(NEW, HTTP_AUTHORIZATION=other.basic).status_code == 404  # per client
        traveller.shift(timedelta(minutes=50, seconds=1))
        assert client.get(NEW, HTTP_AUTHORIZATION=api_client.basic).status_code == 404
        assert client.get(NEW, HTTP_AUTHORIZATION=api_client.basic).status_code == 429
    with time_machine.travel(start + timedelta(hours=2)):
        assert client.get(NEW, HTTP_AUTHORIZATION=api_client.basic).status_code == 404
