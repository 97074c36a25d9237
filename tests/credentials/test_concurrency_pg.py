"""Several processes sweep the same due work at the same moment on PostgreSQL; a worker is
killed in the middle of a rotation."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from credentials import rotation as rot
from credentials.models import Kind, Rotation, RotationState, VersionState
from credentials.rotation import rotation_schedule
from credentials.sweep import sweep_run
from notifications.models import Notification, NotificationState
from tests.factories import make_connection, make_credential, make_org, make_user, material_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4

SWEEPER = """
import os, sys, time, datetime
import django
django.setup()
from credentials.sweep import sweep_run
now = datetime.datetime.fromisoformat(sys.argv[1])
start_at = float(sys.argv[2])
while time.time() < start_at:
    time.sleep(0.005)
actions = sweep_run(now=now)
print(len(actions))
sys.stderr.write(" | ".join(actions))
"""


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
               KEYTURN_HMAC_KEY=os.environ["KEYTURN_HMAC_KEY"], LOG_LEVEL="ERROR")
    return env


def _sweepers(now, mail_dir, count):
    start_at = time.time() + 3  # all start together, once their Django is loaded
    return [subprocess.Popen([sys.executable, "-c", SWEEPER, now.isoformat(), str(start_at)],
                             cwd=ROOT, env=_env(mail_dir), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(count)]


def _subjects(mail_dir: Path) -> list[str]:
    subjects = []
    for path in mail_dir.iterdir():
        subjects += [line.split(": ", 1)[1].split(":")[0]
                     for line in path.read_text().splitlines() if line.startswith("Subject: ")]
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

    processes = _sweepers(now, tmp_path, WORKERS)
    results = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err for _, err in results]
    assert sum(int(out.strip()) for out, _ in results) == 8 + 8 + 16, [e for _, e in results]

    assert AuditEvent.objects.filter(action="rotation.complete").count() == 8
    for rotation in rotations:
        rotation.refresh_from_db()
        assert (rotation.state, rotation.attempts) == (RotationState.COMPLETED, 1)
    assert AuditEvent.objects.filter(action="rotation.prepare").count() == 8
    assert Notification.objects.filter(state=NotificationState.SENT).count() == 24
    subjects = sorted(_subjects(tmp_path))
    assert subjects == sorted(["[Keyturn] Rotation complete"] * 8
                              + ["[Keyturn] New credentials ready"] * 8
                              + ["[Keyturn] Urgent reminder"] * 8)


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
    sweep_run(now=now + rot.RUNNING_DEADLINE + timedelta(seconds=1))
    rotation.refresh_from_db()
    old.refresh_from_db()
    assert rotation.state == RotationState.COMPLETED
    assert old.state == VersionState.RETIRED
    assert credential.versions.get(state=VersionState.CURRENT).pk == rotation.to_version_id
    assert Rotation.objects.filter(credential=credential).count() == 1


# The sweep as a worker runs it, except that the process kills itself with SIGKILL the moment
# the Nth transaction has committed and before anything registered to follow that commit
# runs: no cleanup, no atexit, exactly as `kill -9` between the commit and the email.
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
    worker = subprocess.run([sys.executable, "-c", KILLED_AFTER_COMMIT, now.isoformat(), "7"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    assert Rotation.objects.filter(state=RotationState.COMPLETED).count() == 7
    assert len(inbox.messages) == 6  # the seventh rotation committed; its email did not go

    sweep_run(now=now + timedelta(minutes=1))
    sweep_run(now=now + timedelta(minutes=30))  # past every deadline: nothing more to send

    for rotation in rotations:
        rotation.refresh_from_db()
        assert (rotation.state, rotation.attempts) == (RotationState.COMPLETED, 1)
    subjects = sorted(message["Subject"] for _, message in inbox.messages)
    assert subjects == sorted(f"[Keyturn] Rotation complete: partner {n:02}"
                              for n in range(25))
    assert Notification.objects.filter(
        milestone="rotation_complete", state=NotificationState.SENT).count() == 25
