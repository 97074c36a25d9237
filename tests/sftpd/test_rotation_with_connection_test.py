"""A rotation that tests the outbound connection with the new material before switching,
against the built-in endpoint as the partner's server."""

from datetime import timedelta

from django.utils import timezone

from credentials.kinds import sftp_password
from credentials.models import ConnectionKind, Kind, RotationState, VersionState
from credentials.rotation.requests import rotation_retry, rotation_rotate_now, rotation_schedule
from credentials.services import credential_create
from credentials.sweep import sweep_run
from tests.factories import make_connection


def _password_credential(unit, alice, name, password):
    return credential_create(
        business_unit=unit, kind=Kind.SFTP_PASSWORD, name=name, actor=alice,
        material=sftp_password.material(username="northwind", password=password), valid_until=None,
    )


def test_it_switches_only_after_the_new_material_passes_the_connection_test(
    sftp_server, unit, alice
):
    old_password, new_password = "old-password-1234", "new-password-5678"
    # The partner's side: the built-in endpoint accepts its inbound credential.
    partner = _password_credential(unit, alice, "partner side", old_password)
    make_connection(partner, alice)
    # Our side: the outbound connection to the partner uses our own copy.
    ours = _password_credential(unit, alice, "our side", old_password)
    make_connection(ours, alice, kind=ConnectionKind.OUTBOUND_SFTP, hostname="127.0.0.1",
                    port=sftp_server.port, remote_path="/",
                    host_key_fingerprint=sftp_server.fingerprint)
    now = timezone.now()
    rotation = rotation_schedule(
        credential=ours,
        material=sftp_password.material(username="northwind", password=new_password),
        actor=alice, starts_at=now + timedelta(seconds=1), test_before_switch=True, now=now,
    )
    sweep_run(now=now + timedelta(seconds=2))
    rotation.refresh_from_db()
    assert rotation.state == RotationState.FAILED
    assert "connection test of" in rotation.failure_reason
    assert "authentication" in rotation.failure_reason.lower()
    assert ours.versions.get(state=VersionState.CURRENT).number == 1  # still the old one

    # The partner puts the new password in place; the retry's test passes and it switches.
    rotation_rotate_now(
        credential=partner, actor=alice,
        material=sftp_password.material(username="northwind", password=new_password))
    retried = rotation_retry(rotation=rotation, actor=alice)
    assert retried.state == RotationState.COMPLETED, retried.failure_reason
    assert ours.versions.get(state=VersionState.CURRENT).number == 2
