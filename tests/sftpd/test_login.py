"""Partners log in to the built-in endpoint with a unit's inbound SFTP credentials; the one
rule (CredentialVersion.works_at at the attempt's arrival) decides, through a real client."""

from datetime import timedelta

from django.utils import timezone

from audit.models import AuditEvent
from credentials import material as m
from credentials.kinds import sftp_key, sftp_password
from credentials.models import CredentialVersion, Kind, VersionState
from credentials.rotation.automatic import rotation_prepare_automatic
from credentials.rotation.requests import rotation_rotate_now, rotation_schedule
from credentials.services import credential_create, credential_set_active, current_version
from sftpd.client import paramiko_private_key
from sftpd.models import FailedLogin
from tests.factories import make_connection, make_credential
from tests.sftpd.helpers import can_log_in, key_of, password_of, username_of


def inbound(unit, alice, kind=Kind.SFTP_PASSWORD, **kwargs):
    credential = make_credential(unit, kind, **kwargs)
    make_connection(credential, alice)
    return credential


def test_it_accepts_the_current_password_and_refuses_a_wrong_one(sftp_server, unit, alice):
    credential = inbound(unit, alice)
    user = username_of(credential)
    assert can_log_in(sftp_server, user, password=password_of(credential))
    assert not can_log_in(sftp_server, user, password="not-the-password-at-all")
    assert not can_log_in(sftp_server, "nobody", password=password_of(credential))


def test_it_records_the_login_on_the_version_and_in_the_audit(sftp_server, unit, alice):
    credential = inbound(unit, alice)
    before = timezone.now()
    assert can_log_in(sftp_server, username_of(credential), password=password_of(credential))
    version = current_version(credential)
    assert version.last_used_at >= before
    event = AuditEvent.objects.get(action="sftp.login")
    assert event.target_id == str(credential.pk)
    assert event.source_ip == "127.0.0.1"
    assert event.details["method"] == "password"
    assert event.details["version"] == version.number
    assert password_of(credential) not in str(event.details)


def test_it_refuses_the_old_password_at_once_after_an_immediate_rotation(
    sftp_server, unit, alice
):
    credential = inbound(unit, alice)
    user, old_password = username_of(credential), password_of(credential)
    assert can_log_in(sftp_server, user, password=old_password)
    new_password = m.generate_password()
    rotation_rotate_now(
        credential=credential,
        material=sftp_password.material(username=user, password=new_password),
        actor=alice,
    )
    assert not can_log_in(sftp_server, user, password=old_password)
    assert can_log_in(sftp_server, user, password=new_password)
    failure = FailedLogin.objects.get()
    assert failure.reason == "version_not_valid"  # the partner still uses the retired one
    assert failure.business_unit == unit


def test_it_accepts_both_passwords_in_an_overlap_then_only_the_new(
    sftp_server, unit, alice, time_machine
):
    credential = inbound(unit, alice)
    user, old_password = username_of(credential), password_of(credential)
    new_password = m.generate_password()
    overlap_ends_at = timezone.now() + timedelta(hours=1)
    rotation_rotate_now(
        credential=credential,
        material=sftp_password.material(username=user, password=new_password),
        actor=alice, overlap_ends_at=overlap_ends_at,
    )
    assert can_log_in(sftp_server, user, password=old_password)
    assert can_log_in(sftp_server, user, password=new_password)
    time_machine.move_to(overlap_ends_at + timedelta(seconds=1))
    assert not can_log_in(sftp_server, user, password=old_password)
    assert can_log_in(sftp_server, user, password=new_password)


def test_it_refuses_an_expired_credential(sftp_server, unit, alice, time_machine):
    credential = inbound(unit, alice, expires_in=timedelta(days=3))
    user, password = username_of(credential), password_of(credential)
    assert can_log_in(sftp_server, user, password=password)
    time_machine.move_to(timezone.now() + timedelta(days=3, seconds=1))
    assert not can_log_in(sftp_server, user, password=password)
    assert FailedLogin.objects.get().reason == "version_not_valid"


def test_it_refuses_an_inactive_credential(sftp_server, unit, alice):
    credential = inbound(unit, alice)
    user, password = username_of(credential), password_of(credential)
    credential_set_active(credential=credential, active=False, actor=alice)
    assert not can_log_in(sftp_server, user, password=password)
    assert FailedLogin.objects.get().reason == "credential_inactive"
    credential_set_active(credential=credential, active=True, actor=alice)
    assert can_log_in(sftp_server, user, password=password)


def test_it_refuses_a_credential_whose_inbound_connection_is_inactive(sftp_server, unit, alice):
    credential = make_credential(unit)
    make_connection(credential, alice, active=False)
    assert not can_log_in(sftp_server, username_of(credential), password=password_of(credential))
    assert FailedLogin.objects.get().reason == "no_active_connection"


def test_it_refuses_a_credential_used_by_no_inbound_connection(sftp_server, unit, alice):
    credential = make_credential(unit)
    assert not can_log_in(sftp_server, username_of(credential), password=password_of(credential))
    assert FailedLogin.objects.get().reason == "unknown_user"


