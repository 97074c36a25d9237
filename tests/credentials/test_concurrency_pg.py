"""Several processes sweep the same due work at the same moment on PostgreSQL: they wait at a
barrier until every one is ready, and each race test checks, from the claims the workers lost,
that they really did go for the same items at once. A worker is killed in the middle of a
rotation, and another between a commit and the email it calls for."""

import json
import os
import select
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from credentials.models import Kind, Rotation, RotationState, VersionState
from credentials.rotation import engine
from credentials.rotation.requests import rotation_schedule
from credentials.sweep import sweep_run
from notifications.models import Notification, NotificationState
from tests.factories import make_connection, make_credential, make_org, make_user, material_for
from tests.helpers import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4

# The sweep as a worker runs it. Once Django is loaded and connected it says "ready" and
# waits for "go" on stdin, so that every worker starts sweeping at the same moment however
# long each took to start. It reports what it did, and each claim it tried with how many rows
# it tried for and won: a batch's rotations' conditional UPDATE, a batch's email rows (their
# unique constraints decide), a batch's email sends' conditional UPDATE. A claim that won
# fewer rows than it went for is the proof that workers raced for the same items.
SWEEPER = """
import json, sys, datetime
import django
django.setup()
from django.db import connection
from credentials.models import Rotation
from credentials.sweep import sweep_run
from notifications.models import Notification

ROTATION, EMAIL = Rotation._meta.db_table, Notification._meta.db_table
claims = []

def rows_in(sql, params):
    if params and isinstance(params[0], (list, tuple)):  # INSERT ... FROM UNNEST(arrays)
        return len(params[0])
    return sql.count("), (") + 1

def record_claims(execute, sql, params, many, context):
    where = sql.partition(" WHERE ")[2]
    result = execute(sql, params, many, context)
    won = context["cursor"].rowcount
    if sql.startswith(f'INSERT INTO "{EMAIL}"'):
        claims.append(["email row", rows_in(sql, params), won])
    elif sql.startswith(f'UPDATE "{ROTATION}"') and '"state"' in where:
        claims.append(["rotation", None, won])
    elif sql.startswith(f'UPDATE "{EMAIL}"') and '"claimed_at"' in where:
        claims.append(["email send", None, won])
    return result

connection.ensure_connection()
print("ready", flush=True)
sys.stdin.readline()
with connection.execute_wrapper(record_claims):
    actions = sweep_run(now=datetime.datetime.fromisoformat(sys.argv[1]))
print(json.dumps({"actions": actions, "claims": claims}), flush=True)
"""
# Small batches, so that a pass is several batches and the workers race batch by batch.
BATCH_SIZE = "5"


