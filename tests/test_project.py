"""The project as a whole: production settings, demo data, and the run command."""

import base64
import email
import email.policy
import http.cookiejar
import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from credentials.demo import DEMO_PASSWORD, load_demo_data
from credentials.kinds import KINDS
from credentials.models import Connection, Credential
from credentials.status import Badge, credential_badges, with_status
from organizations.models import Membership, User
from organizations.roles import Role
from partners.models import PartnerContact
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
# What the README's Deploying section lists; `check --deploy` must pass with exactly these.
PRODUCTION_ENV = {
    "SECRET_KEY": "p" * 20 + "roduction-secret-key-that-is-long-and-random-enough-1234",
    "KEYTURN_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "KEYTURN_HMAC_KEY": "an-hmac-key-that-is-long-enough-for-production",
    "ALLOWED_HOSTS": "keyturn.example.com",
    "SITE_URL": "https://keyturn.example.com",
    "EMAIL_URL": "smtp+tls://keyturn:app-password@mail.example.com:587",
}
KEY = base64.b64encode(b"k" * 32).decode()


def _manage(*args, env_overrides, timeout=60):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEYTURN_", "DJANGO_", "DATABASE_URL", "SECRET_KEY", "DEBUG",
                                "SITE_URL", "ALLOWED_HOSTS", "EMAIL_URL", "PORT"))}
    env.update(KEYTURN_ENV_FILE="", DJANGO_SETTINGS_MODULE="config.settings", **env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_it_passes_the_deployment_checklist_with_production_settings(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     env_overrides={**PRODUCTION_ENV, "KEYTURN_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_it_documents_every_production_variable():
    readme = (ROOT / "README.md").read_text()
    deploying = readme[readme.index("\n## Deploying"):]
    example = (ROOT / ".env.example").read_text()
    for name in PRODUCTION_ENV:
        assert f"{name}=" in deploying, name
        assert f"\n{name}=" in example, name


@pytest.mark.parametrize("name", ["SECRET_KEY", "KEYTURN_ENCRYPTION_KEYS", "KEYTURN_HMAC_KEY",
                                  "SITE_URL", "ALLOWED_HOSTS", "EMAIL_URL"])
def test_it_refuses_to_start_in_production_without(name, tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != name}
    result = _manage("check", env_overrides={**env, "KEYTURN_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("name", ["SITE_URL", "ALLOWED_HOSTS", "EMAIL_URL"])
def test_it_has_a_local_default_only_for_a_local_run(name, tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != name}
    result = _manage("check", env_overrides={**env, "KEYTURN_DATA_DIR": str(tmp_path),
                                             "KEYTURN_LOCAL": "true"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("keys, problem", [
    ("k1:not base64!", "not valid base64"),
    (f"k1:{base64.b64encode(b'k' * 16).decode()}", "must be 32 bytes"),
    (f"k1:{KEY},k1:{base64.b64encode(b'j' * 32).decode()}", "appears twice"),
    (f"{KEY}", "<id>:<base64 key>"),
])
def test_it_refuses_a_malformed_key_ring_at_start(keys, problem, tmp_path):
    env = {**PRODUCTION_ENV, "KEYTURN_ENCRYPTION_KEYS": keys, "KEYTURN_DATA_DIR": str(tmp_path)}
    result = _manage("check", env_overrides=env)
    assert result.returncode != 0
    assert "keyturn.E001" in result.stderr
    assert "KEYTURN_ENCRYPTION_KEYS is malformed" in result.stderr
    assert problem in result.stderr
    assert keys.split(":", 1)[-1] not in result.stderr or problem == "<id>:<base64 key>"


def test_it_refuses_a_short_hmac_key_at_start(tmp_path):
    env = {**PRODUCTION_ENV, "KEYTURN_HMAC_KEY": "too-short", "KEYTURN_DATA_DIR": str(tmp_path)}
    result = _manage("check", env_overrides=env)
    assert result.returncode != 0
    assert "keyturn.E002" in result.stderr
    assert "too-short" not in result.stderr


def test_it_refuses_to_serve_web_requests_with_a_malformed_key_ring(tmp_path):
    """gunicorn runs no system checks itself: the WSGI application does, as it loads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYTURN_", "DJANGO_"))}
    env.update(PRODUCTION_ENV, KEYTURN_ENV_FILE="", KEYTURN_DATA_DIR=str(tmp_path),
               DJANGO_SETTINGS_MODULE="config.settings",
               KEYTURN_ENCRYPTION_KEYS="k1:c2hvcnQ=")
    result = subprocess.run([sys.executable, "-c", "import config.wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "keyturn.E001" in result.stderr


def test_it_creates_the_data_folder_owner_only_on_first_use(tmp_path):
    data = tmp_path / "new" / "keyturn-data"
    result = _manage("migrate", "--noinput", "-v0",
                     env_overrides={**PRODUCTION_ENV, "KEYTURN_DATA_DIR": str(data)},
                     timeout=120)
    assert result.returncode == 0, result.stderr
    assert (data / "keyturn.sqlite3").is_file()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(data.parent.stat().st_mode) == 0o700


def test_it_loads_demo_data_of_every_kind_and_status_idempotently(db):
    load_demo_data()
    counts = (User.objects.count(), Credential.objects.count(), Connection.objects.count())
    call_command("demo_data", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert (User.objects.count(), Credential.objects.count(), Connection.objects.count()) == counts
    assert set(Credential.objects.values_list("kind", flat=True)) == set(KINDS)
    now = timezone.now()
    seen = {b for c in with_status(Credential.objects.all()) for b in credential_badges(c, now)}
    assert seen == set(Badge)
    assert set(Membership.objects.values_list("role", flat=True)) == set(Role.values)
    # Partner contacts on a connection and on an API client, once however often it loads.
    contacts = PartnerContact.objects.order_by("email")
    assert [(c.attached_to.name, c.email) for c in contacts] == [
        ("Acme partner upload", "dana.reyes@acme.example"),
        ("Retailer AS2 profile", "edi-desk@retailer.example"),
        ("Billing API", "sam.okafor@billing.example"),
    ]


MANAGE_ACTIONS = {"Rotate Credential", "Change Credential", "Retry Failed Rotation",
                  "Cancel Scheduled Rotation", "Test connection", "Edit", "Deactivate",
                  "Reactivate", "Send to partner"}


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


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)  # polling a real server that is starting, not moving test time
    raise AssertionError(f"timed out waiting for {what}")


def test_it_answers_an_oversized_upload_at_once_under_gunicorn(tmp_path):
    """The walk's case: an anonymous 286 MiB multipart POST to the sign-in page. gunicorn
    hands it to Keyturn, which answers 413 from the declared length while the client has
    sent only 64 KiB of it: nothing waits for, reads or stores the rest."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEYTURN_", "DJANGO_", "DATABASE_URL", "SECRET_KEY", "SITE_URL",
                                "ALLOWED_HOSTS", "EMAIL_URL"))}
    env.update({k: PRODUCTION_ENV[k] for k in
                ("SECRET_KEY", "KEYTURN_ENCRYPTION_KEYS", "KEYTURN_HMAC_KEY")},
               KEYTURN_ENV_FILE="", KEYTURN_LOCAL="true", KEYTURN_DATA_DIR=str(tmp_path),
               DJANGO_SETTINGS_MODULE="config.settings", PORT=str(port))
    for args in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                       timeout=120, capture_output=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        _wait_for(listening, 60, "gunicorn")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: multipart/form-data; boundary=b\r\n"
                         + f"Content-Length: {286 * 1024 * 1024}\r\n\r\n".encode()
                         + b"--b\r\n" + b"x" * 64 * 1024)
            received = b""
            while chunk := sock.recv(65536):  # gunicorn closes the connection after it
                received += chunk
            answer = received.decode(errors="replace")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer.startswith("HTTP/1.1 413 ")
    assert "Too large" in answer


def _follow_and_sign_in(link: str, username: str, password: str) -> tuple[str, str]:
    """Opens an email's link as a person would: the sign-in page comes first, then the page
    the link named. Returns (final URL, page text)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(link, timeout=10) as response:
        login_url, login_page = response.url, response.read().decode()
    assert "/accounts/login/" in login_url
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
    nxt = urllib.parse.parse_qs(urllib.parse.urlsplit(login_url).query)["next"][0]
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "login": username,
                                   "password": password, "next": nxt}).encode()
    with opener.open(login_url, data=form, timeout=10) as response:
        return response.url, response.read().decode()


def _emails(folder: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(folder.glob("*.eml"))]


@pytest.mark.django_db(transaction=True)
def test_it_runs_locally_on_any_port_with_links_and_mail_that_follow(tmp_path):
    """`make run`'s last step on a port that is not 8000: the portal, the worker and the SFTP
    endpoint start; a reminder the worker sends lands as a file whose link leads, through
    sign-in, to the credential on this port; Ctrl-C stops everything."""
    port, sftp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEYTURN_", "DJANGO_", "DATABASE_URL", "SECRET_KEY", "SITE_URL",
                                "ALLOWED_HOSTS", "EMAIL_URL"))}
    secrets_only = {k: PRODUCTION_ENV[k] for k in
                    ("SECRET_KEY", "KEYTURN_ENCRYPTION_KEYS", "KEYTURN_HMAC_KEY")}
    env.update(secrets_only, KEYTURN_ENV_FILE="", KEYTURN_LOCAL="true",
               KEYTURN_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings",
               PORT=str(port), WEB_CONCURRENCY="1", KEYTURN_SFTP_PORT=str(sftp_port))
    manage = [sys.executable, "manage.py"]
    for args in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"],
                 ["demo_data"]):
        subprocess.run([*manage, *args], cwd=ROOT, env=env, check=True, timeout=120,
                       capture_output=True)
    sent_before = len(_emails(tmp_path / "mail"))  # loading the demo may send some
    runner = subprocess.Popen([sys.executable, "bin/run"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def shell(code: str) -> str:
        return subprocess.run([*manage, "shell", "-v0", "-c", code], cwd=ROOT, env=env,
                              check=True, capture_output=True, text=True, timeout=60).stdout

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
        # The sweep as the worker runs it (its schedule's first pass comes 30 s after start).
        task = shell("from django_q.tasks import async_task; "
                     "print(async_task('credentials.tasks.sweep', task_name='reminders'))").strip()

        def sweep_done():
            return shell("from django_q.models import Success; "
                         f"print(Success.objects.filter(id='{task}').exists())").strip() == "True"

        _wait_for(sweep_done, 90, "the worker to run the sweep")

        def reminders_sent():  # the sweep's task hands its batches to the worker as tasks
            return [m for m in _emails(tmp_path / "mail") if "expires" in m["Subject"]]

        reminders = _wait_for(reminders_sent, 90, "the worker to send the demo data's "
                              "reminders (it has credentials that expire within 30 days)")
        body = reminders[0].get_body(("plain",)).get_content()
        link = re.search(r"(http://\S+/credentials/[0-9a-f-]{36}/)", body).group(1)
        assert link.startswith(f"http://127.0.0.1:{port}/o/northwind/")
        final_url, page = _follow_and_sign_in(link, "owner", DEMO_PASSWORD)
        assert final_url == link
        assert "Connection Usage" in page or "AS2 Profile Usage" in page
    finally:
        runner.send_signal(2)  # Ctrl-C
        output = runner.communicate(timeout=30)[0].decode()
    assert runner.returncode == 0, output
    assert f"Keyturn is running on http://127.0.0.1:{port}/" in output
    assert f"emails: {tmp_path / 'mail'}/ (one .eml file per message)" in output
    # One line per email on the console, never the message itself.
    assert output.count("keyturn.mail email") == len(_emails(tmp_path / "mail")) - sent_before
    assert "Content-Type:" not in output and "MIME-Version" not in output
    assert stat.S_IMODE((tmp_path / "mail").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (tmp_path / "mail").iterdir())
    leftovers = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True)
    assert leftovers.stdout == b""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", sftp_port), timeout=2).close()


def _make_env(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bin/make-env"), str(path)],
                          capture_output=True, text=True, timeout=30, check=True)


def test_it_writes_a_local_env_file_once_with_fresh_keys(tmp_path):
    env_file = tmp_path / ".env"
    _make_env(env_file)
    first = env_file.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "KEYTURN_LOCAL=true" in first.splitlines()
    assert "EMAIL_URL" not in first
    _make_env(env_file)
    assert env_file.read_text() == first  # never new keys for an existing database
    other = tmp_path / "other.env"
    _make_env(other)
    key = re.search(r"^KEYTURN_ENCRYPTION_KEYS=(.+)$", first, re.M).group(1)
    assert key not in other.read_text()


def test_it_brings_an_older_local_env_file_up_to_date_and_keeps_its_keys(tmp_path):
    env_file = tmp_path / ".env"
    older = ("# Written by `make run` for local use. See .env.example for every variable.\n"
             "SECRET_KEY=s\nKEYTURN_ENCRYPTION_KEYS=k1:abc\nKEYTURN_HMAC_KEY=h\n"
             "KEYTURN_HTTPS=false\nEMAIL_URL=consolemail://\n")
    env_file.write_text(older)
    assert "Updated" in _make_env(env_file).stdout
    lines = env_file.read_text().splitlines()
    assert lines[1:5] == older.splitlines()[1:5]
    assert "KEYTURN_LOCAL=true" in lines
    assert "EMAIL_URL=consolemail://" not in lines
    # A .env someone wrote by hand is theirs: left exactly as it is.
    own = tmp_path / "own.env"
    own.write_text("SECRET_KEY=mine\nEMAIL_URL=consolemail://\n")
    _make_env(own)
    assert own.read_text() == "SECRET_KEY=mine\nEMAIL_URL=consolemail://\n"
