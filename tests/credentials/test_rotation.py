"""Rotation services: immediate, scheduled, cancel, swap, one at a time, failure-safe."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import DatabaseError
from django.utils import timezone

from audit.models import AuditEvent
from credentials.errors import RotationError
from credentials.models import (
    Connection,
    CredentialVersion,
    Kind,
    Rotation,
    RotationState,
    VersionState,
)
from credentials.rotation import engine
from credentials.rotation.requests import (
    rotation_cancel,
    rotation_retry,
    rotation_rotate_now,
    rotation_schedule,
)
from credentials.services import version_secret
from credentials.status import Badge, credential_badges, with_status
from credentials.sweep import sweep_run
from tests.credentials.helpers import switch_fails
from tests.factories import make_connection, make_credential, material_for


@pytest.fixture
def now(time_machine):
    moment = timezone.now().replace(microsecond=0)
    time_machine.move_to(moment, tick=False)
    return moment


@pytest.fixture
def cred(unit, alice, now):
    credential = make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=90),
                                 actor=alice, now=now)
    make_connection(credential, alice)
    return credential


def versions(credential):
    return {v.state: v for v in credential.versions.all()}


def test_it_rotates_immediately_and_the_old_stops_at_once(cred, alice, now):
    old = versions(cred)[VersionState.CURRENT]
    rotation = rotation_rotate_now(credential=cred, material=material_for(cred.kind),
                                   actor=alice, now=now)
    assert rotation.state == RotationState.COMPLETED
    old.refresh_from_db()
    new = versions(cred)[VersionState.CURRENT]
    assert old.state == VersionState.RETIRED
    assert not old.works_at(now + timedelta(microseconds=1))
    assert new.works_at(now)
    assert new.valid_until == now + timedelta(days=cred.lifetime_days)
    assert AuditEvent.objects.filter(action="rotation.complete", target_id=str(cred.pk)).exists()


def test_it_keeps_the_old_working_through_an_immediate_overlap(cred, alice, now):
    old = versions(cred)[VersionState.CURRENT]
    end = now + timedelta(days=3)
    rotation_rotate_now(credential=cred, material=material_for(cred.kind), actor=alice,
                        overlap_ends_at=end, now=now)
    old.refresh_from_db()
    new = versions(cred)[VersionState.CURRENT]
    assert old.state == VersionState.PREVIOUS
    assert old.works_at(end - timedelta(seconds=1)) and new.works_at(end - timedelta(seconds=1))
    assert not old.works_at(end)  # exactly at the overlap end, without any job
    sweep_run(now=end)
    old.refresh_from_db()
    assert old.state == VersionState.RETIRED


def test_it_runs_a_scheduled_rotation_with_overlap(cred, alice, now, time_machine):
    old = versions(cred)[VersionState.CURRENT]
    start, end = now + timedelta(days=2), now + timedelta(days=4)
    rotation = rotation_schedule(credential=cred, material=material_for(cred.kind),
                                 actor=alice, starts_at=start, overlap_ends_at=end, now=now)
    new = rotation.to_version
    assert Badge.ROTATION_SCHEDULED in credential_badges(with_status(
        type(cred).objects.filter(pk=cred.pk)).get(), now)
    assert old.works_at(start - timedelta(seconds=1))
    assert not new.works_at(start - timedelta(seconds=1))  # pending, not yet started
    assert sweep_run(now=start - timedelta(seconds=1)) == []
    time_machine.move_to(start, tick=False)
    sweep_run(now=start)
    rotation.refresh_from_db()
    old.refresh_from_db()
    new.refresh_from_db()
    assert rotation.state == RotationState.COMPLETED
    assert (new.state, old.state) == (VersionState.CURRENT, VersionState.PREVIOUS)
    assert old.works_at(end - timedelta(seconds=1)) and new.works_at(end - timedelta(seconds=1))
    assert not old.works_at(end) and new.works_at(end)


def test_it_retires_the_old_at_the_start_without_an_overlap(cred, alice, now):
    old = versions(cred)[VersionState.CURRENT]
    start = now + timedelta(hours=5)
    rotation_schedule(credential=cred, material=material_for(cred.kind), actor=alice,
                      starts_at=start, now=now)
    sweep_run(now=start)
    old.refresh_from_db()
    assert old.state == VersionState.RETIRED
    assert not old.works_at(start)


def test_it_cancels_a_scheduled_rotation_and_changes_nothing(cred, alice, now):
    before = list(cred.versions.filter(state=VersionState.CURRENT).values_list("pk", "state"))
    rotation = rotation_schedule(credential=cred, material=material_for(cred.kind), actor=alice,
                                 starts_at=now + timedelta(days=1), now=now)
    rotation_cancel(rotation=rotation, actor=alice, now=now)
    rotation.refresh_from_db()
    assert rotation.state == RotationState.CANCELLED
    assert list(cred.versions.filter(state=VersionState.CURRENT).values_list(
        "pk", "state")) == before
    assert not rotation.to_version.works_at(now + timedelta(days=2))
    annotated = with_status(type(cred).objects.filter(pk=cred.pk)).get()
    assert Badge.ROTATION_SCHEDULED not in credential_badges(annotated, now)
    sweep_run(now=now + timedelta(days=2))  # the cancelled rotation never runs
    assert cred.versions.get(state=VersionState.CURRENT).pk == before[0][0]
    assert AuditEvent.objects.filter(action="rotation.cancel").count() == 1
    with pytest.raises(RotationError, match="no longer scheduled"):
        rotation_cancel(rotation=rotation, actor=alice, now=now)


def test_it_refuses_a_second_rotation_while_one_is_pending(cred, alice, now):
    rotation_schedule(credential=cred, material=material_for(cred.kind), actor=alice,
                      starts_at=now + timedelta(days=1), now=now)
    count = CredentialVersion.objects.count()
    with pytest.raises(RotationError, match="already scheduled"):
        rotation_rotate_now(credential=cred, material=material_for(cred.kind), actor=alice,
                            now=now)
    with pytest.raises(RotationError, match="already scheduled"):
        rotation_schedule(credential=cred, material=material_for(cred.kind), actor=alice,
                          starts_at=now + timedelta(days=3), now=now)
    assert CredentialVersion.objects.count() == count


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [(timedelta(hours=-1), None, "starts_at"), (timedelta(hours=2), timedelta(hours=1),
                                                 "overlap_ends_at")],
)
def test_it_refuses_impossible_times_naming_the_field(cred, alice, now, start, end, field):
    with pytest.raises(RotationError) as refused:
        rotation_schedule(credential=cred, material=material_for(cred.kind), actor=alice,
                          starts_at=now + start, overlap_ends_at=end and now + end, now=now)
    assert refused.value.field == field
    assert not Rotation.objects.exists()


def test_it_swaps_the_connections_to_another_credential(cred, unit, alice, now):
    spare = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice, now=now)
    connection = Connection.objects.get(credential=cred)
    start = now + timedelta(hours=1)
    rotation_schedule(credential=cred, replacement=spare, actor=alice, starts_at=start,
                      overlap_ends_at=start + timedelta(days=1), now=now)
    sweep_run(now=start)
    connection.refresh_from_db()
    assert connection.credential == spare
    old = cred.versions.get()
    assert old.works_at(start + timedelta(hours=23)) and not old.works_at(start + timedelta(days=1))
    annotated = with_status(type(cred).objects.filter(pk__in=[cred.pk, spare.pk]))
    badges = {c.pk: credential_badges(c, start) for c in annotated}
    assert Badge.INACTIVE in badges[cred.pk] and Badge.ACTIVE in badges[spare.pk]


def test_it_refuses_to_swap_to_a_credential_of_another_kind(cred, unit, alice, now):
    other = make_credential(unit, Kind.SFTP_KEY, actor=alice, now=now)
    with pytest.raises(RotationError) as refused:
        rotation_schedule(credential=cred, replacement=other, actor=alice,
                          starts_at=now + timedelta(hours=1), now=now)
    assert refused.value.field == "replacement"


def test_it_refuses_rotation_to_users_without_the_permission(cred, vic, rita, now):
    from django.core.exceptions import PermissionDenied

    for user in (vic, rita):
        with pytest.raises(PermissionDenied):
            rotation_rotate_now(credential=cred, material=material_for(cred.kind), actor=user,
                                now=now)
    assert cred.versions.count() == 1


# --- Failure at each step ------------------------------------------------------------------


def _assert_failed_safely(cred, old, reason_part):
    rotation = Rotation.objects.get(credential=cred)
    assert rotation.state == RotationState.FAILED
    assert reason_part in rotation.failure_reason
    old.refresh_from_db()
    assert old.state == VersionState.CURRENT and old.works_at(timezone.now())
    assert CredentialVersion.objects.filter(pk=rotation.to_version_id).exists()  # kept
    assert not rotation.to_version.works_at(timezone.now())
    assert AuditEvent.objects.filter(action="rotation.fail").count() == 1
    # One message per recipient: the owner's copy.
    owners = [m for m in mail.outbox if m.to == ["alice@example.com"]]
    assert [m.subject for m in owners] == [f"[Keyturn] Rotation failed: {cred.name}"]
    assert rotation.failure_reason in owners[0].body
    return rotation


def _schedule_and_run(cred, alice, now, start):
    rotation_schedule(credential=cred, material=material_for(cred.kind), actor=alice,
                      starts_at=start, now=now)
    sweep_run(now=start)


def test_it_fails_safely_when_the_new_secret_cannot_be_decrypted(
    cred, alice, now, django_capture_on_commit_callbacks
):
    old = cred.versions.get()
    start = now + timedelta(hours=1)
    rotation = rotation_schedule(credential=cred, material=material_for(cred.kind),
                                 actor=alice, starts_at=start, now=now)
    CredentialVersion.objects.filter(pk=rotation.to_version_id).update(
        secret_ciphertext=old.secret_ciphertext)  # bound to another row: fails its check
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sweep_run(now=start)
    assert callbacks
    _assert_failed_safely(cred, old, "could not be decrypted")


def test_it_fails_safely_when_the_switch_fails_and_can_be_retried(
    cred, alice, now, django_capture_on_commit_callbacks
):
    old = cred.versions.get()
    start = now + timedelta(hours=1)
    with switch_fails(DatabaseError("deadlock")), \
            django_capture_on_commit_callbacks(execute=True):
        _schedule_and_run(cred, alice, now, start)
    rotation = _assert_failed_safely(cred, old, "database refused the switch")
    assert "deadlock" not in rotation.failure_reason
    with django_capture_on_commit_callbacks(execute=True):
        retried = rotation_retry(rotation=rotation, actor=alice, now=start)
    assert retried.state == RotationState.COMPLETED
    old.refresh_from_db()
    assert old.state == VersionState.RETIRED
    assert cred.versions.get(state=VersionState.CURRENT).pk == rotation.to_version_id
    assert mail.outbox[-1].subject == f"[Keyturn] Rotation complete: {cred.name}"


def test_it_fails_safely_when_the_audit_event_cannot_be_written(
    cred, alice, now, django_capture_on_commit_callbacks
):
    old = cred.versions.get()
    real = engine.audit_record

    def audit_unless_complete(**kwargs):
        if kwargs["action"] == "rotation.complete":
            raise DatabaseError("audit table unavailable")
        return real(**kwargs)

    real_many = engine.audit_record_many

    def many_unless_complete(events):
        if any(event["action"] == "rotation.complete" for event in events):
            raise DatabaseError("audit table unavailable")
        return real_many(events)

    with mock.patch.object(engine, "audit_record", side_effect=audit_unless_complete), \
            mock.patch.object(engine, "audit_record_many", side_effect=many_unless_complete), \
            django_capture_on_commit_callbacks(execute=True):
        _schedule_and_run(cred, alice, now, now + timedelta(hours=1))
    _assert_failed_safely(cred, old, "nothing was changed")


def test_it_fails_safely_when_the_new_certificate_has_expired_by_the_time_it_runs(
    unit, alice, now, time_machine, django_capture_on_commit_callbacks
):
    cred = make_credential(unit, Kind.AS2_CERTIFICATE, actor=alice, now=now)
    old = cred.versions.get()
    with pytest.raises(RotationError) as refused:  # refused at once when foreseeable
        rotation_schedule(credential=cred, material=material_for(cred.kind, now=now),
                          actor=alice, starts_at=now + timedelta(days=400), now=now)
    assert refused.value.field == "certificate"
    rotation_schedule(credential=cred, material=material_for(cred.kind, now=now), actor=alice,
                      starts_at=now + timedelta(days=300), now=now)
    late = now + timedelta(days=400)  # the workers were down past the new certificate's end
    time_machine.move_to(late, tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        sweep_run(now=late)
    rotation = Rotation.objects.get(credential=cred)
    assert rotation.state == RotationState.FAILED
    assert "already expired" in rotation.failure_reason
    old.refresh_from_db()
    assert old.state == VersionState.CURRENT


def test_it_raises_a_readable_error_when_an_immediate_rotation_fails(cred, alice, now):
    old = cred.versions.get()
    with switch_fails(DatabaseError("boom")), \
            pytest.raises(RotationError, match="current credential still works"):
        rotation_rotate_now(credential=cred, material=material_for(cred.kind), actor=alice,
                            now=now)
    old.refresh_from_db()
    assert old.state == VersionState.CURRENT
    assert Rotation.objects.get().state == RotationState.FAILED


def test_it_resumes_a_rotation_left_running_by_a_killed_worker(cred, alice, now):
    old = cred.versions.get()
    start = now + timedelta(hours=1)
    rotation = rotation_schedule(credential=cred, material=material_for(cred.kind),
                                 actor=alice, starts_at=start, now=now)
    # A worker claimed it and died before its switch committed.
    Rotation.objects.filter(pk=rotation.pk).update(state=RotationState.RUNNING,
                                                   claimed_at=start, attempts=1)
    assert sweep_run(now=start + timedelta(minutes=5)) == []  # maybe still running: leave it
    old.refresh_from_db()
    assert old.state == VersionState.CURRENT
    actions = sweep_run(now=start + engine.RUNNING_DEADLINE + timedelta(seconds=1))
    assert any("resumed stuck rotation" in a for a in actions)
    rotation.refresh_from_db()
    assert rotation.state == RotationState.COMPLETED and rotation.attempts == 2
    assert cred.versions.get(state=VersionState.CURRENT).pk == rotation.to_version_id


def test_it_keeps_the_secret_out_of_failure_reasons_and_emails(
    cred, alice, now, django_capture_on_commit_callbacks
):
    material = material_for(cred.kind)
    start = now + timedelta(hours=1)
    with switch_fails(DatabaseError(material.secret)), \
            django_capture_on_commit_callbacks(execute=True):
        rotation_schedule(credential=cred, material=material, actor=alice, starts_at=start,
                          now=now)
        sweep_run(now=start)
    rotation = Rotation.objects.get()
    assert material.secret not in rotation.failure_reason
    assert all(material.secret not in str(e.details) for e in AuditEvent.objects.all())
    assert material.secret not in mail.outbox[0].body
    assert material.secret not in mail.outbox[0].alternatives[0][0]
    assert version_secret(CredentialVersion.objects.get(pk=rotation.to_version_id)) == (
        material.secret)  # kept for the retry


def test_it_never_runs_a_scheduled_rotation_or_retry_on_a_deactivated_credential(
    cred, alice, now, django_capture_on_commit_callbacks
):
    from credentials.services import credential_set_active

    start = now + timedelta(hours=1)
    rotation = rotation_schedule(credential=cred, material=material_for(cred.kind),
                                 actor=alice, starts_at=start, now=now)
    credential_set_active(credential=cred, active=False, actor=alice)
    with django_capture_on_commit_callbacks(execute=True):
        sweep_run(now=start)
    rotation.refresh_from_db()
    assert rotation.state == RotationState.FAILED
    assert "deactivated" in rotation.failure_reason
    assert cred.versions.get(state=VersionState.CURRENT).number == 1
    with pytest.raises(RotationError, match="deactivated"):
        rotation_retry(rotation=rotation, actor=alice, now=start)


def test_it_logs_where_a_rotation_failed_but_never_the_exception_text(cred, alice, now):
    import logging

    material = material_for(cred.kind)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("credentials.rotation.engine").addHandler(handler)
    try:
        failing = DatabaseError(material.secret)
        with switch_fails(failing):
            rotation_schedule(credential=cred, material=material, actor=alice,
                              starts_at=now + timedelta(hours=1), now=now)
            sweep_run(now=now + timedelta(hours=1))
    finally:
        logging.getLogger("credentials.rotation.engine").removeHandler(handler)
    logged = "\n".join(handler.format(record) for record in records)
    assert "DatabaseError" in logged and "switch_versions" in logged  # where, and what kind
    assert material.secret not in logged


def test_it_regenerates_a_certificate_with_the_same_common_name(unit, alice, now):
    from credentials import crypto

    cert_pem, key_pem = crypto.generate_self_signed_certificate(
        "edi.partner.example", days=20, now=now)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = crypto.serialization.load_pem_private_key(key_pem.encode(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edi.partner.example"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Partner")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=20))
            .sign(key, hashes.SHA256()))
    from credentials.kinds import as2_certificate
    from credentials.services import credential_create

    credential = credential_create(
        business_unit=unit, kind=Kind.AS2_CERTIFICATE, name="EDI", actor=alice, valid_until=None,
        material=as2_certificate.material(certificate=cert.public_bytes(
            crypto.serialization.Encoding.PEM).decode(), private_key=key_pem), now=now)
    assert credential.versions.get().cert_subject.startswith("O=Partner")  # RFC 4514 order
    new = credential.kind_spec.generate(current=credential.versions.get(), name=credential.name,
                                        days=credential.lifetime_days, now=now)
    assert new.certificate.subject == "CN=edi.partner.example"


def test_it_numbers_a_version_when_it_goes_live_never_when_it_is_withdrawn(cred, alice, now):
    rotation = rotation_schedule(credential=cred, material=material_for(cred.kind),
                                 actor=alice, starts_at=now + timedelta(hours=1), now=now)
    assert rotation.to_version.number is None  # pending: not live yet
    rotation_cancel(rotation=rotation, actor=alice, now=now)
    withdrawn = CredentialVersion.objects.get(pk=rotation.to_version_id)
    assert (withdrawn.state, withdrawn.number) == (VersionState.UNUSED, None)
    assert not withdrawn.works_at(now + timedelta(hours=2))

    with switch_fails(DatabaseError("boom")), \
            pytest.raises(RotationError):
        rotation_rotate_now(credential=cred, material=material_for(cred.kind), actor=alice,
                            now=now)
    failed = Rotation.objects.get(state=RotationState.FAILED)
    assert failed.to_version.state == VersionState.UNUSED and failed.to_version.number is None
    retried = rotation_retry(rotation=failed, actor=alice, now=now + timedelta(minutes=5))
    assert retried.state == RotationState.COMPLETED
    assert cred.versions.get(state=VersionState.CURRENT).number == 2  # no gap
    assert sorted(cred.versions.values_list("number", flat=True), key=repr) == [1, 2, None]


def test_it_takes_a_scheduled_start_to_the_second_and_lifts_it_if_cancelled_or_failed(
    cred, alice, now
):
    second = timedelta(seconds=1)
    old = versions(cred)[VersionState.CURRENT]
    start = now + timedelta(hours=1)
    rotation = rotation_schedule(credential=cred, material=material_for(cred.kind),
                                 actor=alice, starts_at=start, now=now)
    old.refresh_from_db()
    new = rotation.to_version
    assert old.works_at(start - second) and not new.works_at(start - second)
    assert not old.works_at(start) and new.works_at(start)  # no job has run
    rotation_cancel(rotation=rotation, actor=alice, now=start + second)
    old.refresh_from_db()
    assert old.works_at(start + 2 * second)  # cancelled: the old one works again

    later = start + timedelta(hours=1)
    end = later + timedelta(hours=1)
    rotation = rotation_schedule(credential=cred, material=material_for(cred.kind),
                                 actor=alice, starts_at=later, overlap_ends_at=end, now=start)
    old.refresh_from_db()
    assert old.works_at(end - second) and not old.works_at(end)  # with an overlap: its end
    with switch_fails(DatabaseError("boom")):
        sweep_run(now=end + second)
    rotation.refresh_from_db()
    old.refresh_from_db()
    assert rotation.state == RotationState.FAILED
    assert old.state == VersionState.CURRENT and old.works_at(end + 2 * second)


def test_it_stops_a_version_still_in_an_earlier_overlap_at_the_next_scheduled_start(
    cred, alice, now
):
    first = versions(cred)[VersionState.CURRENT]
    rotation_rotate_now(credential=cred, material=material_for(cred.kind), actor=alice,
                        overlap_ends_at=now + timedelta(days=3), now=now)
    start = now + timedelta(days=1)
    rotation_schedule(credential=cred, material=material_for(cred.kind), actor=alice,
                      starts_at=start, overlap_ends_at=start + timedelta(hours=2), now=now)
    first.refresh_from_db()
    assert first.state == VersionState.PREVIOUS
    assert first.works_at(start - timedelta(seconds=1)) and not first.works_at(start)
    sweep_run(now=start + timedelta(seconds=40))  # the job comes a little later
    first.refresh_from_db()
    assert (first.state, first.retired_at) == (VersionState.RETIRED, start)


def test_it_refuses_to_rotate_now_inside_a_transaction_it_does_not_own(cred, alice, now):
    """Its failure must outlive the caller's rollback: callers pass `with_switch` instead."""
    from django.db import transaction

    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        rotation_rotate_now(credential=cred, material=material_for(cred.kind), actor=alice,
                            now=now)
    assert cred.versions.count() == 1 and not Rotation.objects.exists()


def test_it_switches_only_between_the_sftp_kinds(cred, alice, now):
    with pytest.raises(RotationError, match="not a SFTP password"):
        rotation_rotate_now(credential=cred, material=material_for(Kind.API_CLIENT_SECRET),
                            actor=alice, now=now)
    rotation = rotation_rotate_now(credential=cred, material=material_for(Kind.SFTP_KEY),
                                   actor=alice, now=now)
    cred.refresh_from_db()
    assert (rotation.to_kind, cred.kind) == (Kind.SFTP_KEY, Kind.SFTP_KEY)
    assert AuditEvent.objects.get(action="rotation.complete").details["kind"] == {
        "from": Kind.SFTP_PASSWORD, "to": Kind.SFTP_KEY}
