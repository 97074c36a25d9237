"""Stopping a version that is still in use is a deliberate act: deactivating, an immediate
rotation, a rotation that stops the current version within seven days, and Change
Credential name the sources of the last 24 hours and ask for an acknowledgement; without it
the form says which field is missing and nothing changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.models import Rotation, UseChannel
from credentials.services import current_version
from credentials.usage import version_use_record
from tests.credentials.helpers import ec_pem
from tests.factories import make_connection, make_credential

ERROR = "acknowledge_in_use"


@pytest.fixture
def credential(unit, alice):
    credential = make_credential(unit, actor=alice, name="Partner drop", username="partner",
                                 expires_in=timedelta(days=90))
    make_connection(credential, alice)
    return credential


def _used(credential, address="203.0.113.50", ago=timedelta(hours=2)):
    version_use_record(version=current_version(credential), channel=UseChannel.SFTP_LOGIN,
                       address=address, now=timezone.now() - ago)


def _state(credential) -> tuple:
    credential.refresh_from_db()
    return (credential.is_active,
            sorted(credential.versions.values_list("number", "state"), key=repr),
            Rotation.objects.count(), AuditEvent.objects.count())


def test_deactivating_a_credential_in_use_names_its_sources_and_needs_the_box(
        client, bob, credential):
    _used(credential)
    client.force_login(bob)
    url = reverse("credential_deactivate", args=["acme", credential.pk])
    page = client.get(url).content.decode()
    assert "Version 1 was used 1 time in the last 24 hours" in page
    assert "203.0.113.50" in page
    before = _state(credential)
    refused = client.post(url)
    assert refused.status_code == 200
    html = refused.content.decode()
    assert 'id="error_acknowledge_in_use"' in html and f"({ERROR})" in html
    assert _state(credential) == before
    assert client.post(url, {ERROR: "on"}).status_code == 302
    credential.refresh_from_db()
    assert not credential.is_active


def test_deactivating_a_credential_unused_for_a_day_needs_no_box(client, bob, credential):
    _used(credential, ago=timedelta(hours=25))
    client.force_login(bob)
    url = reverse("credential_deactivate", args=["acme", credential.pk])
    assert "still-in-use" not in client.get(url).content.decode()
    assert client.post(url).status_code == 302
    credential.refresh_from_db()
    assert not credential.is_active


def _rotate(client, credential, step, **data):
    return client.post(reverse("credential_rotate", args=["acme", credential.pk]),
                       {"step": step, **data})


def test_an_immediate_rotation_of_a_password_in_use_needs_the_box(client, bob, credential):
    _used(credential, "198.51.100.4")
    client.force_login(bob)
    plan = {"method": "new", "timing": "immediate"}
    confirm = _rotate(client, credential, "1", **plan).content.decode()
    assert "198.51.100.4" in confirm and 'id="error_acknowledge_in_use"' not in confirm
    before = _state(credential)
    refused = _rotate(client, credential, "2", **plan, username="partner", source="generate")
    assert refused.status_code == 200
    assert 'id="error_acknowledge_in_use"' in refused.content.decode()
    assert _state(credential) == before
    done = _rotate(client, credential, "2", **plan, username="partner", source="generate",
                   **{ERROR: "on"})
    assert done.status_code == 302
    assert current_version(credential).number == 2


@pytest.mark.parametrize(("days", "asks"), [(3, True), (10, False)])
def test_a_scheduled_rotation_asks_only_when_the_version_stops_within_seven_days(
        client, bob, credential, days, asks):
    _used(credential)
    client.force_login(bob)
    starts = timezone.localtime(timezone.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")
    plan = {"method": "new", "timing": "scheduled", "starts_at": starts}
    response = _rotate(client, credential, "2", **plan, username="partner", source="generate")
    assert (response.status_code == 200) is asks
    assert Rotation.objects.exists() is not asks


def test_a_rotation_with_an_overlap_of_a_week_or_more_asks_nothing(client, bob, credential):
    _used(credential)
    client.force_login(bob)
    until = timezone.localtime(timezone.now() + timedelta(days=8)).strftime("%Y-%m-%dT%H:%M")
    plan = {"method": "new", "timing": "immediate", "overlap_ends_at": until}
    assert _rotate(client, credential, "2", **plan, username="partner",
                   source="generate").status_code == 302


def test_change_credential_of_an_api_key_in_use_needs_the_box(client, bob, carrier_api):
    _used(carrier_api, "192.0.2.77")
    client.force_login(bob)
    base = f"/o/acme/credentials/{carrier_api.pk}/change/"
    client.post(base, {"name": "Carrier API 2027", "client_id": "carrier-client-2027",
                       "key_id": "carrier-key-2027", "private_key": ec_pem()})
    assert "192.0.2.77" in client.get(base + "confirm/").content.decode()
    before = _state(carrier_api)
    refused = client.post(base + "confirm/")
    assert 'id="error_acknowledge_in_use"' in refused.content.decode()
    assert _state(carrier_api) == before
    assert client.post(base + "confirm/", {ERROR: "on"}).status_code == 302
    assert current_version(carrier_api).key_id == "carrier-key-2027"
