"""The profile page: details and time zone, sessions with "sign out other sessions", the
second factors and the email preferences."""

import re

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.selectors import device_of
from audit.models import AuditEvent
from tests.factories import PASSWORD

CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/126.0 Safari/537.36")
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _details(user, **changes):
    values = {"first_name": user.first_name, "last_name": user.last_name,
              "email": user.email, "time_zone": user.time_zone}
    return {**values, **changes}


def test_it_saves_name_and_time_zone_and_lists_every_zone_with_its_time(client, alice):
    client.force_login(alice)
    page = client.get("/accounts/profile/").content.decode()
    assert 'list="time-zones"' in page
    assert re.search(r'<option value="Asia/Tokyo">now \d\d:\d\d</option>', page)
    assert page.count("<option value=") > 300
    response = client.post("/accounts/profile/", _details(
        alice, first_name="Alice", last_name="Archer", time_zone="Asia/Tokyo"))
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.first_name, alice.last_name, alice.time_zone) == ("Alice", "Archer",
                                                                     "Asia/Tokyo")
    assert "times in Asia/Tokyo" in client.get("/o/acme/").content.decode()


def test_it_refuses_an_unknown_zone_on_its_field_and_changes_nothing(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/profile/", _details(alice, time_zone="Mars/Olympus"))
    assert response.status_code == 200
    assert "is not a known time zone" in response.content.decode()
    alice.refresh_from_db()
    assert alice.time_zone == "UTC"


def test_it_refuses_an_email_address_longer_than_an_account_keeps_on_its_field(client, alice):
    client.force_login(alice)
    long_address = "a" * 250 + "@example.com"  # valid by RFC 5321's 320, not in the column
    response = client.post("/accounts/profile/", _details(alice, email=long_address,
                                                          time_zone="Asia/Tokyo"))
    assert response.status_code == 200
    assert "at most 254 characters" in " ".join(response.context["form"].errors["email"])
    alice.refresh_from_db()
    assert (alice.email, alice.time_zone) == ("alice@example.com", "UTC")
    assert not AuditEvent.objects.filter(action="user.email_change").exists()


def test_it_asks_for_a_proof_before_a_new_email_and_audits_it(client, alice, bob, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    client.force_login(alice)
    taken = client.post("/accounts/profile/", _details(alice, email="bob@example.com"))
    assert "Another account uses this email address." in taken.content.decode()
    time_machine.shift(60 * (settings.KEYTURN_REAUTHENTICATION_MINUTES + 1))
    asked = client.post("/accounts/profile/", _details(alice, email="alice@new.example"))
    assert asked["Location"].startswith("/accounts/reauthenticate/")
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"
    done = client.post("/accounts/reauthenticate/",
                       {"password": PASSWORD, "next": "/accounts/profile/"})
    assert done["Location"] == "/accounts/profile/"
    alice.refresh_from_db()
    assert alice.email == "alice@new.example"
    event = AuditEvent.objects.get(action="user.email_change")
    assert event.details["previous_email"] == "alice@example.com"
    assert event.details["reauthenticated_with"] == "password"


def test_it_lists_the_sessions_and_signs_out_the_others(client, alice):
    laptop, phone = Client(HTTP_USER_AGENT=CHROME), Client(HTTP_USER_AGENT=FIREFOX)
    for browser, address in ((laptop, "192.0.2.7"), (phone, "198.51.100.8")):
        browser.post("/accounts/login/", {"login": "alice", "password": PASSWORD},
                     REMOTE_ADDR=address)
    page = laptop.get("/accounts/profile/").content.decode()
    sessions = page.split('id="session-list"')[1].split("</table>")[0]
    assert "Chrome on Linux" in sessions and "(this session)" in sessions
    assert "Firefox on Windows" in sessions and "198.51.100.8" in sessions
    assert UserSession.objects.filter(user=alice).count() == 2
    laptop.post("/accounts/sessions/")
    assert phone.get("/o/acme/").status_code == 302  # signed out
    assert laptop.get("/o/acme/").status_code == 200
    assert UserSession.objects.filter(user=alice).count() == 1
    assert AuditEvent.objects.get(action="user.sessions_end").details["sessions_ended"] == 1


def test_it_dates_a_sessions_activity_at_most_every_few_minutes(client, alice, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    client.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    seen = UserSession.objects.get(user=alice).last_seen_at
    time_machine.shift(60)
    client.get("/o/acme/")
    assert UserSession.objects.get(user=alice).last_seen_at == seen
    time_machine.shift(settings.KEYTURN_SESSION_ACTIVITY_SECONDS)
    client.get("/o/acme/")
    assert UserSession.objects.get(user=alice).last_seen_at > seen


def test_it_names_devices_from_their_browser(db):
    assert device_of(CHROME) == "Chrome on Linux"
    assert device_of(FIREFOX) == "Firefox on Windows"
    assert device_of("curl/8.5") == "curl/8.5"


def test_it_links_the_email_preferences_of_each_organization(client, alice):
    client.force_login(alice)
    page = client.get("/accounts/profile/").content.decode()
    preferences = page.split('id="email-preferences"')[1].split("</fieldset>")[0]
    assert '<a href="/o/acme/reminders/">Reminder emails in Acme</a>' in preferences