def _database_url() -> str:
    s = connection.settings_dict
    user, host, port = s["USER"] or "postgres", s["HOST"] or "127.0.0.1", s["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


def _env(mail_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="config.settings", KEYTURN_ENV_FILE="",
               DATABASE_URL=_database_url(), EMAIL_URL=f"filemail://{mail_dir}",
               SECRET_KEY=os.environ["SECRET_KEY"],
               KEYTURN_ENCRYPTION_KEYS=os.environ["KEYTURN_ENCRYPTION_KEYS"],
               KEYTURN_HMAC_KEY=os.environ["KEYTURN_HMAC_KEY"], LOG_LEVEL="ERROR",
               KEYTURN_SWEEP_BATCH_SIZE=BATCH_SIZE)
    return env


def _sweepers(now: datetime, mail_dir: Path, count: int) -> list[subprocess.Popen]:
    """`count` workers sweeping at `now`, released together once every one is ready."""
    workers = [subprocess.Popen([sys.executable, "-c", SWEEPER, now.isoformat()], cwd=ROOT,
                                env=_env(mail_dir), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(count)]
    deadline = time.monotonic() + 60
    for worker in workers:  # the barrier: wait (bounded) until each has said "ready"
        ready, _, _ = select.select([worker.stdout], [], [], max(0, deadline - time.monotonic()))
        line = worker.stdout.readline() if ready else ""
        assert line == "ready\n", (line, worker.poll())
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    return workers


def _race(now: datetime, mail_dir: Path) -> list[dict]:
    """Runs WORKERS sweeps at once, each batch after batch; returns each worker's report."""
    workers = _sweepers(now, mail_dir, WORKERS)
    outputs = [worker.communicate(timeout=120) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in outputs]
    return [json.loads(out) for out, _ in outputs]


def _claims(reports: list[dict], what: str) -> tuple[int, int]:
    """How many items of `what` the workers won, and how many claims they lost: rows they
    went for and did not get (or, for a conditional UPDATE, which cannot say how many rows
    it went for, claims that got none)."""
    claims = [(tried, won) for report in reports for kind, tried, won in report["claims"]
              if kind == what]
    lost = sum(tried - won if tried is not None else int(won == 0) for tried, won in claims)
    return sum(won for _, won in claims), lost


def _subjects(mail_dir: Path, to: str) -> list[str]:
    """The subjects of the emails written to `mail_dir` for `to` (each recipient gets a
    message of their own)."""
    subjects = []
    for path in mail_dir.iterdir():
        # Django's file backend writes the messages of one connection into one file, each
        # followed by a line of 79 dashes.
        for text in path.read_text().split("-" * 79):
            lines = text.splitlines()
            if f"To: {to}" in lines:
                subjects += [line.split(": ", 1)[1].split(":")[0]
                             for line in lines if line.startswith("Subject: ")]
    return subjects


def test_it_does_every_due_thing_exactly_once_with_workers_racing(tmp_path):
    org = make_org("race")
    unit = org.business_units.get()
    owner = make_user("race-owner", org, "owner")
    now = timezone.now()
    rotations = []
    for _ in range(8):
        credential = make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=90),
                                     actor=owner, now=now - timedelta(days=1))
        make_connection(credential, owner)
        rotations.append(rotation_schedule(
            credential=credential, material=material_for(credential.kind), actor=owner,
            starts_at=now - timedelta(minutes=1), now=now - timedelta(hours=1)))
    for _ in range(8):
        make_credential(unit, Kind.API_CLIENT_SECRET, valid_until=now + timedelta(days=20),
                        actor=owner, now=now - timedelta(days=160))
    for _ in range(8):
        make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=5), actor=owner,
                        now=now - timedelta(days=1))

    reports = _race(now, tmp_path)
    assert sum(len(report["actions"]) for report in reports) == 8 + 8 + 16, reports

    assert AuditEvent.objects.filter(action="rotation.complete").count() == 8
    for rotation in rotations:
        rotation.refresh_from_db()
        assert (rotation.state, rotation.attempts) == (RotationState.COMPLETED, 1)
    assert AuditEvent.objects.filter(action="rotation.prepare").count() == 8
    assert Notification.objects.filter(state=NotificationState.SENT).count() == 24
    subjects = sorted(_subjects(tmp_path, owner.email))
    assert subjects == sorted(["[Keyturn] Rotation complete"] * 8
                              + ["[Keyturn] New credentials ready"] * 8
                              + ["[Keyturn] Urgent reminder"] * 8)
    # The race happened: workers went for the same rotation at once, and the losers found it
    # taken. (Workers one after another would lose no claim.) A reminder row is lost only by
    # a worker that read it as due before another inserted it, which timing alone cannot
    # promise on every run: test_sweep_batches makes that stale read on purpose.
    rotations_won, rotations_lost = _claims(reports, "rotation")
    assert rotations_won == 8 and rotations_lost >= 1
    rows_won, _rows_lost = _claims(reports, "email row")  # 16 reminders, 8 "Rotation complete"
    assert rows_won == 24


def test_it_retries_each_failed_email_once_with_workers_racing(tmp_path, settings):
    org = make_org("retry")
    unit = org.business_units.get()
    owner = make_user("retry-owner", org, "owner")
    now = timezone.now()
    for _ in range(8):
        make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=5), actor=owner,
                        now=now - timedelta(days=1))
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # the server is down
    sweep_run(now=now)
    failed = dict(Notification.objects.filter(state=NotificationState.FAILED)
                  .values_list("pk", "attempts"))
    assert len(failed) == 8

    reports = _race(now + timedelta(minutes=1), tmp_path)
    assert sum(len(report["actions"]) for report in reports) == 8, reports
    assert sorted(_subjects(tmp_path, owner.email)) == ["[Keyturn] Urgent reminder"] * 8
    assert dict(Notification.objects.filter(state=NotificationState.SENT)
                .values_list("pk", "attempts")) == {pk: n + 1 for pk, n in failed.items()}
    sends_won, sends_lost = _claims(reports, "email send")
    assert sends_won == 8 and sends_lost >= 1  # the workers raced for the same emails


