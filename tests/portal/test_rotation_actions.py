"""The engine's actions on the credential page: retry a failed rotation, reveal a prepared new
secret, and the Manage menu entries of the other flows."""

from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone

from audit.models import AuditEvent
from credentials.models import ConnectionKind, Kind, Rotation, RotationState, VersionState
from credentials.rotation.requests import rotation_schedule
from credentials.services import version_secret
from credentials.sweep import sweep_run
from tests.credentials.helpers import switch_fails
from tests.factories import make_connection, make_credential, material_for


def detail(client, credential, tab=""):
    suffix = f"?tab={tab}" if tab else ""
    return client.get(f"/o/acme/credentials/{credential.pk}/{suffix}")


@pytest.fixture
def failed(unit, alice):
    credential = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice)
    now = timezone.now()
    rotation = rotation_schedule(credential=credential, material=material_for(credential.kind),
                                 actor=alice, starts_at=now + timedelta(seconds=1), now=now)
    with switch_fails(DatabaseError("lost")):
        sweep_run(now=now + timedelta(seconds=2))
    rotation.refresh_from_db()
    assert rotation.state == RotationState.FAILED
    return credential, rotation


def test_it_shows_a_failed_rotation_and_retries_it_after_confirmation(client, alice, failed):
    credential, rotation = failed
    client.force_login(alice)
    page = detail(client, credential).content.decode()
    assert "The last rotation failed" in page
    assert "The database refused the switch" in page
    retry_url = f"/o/acme/credentials/{credential.pk}/rotations/{rotation.pk}/retry/"
    assert retry_url in page
    confirm = client.get(retry_url)
    assert b"Yes, retry the rotation" in confirm.content
    assert Rotation.objects.get().state == RotationState.FAILED  # GET changes nothing
    response = client.post(retry_url, follow=True)
    assert b"The rotation completed on this retry." in response.content
    rotation.refresh_from_db()
    assert rotation.state == RotationState.COMPLETED
    assert credential.versions.get(state=VersionState.CURRENT).pk == rotation.to_version_id
    assert AuditEvent.objects.filter(action="rotation.retry", actor=alice).count() == 1
    assert "The last rotation failed" not in detail(client, credential).content.decode()


def test_it_lets_no_one_without_the_permission_retry(client, rita, charlie, failed):
    credential, rotation = failed
    retry_url = f"/o/acme/credentials/{credential.pk}/rotations/{rotation.pk}/retry/"
    client.force_login(rita)
    page = detail(client, credential).content.decode()
    assert "The last rotation failed" in page and retry_url not in page
    assert client.post(retry_url).status_code == 403
    client.force_login(charlie)
    assert client.post(retry_url).status_code == 404
    assert Rotation.objects.get().state == RotationState.FAILED


def test_it_reveals_the_prepared_new_secret_before_the_switch(client, unit, alice, vic):
    credential = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice)
    rotation = rotation_schedule(credential=credential, material=material_for(credential.kind),
                                 actor=alice, starts_at=timezone.now() + timedelta(days=1))
    new_secret = version_secret(rotation.to_version)
    client.force_login(alice)
    page = detail(client, credential).content.decode()
    assert "Reveal the new password" in page and new_secret not in page
    url = f"/o/acme/credentials/{credential.pk}/reveal/"
    response = client.post(url, {"version": "pending"})
    assert response.status_code == 200
    assert new_secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action="secret.reveal")
    assert event.details["state"] == "pending" and new_secret not in str(event.details)
    client.force_login(vic)
    assert client.post(url, {"version": "pending"}).status_code == 403


def test_it_offers_change_credential_for_api_keys_and_connection_tests_for_outbound(
    client, unit, alice, bob, vic
):
    api_key = make_credential(unit, Kind.API_KEY, actor=alice)
    sftp = make_credential(unit, Kind.SFTP_KEY, actor=alice)
    outbound = make_connection(sftp, alice, kind=ConnectionKind.OUTBOUND_SFTP,
                               hostname="sftp.partner.example", port=22)
    client.force_login(bob)
    api_page = detail(client, api_key).content.decode()
    assert f"/o/acme/credentials/{api_key.pk}/change/" in api_page
    sftp_page = detail(client, sftp).content.decode()
    assert f"/o/acme/credentials/{sftp.pk}/change/" not in sftp_page
    assert f"/o/acme/connections/{outbound.pk}/test/" in sftp_page
    client.force_login(vic)
    assert "/change/" not in detail(client, api_key).content.decode()
    assert "/test/" not in detail(client, sftp).content.decode()


def test_it_offers_test_connection_in_the_manage_menu_of_an_outbound_connection(
    client, unit, alice
):
    sftp = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice)
    outbound = make_connection(sftp, alice, kind=ConnectionKind.OUTBOUND_SFTP,
                               hostname="sftp.partner.example", port=22)
    inbound = make_connection(sftp, alice)
    client.force_login(alice)
    page = client.get(f"/o/acme/connections/{outbound.pk}/").content.decode()
    assert f"/o/acme/connections/{outbound.pk}/test/" in page
    page = client.get(f"/o/acme/connections/{inbound.pk}/").content.decode()
    assert "/test/" not in page