def test_it_logs_in_with_a_key_and_refuses_another_key(sftp_server, unit, alice):
    credential = inbound(unit, alice, Kind.SFTP_KEY)
    user = username_of(credential)
    stranger = paramiko_private_key(m.crypto.generate_ssh_key()[0])
    assert not can_log_in(sftp_server, user, pkey=stranger)
    assert can_log_in(sftp_server, user, pkey=key_of(credential))
    assert current_version(credential).last_used_at is not None
    login = AuditEvent.objects.get(action="sftp.login")
    assert login.details["method"] == "publickey"
    # A refused key counts once, when its connection ends without a login.
    failure = FailedLogin.objects.get()
    assert (failure.method, failure.reason) == ("publickey", "wrong_secret")


def test_it_refuses_a_password_for_a_key_credential(sftp_server, unit, alice):
    credential = inbound(unit, alice, Kind.SFTP_KEY)
    assert not can_log_in(sftp_server, username_of(credential), password=password_of(credential))


def test_it_makes_a_pending_automatic_version_current_on_first_login(
    sftp_server, unit, alice
):
    credential = inbound(unit, alice, expires_in=timedelta(days=10))
    user, old_password = username_of(credential), password_of(credential)
    new_password = m.generate_password()
    rotation = rotation_prepare_automatic(
        credential=credential,
        material=sftp_password.material(username=user, password=new_password),
    )
    assert rotation is not None
    assert can_log_in(sftp_server, user, password=old_password)  # both work until first use
    pending = CredentialVersion.objects.get(pk=rotation.to_version_id)
    assert pending.state == VersionState.PENDING
    assert can_log_in(sftp_server, user, password=new_password)
    pending.refresh_from_db()
    assert pending.state == VersionState.CURRENT
    assert not can_log_in(sftp_server, user, password=old_password)


def test_it_follows_a_scheduled_rotation_and_its_overlap_even_before_the_job_runs(
    sftp_server, unit, alice, time_machine
):
    credential = inbound(unit, alice)
    user, old_password = username_of(credential), password_of(credential)
    new_password = m.generate_password()
    starts_at = timezone.now() + timedelta(hours=1)
    overlap_ends_at = starts_at + timedelta(hours=1)
    rotation_schedule(
        credential=credential, starts_at=starts_at, overlap_ends_at=overlap_ends_at,
        material=sftp_password.material(username=user, password=new_password), actor=alice,
    )
    assert not can_log_in(sftp_server, user, password=new_password)  # not yet valid
    assert can_log_in(sftp_server, user, password=old_password)
    time_machine.move_to(starts_at + timedelta(seconds=1))
    # No job has switched it: the new version works from its start, and its first use
    # switches it while keeping the scheduled overlap for the old one.
    assert can_log_in(sftp_server, user, password=new_password)
    assert current_version(credential).number == 2
    assert can_log_in(sftp_server, user, password=old_password)
    time_machine.move_to(overlap_ends_at + timedelta(seconds=1))
    assert not can_log_in(sftp_server, user, password=old_password)
    assert can_log_in(sftp_server, user, password=new_password)


def test_it_logs_in_with_an_uploaded_pkcs8_ecdsa_key(sftp_server, unit, alice):
    private_key = m.crypto.generate_pem_private_key()  # "-----BEGIN PRIVATE KEY-----"
    credential = credential_create(
        business_unit=unit, kind=Kind.SFTP_KEY, name="uploaded key", valid_until=None,
        material=sftp_key.material(username="ecdsa-partner", private_key=private_key), actor=alice,
    )
    make_connection(credential, alice)
    assert can_log_in(sftp_server, "ecdsa-partner", pkey=key_of(credential))


def test_it_stops_the_old_password_at_a_scheduled_start_to_the_second_before_any_job(
    sftp_server, unit, alice, time_machine
):
    from credentials.models import Rotation, RotationState

    credential = inbound(unit, alice)
    user, old_password = username_of(credential), password_of(credential)
    new_password = m.generate_password()
    starts_at = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    rotation_schedule(credential=credential, starts_at=starts_at, actor=alice,
                      material=sftp_password.material(username=user, password=new_password))
    time_machine.move_to(starts_at - timedelta(seconds=1))
    assert can_log_in(sftp_server, user, password=old_password)
    assert not can_log_in(sftp_server, user, password=new_password)
    for moment in (starts_at, starts_at + timedelta(seconds=1)):
        time_machine.move_to(moment)
        assert not can_log_in(sftp_server, user, password=old_password)
    assert Rotation.objects.get().state == RotationState.SCHEDULED  # no job has run
    assert can_log_in(sftp_server, user, password=new_password)
    old = CredentialVersion.objects.get(credential=credential, number=1)
    assert (old.state, old.retired_at) == (VersionState.RETIRED, starts_at)
    assert not can_log_in(sftp_server, user, password=old_password)
