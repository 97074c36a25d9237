"""Signing in through allauth's form, and the one lockout: by user name, with a separate,
much higher limit per address (README, Accounts)."""

import re

from django.conf import settings
from django.test import Client
from django.utils import timezone

from tests.factories import PASSWORD, make_user

LOCKED = "Too many failed login attempts"


def _login(client, username, password, ip="127.0.0.1"):
    return client.post("/accounts/login/", {"login": username, "password": password},
                       REMOTE_ADDR=ip)


def _error(response) -> str:
    """The page's error note, without the user name typed back into the form."""
    match = re.search(r'<p class="errornote">(.*?)</p>', response.content.decode(), re.S)
    return match.group(1) if match else ""


def test_it_signs_in_with_the_right_password_and_lands_on_the_organization(client, alice):
    response = _login(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert client.get(response["Location"], follow=True).redirect_chain[-1][0] == "/o/acme/"


def test_it_refuses_a_wrong_password_and_an_unknown_name_alike(client, alice):
    wrong = _login(client, "alice", "wrong-password")
    unknown = _login(client, "nobody", "wrong-password")
    assert wrong.status_code == unknown.status_code == 200
    assert _error(wrong) == _error(unknown) != ""
    assert "_auth_user_id" not in client.session


def test_it_locks_a_user_name_after_five_failures_known_or_unknown_with_one_answer(
        client, alice):
    assert settings.KEYTURN_LOGIN_FAILURES == 5
    for attempt in range(5):  # from different addresses: the name is what counts
        assert LOCKED not in _error(_login(client, "alice", "wrong", ip=f"192.0.2.{attempt}"))
        assert LOCKED not in _error(_login(client, "nobody", "wrong", ip=f"198.51.100.{attempt}"))
    known = _login(client, "alice", PASSWORD, ip="203.0.113.1")  # even the right password
    unknown = _login(client, "nobody", "whatever", ip="203.0.113.2")
    assert LOCKED in _error(known)
    assert _error(known) == _error(unknown)
    assert known.status_code == unknown.status_code
    assert "_auth_user_id" not in client.session
    # The name in another case is the same name.
    assert LOCKED in _error(_login(client, "ALICE", PASSWORD, ip="203.0.113.3"))


def test_it_lets_another_user_sign_in_from_the_address_of_a_locked_name(client, alice, bob):
    for _ in range(6):
        _login(client, "alice", "wrong", ip="192.0.2.10")
    assert LOCKED in _error(_login(Client(), "alice", PASSWORD, ip="192.0.2.10"))
    response = _login(client, "bob", PASSWORD, ip="192.0.2.10")
    assert response.status_code == 302


def test_it_lets_the_name_in_again_fifteen_minutes_after_its_first_failure(
        client, alice, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    for _ in range(5):
        _login(client, "alice", "wrong")
        time_machine.shift(60)
    assert LOCKED in _error(_login(client, "alice", PASSWORD))
    time_machine.shift(60 * (settings.KEYTURN_LOCKOUT_MINUTES - 5))  # the first is 15 min old
    assert _login(client, "alice", PASSWORD).status_code == 302


def test_it_does_not_count_a_successful_sign_in_as_a_failure(client, alice):
    for _ in range(4):
        _login(client, "alice", "wrong")
    for _ in range(3):
        assert _login(Client(), "alice", PASSWORD).status_code == 302
    assert LOCKED not in _error(_login(client, "alice", "wrong"))  # the fifth failure
    assert LOCKED in _error(_login(client, "alice", PASSWORD))


def test_it_slows_guessing_across_names_from_one_address(client, db):
    make_user("erin")
    limit = settings.KEYTURN_LOGIN_FAILURES_PER_ADDRESS
    assert limit >= 20 * settings.KEYTURN_LOGIN_FAILURES  # much higher than per name
    for attempt in range(limit):
        _login(client, f"guess{attempt}", "wrong", ip="192.0.2.99")
    refused = _login(client, "erin", PASSWORD, ip="192.0.2.99")
    assert LOCKED in _error(refused)
    assert _login(client, "erin", PASSWORD, ip="192.0.2.100").status_code == 302


def test_it_signs_the_admin_in_through_the_same_page(client, db):
    root = make_user("root")
    root.is_staff = root.is_superuser = True
    root.save()
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    assert client.get("/admin/login/?next=/admin/")["Location"].startswith("/accounts/login/")
    client.post("/accounts/login/?next=/admin/", {"login": "root", "password": PASSWORD})
    assert client.get("/admin/").status_code == 200
