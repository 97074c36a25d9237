"""Time travel through whole credential lives: automatic rotation, reminders, expiry,
downtime, daylight-saving changes and the django-q2 schedule."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command

from audit.models import AuditEvent
from credentials.models import Kind, Rotation, RotationState, VersionState
from credentials.rotation.automatic import version_activate
from credentials.schedules import schedules_install
from credentials.status import Badge, credential_badges, with_status
from credentials.sweep import sweep_run
from notifications.models import Notification
from tests.factories import make_connection, make_credential

DAY0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return DAY0 + timedelta(days=n)


@pytest.fixture
def api_credential(unit, alice, time_machine, django_capture_on_commit_callbacks):
    time_machine.move_to(DAY0, tick=False)
    credential = make_credential(unit, Kind.API_CLIENT_SECRET, actor=alice, now=DAY0)
    make_connection(credential, alice)
    return credential


def sweep_at(time_machine, when, capture):
    time_machine.move_to(when, tick=False)
    with capture(execute=True):
        return sweep_run(now=when)


def owners_copies():
    """Each email goes to each recipient as a message of its own: the owner's copies."""
    return [message for message in mail.outbox if message.to == ["alice@example.com"]]


def subjects():
    return [message.subject.split(":")[0] for message in owners_copies()]


def test_it_walks_an_api_credential_through_automatic_rotation(
    api_credential, time_machine, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    old = api_credential.versions.get()
    assert old.valid_until == day(180)
    assert sweep_at(time_machine, day(149), capture) == []

    sweep_at(time_machine, day(150), capture)
    pending = api_credential.versions.get(state=VersionState.PENDING)
    assert subjects() == ["[Keyturn] New credentials ready"]
    assert pending.valid_until == day(180 + 180)
    assert sweep_at(time_machine, day(150) + timedelta(minutes=1), capture) == []

    # The overlap: both work.
    assert old.works_at(day(160)) and pending.works_at(day(160))
    sweep_at(time_machine, day(166), capture)
    sweep_at(time_machine, day(173), capture)
    assert subjects() == ["[Keyturn] New credentials ready", "[Keyturn] Reminder",
                          "[Keyturn] Urgent reminder"]

    time_machine.move_to(day(175), tick=False)
    with capture(execute=True):
        assert version_activate(version=pending, now=day(175)) is True
        assert version_activate(version=pending, now=day(175)) is False  # exactly once
    old.refresh_from_db()
    pending.refresh_from_db()
    assert (pending.state, old.state) == (VersionState.CURRENT, VersionState.RETIRED)
    assert not old.works_at(day(175) + timedelta(seconds=1))
    assert Rotation.objects.get().state == RotationState.COMPLETED
    assert subjects()[-1] == "[Keyturn] Rotation complete"

    for n in (176, 180, 200, 300):
        sweep_at(time_machine, day(n), capture)
    assert subjects() == ["[Keyturn] New credentials ready", "[Keyturn] Reminder",
                          "[Keyturn] Urgent reminder", "[Keyturn] Rotation complete"]
    assert Notification.objects.filter(version=old).count() == 3


def test_it_lets_the_old_expire_on_its_date_when_the_new_is_never_used(
    api_credential, time_machine, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    old = api_credential.versions.get()
    sweep_at(time_machine, day(150), capture)
    pending = api_credential.versions.get(state=VersionState.PENDING)
    assert old.works_at(day(180) - timedelta(microseconds=1))
    assert not old.works_at(day(180))  # to the second, before any job runs
    sweep_at(time_machine, day(180), capture)
    annotated = with_status(type(api_credential).objects.filter(pk=api_credential.pk)).get()
    assert Badge.EXPIRED in credential_badges(annotated, day(180))
    assert AuditEvent.objects.filter(action="credential.expired").count() == 1
    sweep_at(time_machine, day(181), capture)
    assert AuditEvent.objects.filter(action="credential.expired").count() == 1
    # The new credential still works and activates on its first use, even now.
    assert pending.works_at(day(181))
    assert version_activate(version=pending, now=day(181))


def test_it_sends_one_reminder_after_four_days_of_downtime(
    unit, alice, time_machine, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    time_machine.move_to(DAY0, tick=False)
    credentials = [make_credential(unit, Kind.SFTP_PASSWORD, valid_until=day(40), actor=alice,
                                   now=DAY0) for _ in range(3)]
    sweep_at(time_machine, day(10), capture)  # the 30-day reminders
    assert len(owners_copies()) == 3
    sweep_at(time_machine, day(25), capture)
    # Down from day 25 to day 34: the 14-day (day 26) and 7-day (day 33) milestones passed.
    actions = sweep_at(time_machine, day(34), capture)
    assert len(actions) == 3
    assert all(a.startswith("sent 7 days before expiry for ") for a in actions), actions
    assert len(owners_copies()) == 6
    assert subjects()[3:] == ["[Keyturn] Urgent reminder"] * 3
    for credential in credentials:
        milestones = set(Notification.objects.filter(credential=credential).values_list(
            "milestone", flat=True))
        assert milestones == {"day_30", "day_7"}
    # The last day: the final reminder, once.
    actions = sweep_at(time_machine, day(39), capture)
    assert all(a.startswith("sent 1 day before expiry for ") for a in actions) and len(actions) == 3
    assert sweep_at(time_machine, day(39) + timedelta(minutes=1), capture) == []
    assert subjects()[6:] == ["[Keyturn] Final reminder"] * 3


def test_it_sends_no_reminder_for_a_credential_that_already_expired(
    unit, alice, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(DAY0, tick=False)
    make_credential(unit, Kind.SFTP_PASSWORD, valid_until=day(5), actor=alice, now=DAY0)
    sweep_at(time_machine, day(6), django_capture_on_commit_callbacks)
    assert mail.outbox == []


def test_it_lists_due_work_without_doing_it_on_a_dry_run(api_credential, time_machine, capsys):
    time_machine.move_to(day(150), tick=False)
    call_command("run_due", "--dry-run")
    out = capsys.readouterr().out
    assert "would prepare automatic rotation" in out
    assert "would send 30 days before expiry" in out
    assert api_credential.versions.count() == 1 and mail.outbox == []
    call_command("run_due")
    assert api_credential.versions.count() == 2


def test_it_installs_its_schedules_idempotently(db):
    from django_q.models import Schedule

    schedules_install()
    schedules_install()
    schedule = Schedule.objects.get(name="keyturn-sweep")
    # An interval in UTC, not a wall-clock time: daylight-saving changes cannot skip a pass.
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "credentials.tasks.sweep", Schedule.MINUTES, 1)
    drop = Schedule.objects.get(name="keyturn-import-drop-folder")
    assert drop.func == "imports.tasks.scan_drop_folder"
    assert Schedule.objects.count() == 2
    for name in ("keyturn-sweep", "keyturn-import-drop-folder"):  # the functions exist
        func = Schedule.objects.get(name=name).func
        module, attr = func.rsplit(".", 1)
        assert callable(getattr(__import__(module, fromlist=[attr]), attr))


def test_it_runs_the_sweep_once_after_downtime_not_once_per_missed_minute(
    db, settings, tmp_path, time_machine
):
    """django-q2's scheduler, as Keyturn configures it, after the cluster was down over a
    daylight-saving weekend: one pass now, and the next a minute later, not a burst of the
    5,000 passes missed."""
    from django_q.models import Schedule, Task
    from django_q.scheduler import scheduler

    settings.TIME_ZONE = "Europe/Berlin"  # left summer time on 26 Oct 2025
    settings.KEYTURN_IMPORT_DROP_DIR = tmp_path
    down = datetime(2025, 10, 24, 12, 0, tzinfo=UTC)
    time_machine.move_to(down, tick=False)
    schedules_install()
    Schedule.objects.update(next_run=down)
    back = down + timedelta(days=4)
    time_machine.move_to(back, tick=False)
    scheduler()
    scheduler()  # the cluster's next look at its schedules
    assert Task.objects.filter(func="credentials.tasks.sweep").count() == 1
    sweep = Schedule.objects.get(name="keyturn-sweep")
    assert back < sweep.next_run <= back + timedelta(minutes=1)


def test_it_hands_a_running_task_to_no_second_worker_before_its_timeout(db, time_machine):
    """django-q2 stops a task at `timeout`, and its ORM broker hands a task nobody finished
    to another worker `retry` seconds after a worker took it. Keyturn's settings make the
    second come after the first, so a slow sweep never runs twice at the same time, and
    a killed worker's task still runs again."""
    from django_q.brokers.orm import ORM
    from django_q.conf import Conf

    broker = ORM(list_key="keyturn-test")
    time_machine.move_to(DAY0, tick=False)
    broker.enqueue("a slow sweep")
    taken = DAY0 + timedelta(seconds=1)
    time_machine.move_to(taken, tick=False)
    assert [payload for _, payload in broker.dequeue()] == ["a slow sweep"]
    time_machine.move_to(taken + timedelta(seconds=Conf.TIMEOUT), tick=False)
    assert broker.queue_size() == 0  # still the first worker's until it is stopped
    time_machine.move_to(taken + timedelta(seconds=Conf.RETRY + 1), tick=False)
    assert [payload for _, payload in broker.dequeue()] == ["a slow sweep"]


def test_it_times_reminders_in_utc_across_a_daylight_saving_change(
    unit, alice, time_machine, django_capture_on_commit_callbacks
):
    # Expires 3 Nov 2025 09:00 Berlin time (08:00 UTC); Berlin left summer time on 26 Oct.
    expiry = datetime(2025, 11, 3, 8, 0, tzinfo=UTC)
    time_machine.move_to(expiry - timedelta(days=60), tick=False)
    make_credential(unit, Kind.SFTP_PASSWORD, valid_until=expiry, actor=alice,
                    now=expiry - timedelta(days=60))
    for days_before in (30, 14):
        sweep_at(time_machine, expiry - timedelta(days=days_before),
                 django_capture_on_commit_callbacks)
    sent = len(mail.outbox)
    sweep_at(time_machine, expiry - timedelta(days=7, seconds=1),
             django_capture_on_commit_callbacks)
    assert len(mail.outbox) == sent  # one second early: not yet
    sweep_at(time_machine, expiry - timedelta(days=7), django_capture_on_commit_callbacks)
    assert mail.outbox[-1].subject.startswith("[Keyturn] Urgent reminder")
    assert "3 Nov 2025 08:00 UTC" in mail.outbox[-1].subject


# The plan: one query (a UNION of every step's due work), whatever the number of credentials.
SWEEP_QUERIES = 1


def test_it_counts_a_constant_number_of_queries_when_nothing_is_due(
    unit, alice, django_assert_num_queries, time_machine
):
    time_machine.move_to(DAY0, tick=False)
    with django_assert_num_queries(SWEEP_QUERIES):
        assert sweep_run(now=DAY0) == []
    for _ in range(20):
        make_credential(unit, Kind.API_CLIENT_SECRET, actor=alice, now=DAY0)
    with django_assert_num_queries(SWEEP_QUERIES):
        assert sweep_run(now=day(1)) == []


def broken_step(**kwargs):
    raise RuntimeError("template missing")


def test_it_runs_the_other_steps_when_one_step_fails(api_credential, time_machine, settings):
    time_machine.move_to(day(150), tick=False)
    settings.KEYTURN_SWEEP_STEPS = [
        f"{__name__}.broken_step" if path.endswith(".rotations_run_due") else path
        for path in settings.KEYTURN_SWEEP_STEPS
    ]
    actions = sweep_run(now=day(150))
    assert "step broken_step failed (RuntimeError)" in actions
    assert any("prepared automatic rotation" in a for a in actions)
    assert api_credential.versions.count() == 2