def _backend_pid_waiting_for_lock(dsn: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as probe:
        while time.monotonic() < deadline:
            row = probe.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()").fetchone()
            if row:
                return row[0]
            time.sleep(0.05)  # polling another process, not moving test time
    raise AssertionError("the worker never reached the locked row")


def test_it_finishes_a_rotation_whose_worker_was_killed_mid_switch(tmp_path):
    org = make_org("killed")
    unit = org.business_units.get()
    owner = make_user("killed-owner", org, "owner")
    now = timezone.now()
    credential = make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=90),
                                 actor=owner, now=now - timedelta(days=1))
    old = credential.versions.get()
    rotation = rotation_schedule(credential=credential, material=material_for(credential.kind),
                                 actor=owner, starts_at=now - timedelta(minutes=1),
                                 now=now - timedelta(hours=1))
    dsn = _database_url().replace("postgres://", "postgresql://")
    # Hold the old version's row: the worker claims the rotation, starts its switch
    # transaction, locks the credential, and then waits here, mid-switch.
    with psycopg.connect(dsn) as holder:
        holder.execute("SELECT 1 FROM credentials_credentialversion WHERE id = %s FOR UPDATE",
                       [old.pk])
        worker = _sweepers(now, tmp_path, 1)[0]
        _backend_pid_waiting_for_lock(dsn)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        holder.rollback()

    rotation.refresh_from_db()
    old.refresh_from_db()
    assert rotation.state == RotationState.RUNNING
    assert old.state == VersionState.CURRENT  # the switch rolled back with the worker
    assert credential.versions.filter(state=VersionState.CURRENT).count() == 1

    assert sweep_run(now=now + timedelta(minutes=1)) == []  # not yet past the deadline
    sweep_run(now=now + engine.RUNNING_DEADLINE + timedelta(seconds=1))
    rotation.refresh_from_db()
    old.refresh_from_db()
    assert rotation.state == RotationState.COMPLETED
    assert old.state == VersionState.RETIRED
    assert credential.versions.get(state=VersionState.CURRENT).pk == rotation.to_version_id
    assert Rotation.objects.filter(credential=credential).count() == 1


# The sweep as a worker runs it, except that the process kills itself with SIGKILL the moment
# the Nth transaction that records rotation emails (a batch's switch) has committed and before
# anything registered to follow that commit runs: no cleanup, no atexit, exactly as `kill -9`
# between the commit and the emails.
KILLED_AFTER_COMMIT = """
import datetime, os, signal, sys
import django
django.setup()
from django.db import transaction
from credentials.sweep import sweep_run

kill_at, seen = int(sys.argv[2]), [0]
real_on_commit = transaction.on_commit

def on_commit(func, using=None, robust=False):
    def after_commit():
        seen[0] += 1
        if seen[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        func()
    real_on_commit(after_commit, using=using, robust=robust)

transaction.on_commit = on_commit
sweep_run(now=datetime.datetime.fromisoformat(sys.argv[1]))
"""


def test_it_sends_the_email_of_a_rotation_whose_worker_died_between_commit_and_send(
    tmp_path, smtp_server
):
    inbox = smtp_server
    org = make_org("outbox")
    unit = org.business_units.get()
    owner = make_user("outbox-owner", org, "owner")
    now = timezone.now()
    rotations = []
    for n in range(25):
        credential = make_credential(unit, Kind.SFTP_PASSWORD, name=f"partner {n:02}",
                                     expires_in=timedelta(days=90), actor=owner,
                                     now=now - timedelta(days=1))
        rotations.append(rotation_schedule(
            credential=credential, material=material_for(credential.kind), actor=owner,
            starts_at=now - timedelta(minutes=1), now=now - timedelta(hours=1)))
    env = _env(tmp_path)
    env["EMAIL_URL"] = f"smtp://127.0.0.1:{inbox.port}"
    env["KEYTURN_SWEEP_BATCH_SIZE"] = "3"  # 9 batches: 3 rotations and their emails each
    worker = subprocess.run([sys.executable, "-c", KILLED_AFTER_COMMIT, now.isoformat(), "3"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    assert Rotation.objects.filter(state=RotationState.COMPLETED).count() == 9
    owners = [message for recipients, message in inbox.messages if recipients == [owner.email]]
    assert len(owners) == 6  # the third batch committed; its emails did not go

    sweep_run(now=now + timedelta(minutes=1))
    sweep_run(now=now + timedelta(minutes=30))  # past every deadline: nothing more to send

    for rotation in rotations:
        rotation.refresh_from_db()
        assert (rotation.state, rotation.attempts) == (RotationState.COMPLETED, 1)
    subjects = sorted(message["Subject"] for recipients, message in inbox.messages
                      if recipients == [owner.email])
    assert subjects == sorted(f"[Keyturn] Rotation complete: partner {n:02}"
                              for n in range(25))
    assert Notification.objects.filter(
        milestone="rotation_complete", state=NotificationState.SENT).count() == 25
