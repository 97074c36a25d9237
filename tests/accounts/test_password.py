"""Password reset by email (one link, once, for an hour; one answer for every address; rate
limited) and change; both end the user's other sessions and are audited."""

import re

from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from tests.factories import PASSWORD
from tests.helpers import gunicorn_access_log

NEW = "a-brand-new-passphrase-2026"


def _ask(client, email, ip="127.0.0.1"):
    return client.post("/accounts/password/reset/", {"email": email}, REMOTE_ADDR=ip)


def _link() -> str:
    body = mail.outbox[-1].body
    return re.search(r"(http://testserver/accounts/password/reset/key/\S+)", body).group(1)


def _set(client, link, password=NEW):
    form = client.get(link.removeprefix("http://testserver"), follow=True)
    action = form.redirect_chain[-1][0] if form.redirect_chain else link
    return client.post(action, {"password1": password, "password2": password})


def test_it_answers_alike_for_a_known_and_an_unknown_address(client, alice):
    known = _ask(client, "alice@example.com")
    unknown = _ask(Client(), "nobody@example.com")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/accounts/password/reset/done/"
    assert len(mail.outbox) == 1  # nothing goes to an address without an account
    assert mail.outbox[0].to == ["alice@example.com"]
    assert mail.outbox[0].subject.startswith("Keyturn: ")
    assert _link().startswith(settings.SITE_URL)


def test_it_resets_once_with_the_link_and_ends_the_other_sessions(client, alice):
    elsewhere = Client()
    elsewhere.force_login(alice)
    assert elsewhere.get("/o/acme/").status_code == 200
    _ask(client, "alice@example.com")
    link = _link()
    done = _set(client, link)
    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert elsewhere.get("/o/acme/").status_code == 302  # signed out
    assert AuditEvent.objects.filter(action="user.password_change", actor=alice).exists()
    again = Client().get(link.removeprefix("http://testserver"), follow=True)
    assert "invalid" in again.content.decode().lower()  # used: it works once
    assert Client().post("/accounts/login/", {"login": "alice", "password": NEW}).status_code == 302


def test_no_log_line_holds_a_reset_links_key(client, alice, captured_logs):
    _ask(client, "alice@example.com")
    path = _link().removeprefix("http://testserver")
    opened = client.get(path)
    assert opened["Location"].endswith("-set-password/")  # the key leaves the address bar
    gunicorn_access_log(path)
    gunicorn_access_log(opened["Location"], status="200")
    assert '"GET /accounts/password/reset/key/<key>/ HTTP/1.1" 302' in captured_logs.text
    assert f'"GET {opened["Location"]} HTTP/1.1" 200' in captured_logs.text
    key = path.rstrip("/").split("-", 1)[1]
    assert key not in captured_logs.text
    assert _set(client, _link()).status_code == 302  # the link still works


def test_it_refuses_a_link_older_than_an_hour(client, alice, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    _ask(client, "alice@example.com")
    link = _link()
    time_machine.shift(60 * settings.KEYTURN_PASSWORD_RESET_MINUTES + 60)
    page = Client().get(link.removeprefix("http://testserver"), follow=True)
    assert "invalid" in page.content.decode().lower()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_it_limits_how_often_a_reset_is_asked_for_one_address(client, alice):
    for attempt in range(3):
        _ask(Client(), "alice@example.com", ip=f"192.0.2.{attempt}")
    limited = _ask(Client(), "alice@example.com", ip="192.0.2.9")
    assert limited.status_code == 429
    assert "Too many requests" in limited.content.decode()
    assert _ask(Client(), "ALICE@example.com", ip="192.0.2.10").status_code == 429
    assert len(mail.outbox) == 3
    # An unknown address is limited alike: the limit says nothing about accounts.
    for attempt in range(3):
        assert _ask(Client(), "nobody@example.com", ip=f"198.51.100.{attempt}").status_code == 302
    assert _ask(Client(), "nobody@example.com", ip="198.51.100.9").status_code == 429


def test_it_changes_the_password_and_ends_only_the_other_sessions(client, alice):
    elsewhere = Client()
    elsewhere.force_login(alice)
    client.force_login(alice)
    response = client.post("/accounts/password/change/",
                           {"oldpassword": PASSWORD, "password1": NEW, "password2": NEW})
    assert response.status_code == 302
    assert client.get("/o/acme/").status_code == 200  # this session goes on
    assert elsewhere.get("/o/acme/").status_code == 302
    assert AuditEvent.objects.filter(action="user.password_change").count() == 1
