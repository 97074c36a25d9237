"""The scheduled pass in batches: what it costs per thing done on the bench's mix, the
cluster's share of it (a task per batch), and batches that break or run twice."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from credentials import tasks
from credentials.models import Kind, Rotation, RotationState, VersionState
from credentials.rotation import engine
from credentials.rotation.requests import rotation_schedule
from credentials.sweep import sweep_plan, sweep_run
from notifications import services
from notifications.models import Notification, NotificationState
from organizations.models import BusinessUnit
from tests.factories import make_credential, make_user, material_for

# Issue 13: at most 4 statements per thing done, on average, for the bench's mix.
STATEMENTS_PER_ACTION = 4


@pytest.fixture
def mix(acme, alice, time_machine):
    """bench/sweep's mix, small: units with contacts and owners, a quarter of the due work
    scheduled rotations, a quarter automatic rotations (whose 30-day reminder follows), half
    reminders, among credentials with nothing due."""
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    units = [acme.business_units.get(slug="warehouse")] + [
        BusinessUnit.objects.create(organization=acme, name=f"Unit {n}", slug=f"unit-{n}",
                                    contact_emails=f"unit{n}@acme.example")
        for n in range(4)]
    make_user("owner2", acme, "owner")
    rotations = []
    for n in range(40):
        unit = units[n % len(units)]
        earlier = now - timedelta(days=1)
        if n < 8:  # scheduled rotations, due now
            credential = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice, now=earlier,
                                         expires_in=timedelta(days=90))
            rotations.append(rotation_schedule(
                credential=credential, material=material_for(credential.kind), actor=alice,
                starts_at=now - timedelta(minutes=1), now=earlier))
        elif n < 16:  # automatic rotations, 25 days before expiry
            make_credential(unit, Kind.API_CLIENT_SECRET, actor=alice, now=earlier,
                            valid_until=now + timedelta(days=25))
        elif n < 32:  # reminders
            make_credential(unit, Kind.SFTP_PASSWORD, actor=alice, now=earlier,
                            expires_in=timedelta(days=10))
        else:  # nothing due
            make_credential(unit, Kind.SFTP_PASSWORD, actor=alice, now=earlier,
                            expires_in=timedelta(days=100))
    return now, rotations


def _messages() -> list[tuple[str, str]]:
    return sorted((message.to[0], message.subject) for message in mail.outbox)


def _recipients_of_sent() -> list[tuple[str, str]]:
    """Each recipient of each sent email, with its subject: one message each."""
    return sorted((address, notification.subject)
                  for notification in Notification.objects.filter(state=NotificationState.SENT)
                  for address in notification.recipients.splitlines())


def _pass(now, capture):
    with CaptureQueriesContext(connection) as statements, capture(execute=True):
        actions = sweep_run(now=now)
    return actions, len(statements)


def test_it_spends_at_most_four_statements_per_action_on_the_bench_mix(
    mix, settings, django_capture_on_commit_callbacks
):
    now, rotations = mix
    settings.KEYTURN_SWEEP_BATCH_SIZE = 10  # several batches, as in a large pass
    actions, statements = _pass(now, django_capture_on_commit_callbacks)
    # 8 rotations, 8 automatic rotations prepared, 8 + 16 reminders (and 8 rotation emails,
    # which the bench does not count as actions either).
    assert len(actions) == 40, actions
    assert statements / len(actions) <= STATEMENTS_PER_ACTION, statements
    assert Rotation.objects.filter(state=RotationState.COMPLETED).count() == 8
    assert Notification.objects.filter(state=NotificationState.SENT).count() == 32
    assert _messages() == _recipients_of_sent()
    assert sorted({m.subject.split(":")[0] for m in mail.outbox}) == [
        "[Keyturn] New credentials ready", "[Keyturn] Reminder",
        "[Keyturn] Rotation complete"]
    assert AuditEvent.objects.filter(action="rotation.complete").count() == 8
    assert AuditEvent.objects.filter(action="rotation.prepare").count() == 8
    assert _pass(now + timedelta(minutes=1), django_capture_on_commit_callbacks) == ([], 1)


def test_it_hands_each_batch_to_the_cluster_and_does_each_thing_once_however_often_it_runs(
    mix, settings, time_machine, django_capture_on_commit_callbacks
):
    now, rotations = mix
    settings.KEYTURN_SWEEP_BATCH_SIZE = 7
    with mock.patch("credentials.sweep.async_task") as async_task:
        assert tasks.sweep() == 5  # 32 credentials with due work
    handed = [call.args for call in async_task.call_args_list]
    assert {func for func, _ in handed} == {"credentials.tasks.sweep_batch"}
    assert len({call.kwargs["group"] for call in async_task.call_args_list}) == 1
    assert sum(len(set().union(*batch.values())) for _, batch in handed) == 32
    # A broker may deliver a task twice, and two clusters plan the same pass: each batch
    # runs twice here, and each thing is still done once.
    with django_capture_on_commit_callbacks(execute=True):
        done = [tasks.sweep_batch(batch) for _, batch in handed + handed]
    assert sum(done) == 40
    assert Rotation.objects.filter(state=RotationState.COMPLETED, attempts=1).count() == 8
    assert Notification.objects.filter(state=NotificationState.SENT).count() == 32
    assert _messages() == _recipients_of_sent()  # each recipient's copy once
    assert sweep_plan(now=now + timedelta(minutes=1)) == []


def test_it_fails_only_the_broken_rotation_of_a_batch(
    mix, django_capture_on_commit_callbacks
):
    now, rotations = mix
    broken = rotations[3]
    broken.to_version.__class__.objects.filter(pk=broken.to_version_id).update(
        secret_ciphertext=rotations[4].to_version.secret_ciphertext)  # bound to another row
    with django_capture_on_commit_callbacks(execute=True):
        sweep_run(now=now)
    broken.refresh_from_db()
    assert broken.state == RotationState.FAILED
    assert broken.credential.versions.get(state=VersionState.CURRENT).number == 1
    assert Rotation.objects.filter(state=RotationState.COMPLETED).count() == 7
    subjects = [m.subject for m in mail.outbox]
    assert f"[Keyturn] Rotation failed: {broken.credential.name}" in subjects


def test_it_runs_a_batch_one_by_one_when_its_bulk_switch_fails(
    mix, django_capture_on_commit_callbacks
):
    now, rotations = mix
    with mock.patch.object(engine, "switch_versions_many",
                           side_effect=DatabaseError("deadlock")), \
            django_capture_on_commit_callbacks(execute=True):
        sweep_run(now=now)
    assert Rotation.objects.filter(state=RotationState.COMPLETED, attempts=1).count() == 8
    assert Notification.objects.filter(milestone="rotation_complete",
                                       state=NotificationState.SENT).count() == 8


def test_it_goes_on_with_the_next_batches_when_one_breaks(
    mix, settings, django_capture_on_commit_callbacks
):
    now, rotations = mix
    settings.KEYTURN_SWEEP_BATCH_SIZE = 4
    real = engine.run_claimed_batch
    calls = []

    def first_breaks(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise DatabaseError("connection lost")
        return real(**kwargs)

    with mock.patch("credentials.rotation.steps.run_claimed_batch", side_effect=first_breaks), \
            django_capture_on_commit_callbacks(execute=True):
        actions = sweep_run(now=now)
    assert "step rotations_run_due failed (DatabaseError)" in actions
    running = Rotation.objects.filter(state=RotationState.RUNNING).count()
    assert running >= 1  # claimed by the broken batch: the pass after the deadline takes them
    assert Rotation.objects.filter(state=RotationState.COMPLETED).count() == 8 - running
    with django_capture_on_commit_callbacks(execute=True):
        sweep_run(now=now + engine.RUNNING_DEADLINE + timedelta(seconds=1))
    assert Rotation.objects.filter(state=RotationState.COMPLETED).count() == 8


def test_it_warms_a_fresh_worker_up_for_the_sweeps_emails(db):
    from django_q.signals import post_spawn

    from notifications.services import emails_warm_up

    answered = post_spawn.send(sender="django_q", proc_name="worker-1")
    assert emails_warm_up in [receiver for receiver, _ in answered]


class Deadlock(Exception):
    sqlstate = "40P01"


calls = []


def deadlocked_once(**kwargs):
    calls.append(kwargs)
    if len(calls) == 1:
        raise DatabaseError("deadlock detected") from Deadlock()
    return ["done"]


def test_it_runs_a_step_again_once_when_it_met_another_pass_in_a_deadlock(db, settings):
    settings.KEYTURN_SWEEP_STEPS = [f"{__name__}.deadlocked_once"]
    calls.clear()
    assert sweep_run() == ["done"] and len(calls) == 2


def test_a_batch_that_read_its_reminders_before_another_sent_them_sends_none_again(
    unit, alice, time_machine, django_capture_on_commit_callbacks
):
    """Two workers read the same due reminders; one inserts their rows and sends them first.
    The other, still holding what it read, loses every row to the unique constraint and
    sends nothing (on PostgreSQL the race tests make this happen by timing, which cannot
    promise it every run; here the late worker's stale read is made on purpose)."""
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    credentials = [make_credential(unit, Kind.SFTP_PASSWORD, actor=alice,
                                   expires_in=timedelta(days=5)) for _ in range(3)]
    ids = [str(c.pk) for c in credentials]
    read_before = list(services._due_versions(now))  # the late worker's read
    assert {str(v.credential_id) for v in read_before} == set(ids)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.reminders_send_due(now=now, credentials=ids)
    assert len(first) == 3
    sent = len(mail.outbox)
    assert sent == 3 * len(Notification.objects.first().recipients.splitlines())
    stale = mock.MagicMock()
    stale.return_value.filter.return_value.select_related.return_value = read_before
    with mock.patch.object(services, "_due_versions", stale), \
            django_capture_on_commit_callbacks(execute=True):
        assert services.reminders_send_due(now=now, credentials=ids) == []
    stale.assert_called_once()  # it did act on its stale read
    assert len(mail.outbox) == sent
    assert Notification.objects.filter(milestone="day_7").count() == 3
