"""The project as a whole: production settings, demo data, and the run command."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from credentials.demo import load_demo_data
from credentials.models import Connection, Credential, Kind
from credentials.status import Badge, credential_badges, with_status
from organizations.models import Membership, User
from organizations.roles import Role

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "SECRET_KEY": "p" * 20 + "roduction-secret-key-that-is-long-and-random-enough-1234",
    "KEYTURN_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "KEYTURN_HMAC_KEY": "an-hmac-key-that-is-long-enough-for-production",
    "ALLOWED_HOSTS": "keyturn.example.com",
    "SITE_URL": "https://keyturn.example.com",
}


def _manage(*args, env_overrides, timeout=60):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEYTURN_", "DJANGO_", "DATABASE_URL", "SECRET_KEY", "DEBUG"))}
    env.update(KEYTURN_ENV_FILE="", DJANGO_SETTINGS_MODULE="config.settings", **env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_it_passes_the_deployment_checklist_with_production_settings(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     env_overrides={**PRODUCTION_ENV, "KEYTURN_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_it_fails_loudly_at_start_without_its_keys(tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "KEYTURN_ENCRYPTION_KEYS"}
    result = _manage("check", env_overrides={**env, "KEYTURN_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "KEYTURN_ENCRYPTION_KEYS" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_it_loads_demo_data_of_every_kind_and_status_idempotently(db):
    load_demo_data()
    counts = (User.objects.count(), Credential.objects.count(), Connection.objects.count())
    call_command("demo_data", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert (User.objects.count(), Credential.objects.count(), Connection.objects.count()) == counts
    assert set(Credential.objects.values_list("kind", flat=True)) == set(Kind.values)
    now = timezone.now()
    seen = {b for c in with_status(Credential.objects.all()) for b in credential_badges(c, now)}
    assert seen == set(Badge)
    assert set(Membership.objects.values_list("role", flat=True)) == set(Role.values)


MANAGE_ACTIONS = {"Rotate Credential", "Change Credential", "Retry Failed Rotation",
                  "Cancel Scheduled Rotation", "Test connection", "Edit", "Deactivate",
                  "Reactivate"}


def test_it_shows_every_manage_action_badge_and_both_time_zones_in_the_demo(db, client):
    load_demo_data()
    client.force_login(User.objects.get(username="owner"))
    actions, badges = set(), set()
    for credential in Credential.objects.filter(business_unit__organization__slug="northwind"):
        html = client.get(f"/o/northwind/credentials/{credential.pk}/").content.decode()
        menu = re.search(r'<ul class="menu-items" aria-label="Manage [^"]*">(.*?)</ul>', html,
                         flags=re.S).group(1)
        actions |= {re.sub(r" “.*”$", "", label) for label in re.findall(r">([^<]+)</a>", menu)}
        badges |= set(re.findall(r'class="badge badge-([a-z_]+)"', html))
    assert actions == MANAGE_ACTIONS
    assert badges == set(Badge.values)
    # A demo user outside UTC sees the rotation banner in their zone and in UTC.
    manager = User.objects.get(username="manager")
    assert manager.time_zone != "UTC"
    client.force_login(manager)
    warranty = Credential.objects.get(name="Warranty API key")
    html = client.get(f"/o/northwind/credentials/{warranty.pk}/").content.decode()
    assert re.search(r"Rotation scheduled</strong> for <time[^>]*>[^<]+ CES?T \([^<]+ UTC\)",
                     html)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)  # polling a real server that is starting, not moving test time
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_it_runs_the_portal_and_the_worker_and_stops_both(tmp_path):
    port, sftp_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEYTURN_", "DJANGO_", "DATABASE_URL", "SECRET_KEY"))}
    env.update(PRODUCTION_ENV, KEYTURN_ENV_FILE="", KEYTURN_HTTPS="false",
               KEYTURN_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings",
               PORT=str(port), ALLOWED_HOSTS="127.0.0.1", WEB_CONCURRENCY="1",
               KEYTURN_SFTP_PORT=str(sftp_port))
    manage = [sys.executable, "manage.py"]
    for args in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([*manage, *args], cwd=ROOT, env=env, check=True, timeout=120)
    runner = subprocess.Popen([sys.executable, "bin/run"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def login_page():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/",
                                            timeout=2) as response:
                    return response.status == 200 and b"Sign in" in response.read()
            except OSError:
                return False

        _wait_for(login_page, 60, "the login page")

        def sftp_banner():
            try:
                with socket.create_connection(("127.0.0.1", sftp_port), timeout=2) as sock:
                    return sock.recv(64).startswith(b"SSH-2.0-")
            except OSError:
                return False

        _wait_for(sftp_banner, 60, "the SFTP endpoint")
        enqueue = ("from django_q.tasks import async_task; "
                   "print(async_task('math.floor', 2.5, task_name='ci-probe'))")
        subprocess.run([*manage, "shell", "-v0", "-c", enqueue], cwd=ROOT, env=env, check=True,
                       timeout=60, capture_output=True)
        probe = ("from django_q.models import Success; "
                 "print([t.result for t in Success.objects.filter(name='ci-probe')])")

        def task_done():
            out = subprocess.run([*manage, "shell", "-v0", "-c", probe], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=60).stdout
            return out.strip() == "[2]"

        _wait_for(task_done, 90, "the worker to process a task")
    finally:
        runner.send_signal(2)  # Ctrl-C
        output = runner.communicate(timeout=30)[0].decode()
    assert runner.returncode == 0, output
    assert "Keyturn is running on" in output
    leftovers = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True)
    assert leftovers.stdout == b""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", sftp_port), timeout=2).close()
