"""API keys: created, listed and revoked by owners in the portal and by a command; checked on
every headless request, audited on every use."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from api.models import ApiKey
from api.services import api_key_create, api_key_revoke
from audit.models import AuditEvent
from credentials import crypto

LIST = "/api/v1/headless/sftp/credentials/"


def _keys_url(org="acme"):
    return f"/o/{org}/api-keys/"


def _login(user):
    client = Client()
    client.force_login(user)
    return client


def test_it_shows_a_new_key_once_and_keeps_only_its_hash(alice):
    client = _login(alice)
    response = client.post(_keys_url(), {"name": "ERP nightly sync"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    plaintext = re.search(r'value="(kt_[0-9a-f]{12}_[^"]+)"', response.content.decode()).group(1)
    api_key = ApiKey.objects.get(name="ERP nightly sync")
    assert api_key.created_by == alice
    assert api_key.key_digest == crypto.secret_digest(plaintext)
    assert plaintext not in repr(api_key) + str(api_key)
    listing = client.get(_keys_url()).content.decode()
    assert "ERP nightly sync" in listing and api_key.display_prefix in listing
    assert plaintext not in listing
    event = AuditEvent.objects.get(action="api_key.create")
    assert plaintext not in str(event.details)


def test_it_refuses_a_second_live_key_with_the_same_name(alice):
    client = _login(alice)
    client.post(_keys_url(), {"name": "sync"})
    response = client.post(_keys_url(), {"name": "sync"})
    assert "already exists" in response.content.decode()
    assert ApiKey.objects.filter(name="sync").count() == 1


def test_it_revokes_a_key_after_confirmation(alice, acme_key):
    client = _login(alice)
    api_key = ApiKey.objects.get()
    confirm_url = f"{_keys_url()}{api_key.pk}/revoke/"
    confirm = client.get(confirm_url)
    assert confirm.status_code == 200 and "Yes, revoke it" in confirm.content.decode()
    assert ApiKey.objects.get().revoked_at is None  # a GET changes nothing
    response = client.post(confirm_url, follow=True)
    assert "is revoked" in response.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_by == alice and api_key.revoked_at is not None
    refused = Client().get(LIST, HTTP_X_KEYTURN_KEY=acme_key)
    assert refused.status_code == 401
    assert refused.json()["error"] == "revoked_api_key"


def test_it_requires_csrf_for_creating_and_revoking(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(_keys_url(), {"name": "x"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_it_lets_only_owners_manage_keys_and_hides_other_organizations(
    bob, vic, charlie, acme_key
):
    api_key = ApiKey.objects.get()
    for user in (bob, vic):
        client = _login(user)
        assert client.get(_keys_url()).status_code == 403
        assert client.post(f"{_keys_url()}{api_key.pk}/revoke/").status_code == 403
    outsider = _login(charlie)
    assert outsider.get(_keys_url()).status_code == 404
    assert outsider.post(f"{_keys_url()}{api_key.pk}/revoke/").status_code == 404
    assert outsider.post(f"{_keys_url('globex')}{api_key.pk}/revoke/").status_code == 404
    assert ApiKey.objects.get().revoked_at is None
    assert Client().get(_keys_url()).status_code == 302  # to the login page


def test_its_services_let_only_owners_manage_keys(acme, bob, alice, acme_key):
    """The services check the permission themselves, whoever calls them."""
    with pytest.raises(PermissionDenied):
        api_key_create(organization=acme, name="by a manager", actor=bob, now=timezone.now())
    with pytest.raises(PermissionDenied):
        api_key_revoke(api_key=ApiKey.objects.get(), actor=bob, now=timezone.now())
    assert ApiKey.objects.get().revoked_at is None
    assert not AuditEvent.objects.filter(action__in=["api_key.revoke"]).exists()
    assert api_key_revoke(api_key=ApiKey.objects.get(), actor=alice, now=timezone.now())


def test_it_creates_lists_and_revokes_keys_from_the_command_line(acme):
    out, err = io.StringIO(), io.StringIO()
    call_command("api_key", "create", "--org", "acme", "--name", "deploy bot", stdout=out,
                 stderr=err)
    plaintext = out.getvalue().strip()
    assert re.fullmatch(r"kt_[0-9a-f]{12}_[A-Za-z0-9_-]+", plaintext)
    assert "shown only now" in err.getvalue()
    assert Client().get(LIST, HTTP_X_KEYTURN_KEY=plaintext).status_code == 200
    listing = io.StringIO()
    call_command("api_key", "list", "--org", "acme", stdout=listing)
    prefix = plaintext.split("_")[1]
    assert prefix in listing.getvalue() and "deploy bot" in listing.getvalue()
    assert plaintext not in listing.getvalue()
    call_command("api_key", "revoke", "--org", "acme", "--prefix", prefix, stdout=io.StringIO())
    assert Client().get(LIST, HTTP_X_KEYTURN_KEY=plaintext).status_code == 401
    with pytest.raises(CommandError):
        call_command("api_key", "revoke", "--org", "globex-nope", "--prefix", prefix)


@pytest.mark.parametrize("header", ["HTTP_X_KEYTURN_KEY", "HTTP_AUTHORIZATION"])
def test_it_accepts_the_key_in_its_header_or_as_a_bearer_token(client, acme_key, header):
    value = acme_key if header == "HTTP_X_KEYTURN_KEY" else f"Bearer {acme_key}"
    assert client.get(LIST, **{header: value}).status_code == 200


def test_it_answers_401_without_a_key_or_with_a_wrong_one(client, acme_key):
    prefix = acme_key.split("_")[1]
    for headers in ({}, {"HTTP_X_KEYTURN_KEY": "kt_nope"},
                    {"HTTP_X_KEYTURN_KEY": f"kt_{prefix}_{'A' * 43}"},
                    {"HTTP_X_KEYTURN_KEY": acme_key[:-1] + ("A" if acme_key[-1] != "A" else "B")},
                    {"HTTP_AUTHORIZATION": "Basic Zm9vOmJhcg=="}):
        response = client.get(LIST, **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="keyturn"'
        assert response.json()["error"] == "invalid_api_key"


def test_it_audits_a_keys_first_read_of_a_minute_and_every_refusal(client, acme, acme_key):
    moment = timezone.now().replace(microsecond=0)
    with time_machine.travel(moment, tick=False):
        client.get(LIST, HTTP_X_KEYTURN_KEY=acme_key)
        client.get(f"{LIST}not-a-uuid/", HTTP_X_KEYTURN_KEY=acme_key)
    uses = AuditEvent.objects.filter(action="api_key.use").order_by("id")
    assert [(e.details["method"], e.details["path"], e.details["status"]) for e in uses] == [
        ("GET", LIST, 200), ("GET", f"{LIST}not-a-uuid/", 404),
    ]
    assert all(e.organization == acme and e.actor is None for e in uses)
    key = ApiKey.objects.get()
    assert {e.actor_label for e in uses} == {f'API key "ci" (kt_{key.prefix})'}
    assert acme_key not in str([e.details for e in uses])
    assert ApiKey.objects.get().last_used_at == moment


def test_it_keeps_api_keys_of_organizations_apart(client, acme, globex, alice, charlie):
    _, acme_plaintext = api_key_create(organization=acme, name="same", actor=alice,
                                       now=timezone.now())
    _, globex_plaintext = api_key_create(organization=globex, name="same", actor=charlie,
                                         now=timezone.now())
    assert acme_plaintext != globex_plaintext
    assert client.get(LIST, HTTP_X_KEYTURN_KEY=globex_plaintext).json()["count"] == 0


def test_its_pages_name_the_zone_of_a_time_a_change_of_clocks_repeats(alice, acme_key):
    # 25 Oct 2026 in Berlin: 02:30 comes twice, first in summer time (00:30 UTC), then not.
    alice.time_zone = "Europe/Berlin"
    alice.save()
    api_key = ApiKey.objects.get()
    ApiKey.objects.filter(pk=api_key.pk).update(
        created_at=datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        last_used_at=datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    client = _login(alice)
    listing = client.get(_keys_url()).content.decode()
    assert "25 Oct 2026 02:30 CEST" in listing and "25 Oct 2026 02:30 CET" in listing
    revoke = client.get(f"{_keys_url()}{api_key.pk}/revoke/").content.decode()
    assert "Last used: 25 Oct 2026 02:30 CET." in revoke
