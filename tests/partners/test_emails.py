"""Reminder and rotation emails to partner contacts and members, through a real SMTP server on
loopback: the wording of each audience, no secret in any part, a plain-text part, the sender's
name, reply-to and List-Unsubscribe, and an opt-out link that works without signing in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client

from audit.models import AuditEvent
from credentials.models import Kind
from credentials.rotation.automatic import rotation_prepare_automatic
from credentials.rotation.requests import rotation_schedule
from credentials.rotation.steps import rotations_run_due
from credentials.services import version_secret
from credentials.sweep import sweep_run
from notifications.audiences import notification_messages, partner_time
from notifications.models import Notification, ReminderOptOut
from notifications.optout import SALTS
from partners.models import PartnerContact
from partners.selectors import contacts_to_email_many
from tests.factories import make_connection, make_credential, make_user, material_for
from tests.partners.helpers import make_contact, opt_out_link

SITE = "https://keyturn.example.com"
EXPIRY = datetime(2030, 12, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def smtp(smtp_server, settings):
    settings.SITE_URL = SITE
    settings.KEYTURN_EMAIL_FROM_NAME = "Acme credentials"
    settings.DEFAULT_FROM_EMAIL = "Keyturn <keyturn@keyturn.example.com>"
    return smtp_server


def _to(smtp, address):
    return [message for recipients, message in smtp.messages if recipients == [address]]


def _parts(message):
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def _path(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def expiring(unit, alice, time_machine):
    """An SFTP password expiring on EXPIRY, used by a connection with a partner contact in
    Berlin; 7 days before expiry."""
    now = EXPIRY - timedelta(days=6)
    time_machine.move_to(now, tick=False)
    credential = make_credential(unit, Kind.SFTP_PASSWORD, valid_until=EXPIRY, actor=alice,
                                 name="Acme drop", now=now - timedelta(days=30))
    connection = make_connection(credential, alice)
    connection.name = "Carrier inbound"
    connection.save()
    contact = make_contact(connection, alice, time_zone="Europe/Berlin")
    return credential, contact, now


def test_it_sends_partners_their_wording_and_members_theirs_with_no_secret(smtp, expiring):
    credential, contact, now = expiring
    sweep_run(now=now)
    secret = version_secret(credential.versions.get())
    assert sorted(r for recipients, _ in smtp.messages for r in recipients) == [
        "alice@example.com", "dana@partner.example", "warehouse-team@acme.example"]
    for _, message in smtp.messages:
        text, html = _parts(message)
        assert secret not in text + html + str(message)  # no part, no header
        assert message["From"] == "Acme credentials <keyturn@keyturn.example.com>"
        assert message["Reply-To"] == "warehouse-team@acme.example"
        assert message["List-Unsubscribe"].strip() == f"<{opt_out_link(text)}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [partner] = _to(smtp, "dana@partner.example")
    text, html = _parts(partner)
    assert partner["Subject"].strip() == (
        "Acme: Urgent: Credentials change before 2 Dec 2030 09:00 CET (2 Dec 2030 08:00 UTC): "
        "“Carrier inbound”")
    assert "Hello Dana Weber" in text and "What to do:" in text
    assert "2 Dec 2030 09:00 CET (2 Dec 2030 08:00 UTC)" in text
    assert "/o/acme/" not in text + html  # no link into the portal
    assert "/email/opt-out/partner/" in text
    [member] = _to(smtp, "alice@example.com")
    text, _ = _parts(member)
    assert f"{SITE}/o/acme/credentials/{credential.pk}/" in text
    assert "/email/opt-out/member/" in text


def test_it_says_times_in_the_contacts_zone_and_in_utc_or_utc_alone():
    assert partner_time(EXPIRY, "Europe/Berlin") == "2 Dec 2030 09:00 CET (2 Dec 2030 08:00 UTC)"
    assert partner_time(EXPIRY, "America/New_York") == (
        "2 Dec 2030 03:00 EST (2 Dec 2030 08:00 UTC)")
    assert partner_time(EXPIRY, "") == "2 Dec 2030 08:00 UTC"


def test_a_partners_opt_out_link_works_without_signing_in_and_stops_every_email(
        smtp, expiring, time_machine):
    credential, contact, now = expiring
    sweep_run(now=now)
    [partner] = _to(smtp, "dana@partner.example")
    link = opt_out_link(_parts(partner)[0])
    visitor = Client()
    page = visitor.get(_path(link))  # a link scanner, or the partner reading first
    assert page.status_code == 200 and b"Stop these emails" in page.content
    assert page["Cache-Control"] == "no-store" and page["Referrer-Policy"] == "no-referrer"
    contact.refresh_from_db()
    assert contact.opted_out_at is None
    done = visitor.post(_path(link))
    assert done.status_code == 200 and b"no more" in done.content
    contact.refresh_from_db()
    assert contact.opted_out_at == now
    event = AuditEvent.objects.get(action="partner_contact.opt_out")
    assert event.actor is None and "dana@partner.example" in event.actor_label
    # The rotation that follows tells members, not the partner who opted out.
    smtp.messages.clear()
    rotation_schedule(credential=credential, material=material_for(Kind.SFTP_PASSWORD),
                      starts_at=now + timedelta(hours=1), actor=credential.created_by, now=now)
    later = now + timedelta(hours=1)
    time_machine.move_to(later, tick=False)
    rotations_run_due(now=later)
    sweep_run(now=later)
    assert smtp.messages and not _to(smtp, "dana@partner.example")


def test_a_mail_clients_one_click_post_opts_out_at_once(smtp, expiring):
    _, contact, now = expiring
    sweep_run(now=now)
    [partner] = _to(smtp, "dana@partner.example")
    link = partner["List-Unsubscribe"].strip(" <>")
    response = Client().post(_path(link), "List-Unsubscribe=One-Click",
                             content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert PartnerContact.objects.get(pk=contact.pk).opted_out_at is not None


def test_a_members_link_stops_that_units_reminders_and_owners_cannot_opt_out(
        smtp, expiring, unit, alice):
    carol = make_user("carol", unit.organization)
    unit.contact_emails = "carol@example.com\nwarehouse-team@acme.example"
    unit.save()
    _, _, now = expiring
    sweep_run(now=now)
    [carols] = _to(smtp, "carol@example.com")
    Client().post(_path(opt_out_link(_parts(carols)[0])))
    assert ReminderOptOut.objects.filter(user=carol, business_unit=unit).exists()
    [teams] = _to(smtp, "warehouse-team@acme.example")
    Client().post(_path(opt_out_link(_parts(teams)[0])))
    unit.refresh_from_db()
    assert "warehouse-team@acme.example" not in unit.contact_emails
    assert AuditEvent.objects.filter(action="reminders.opt_out").count() == 2
    [alices] = _to(smtp, "alice@example.com")
    response = Client().post(_path(opt_out_link(_parts(alices)[0])))
    assert b"Owners always get these emails" in response.content
    assert not ReminderOptOut.objects.filter(user=alice).exists()


def test_an_expired_or_forged_link_changes_nothing(smtp, expiring, time_machine):
    _, contact, now = expiring
    sweep_run(now=now)
    [partner] = _to(smtp, "dana@partner.example")
    link = _path(opt_out_link(_parts(partner)[0]))
    forged = link.replace("/partner/", "/partner/x")
    time_machine.move_to(now + timedelta(days=61), tick=False)
    for url in (link, forged, "/email/opt-out/nobody/abc/"):
        response = Client().post(url)
        assert response.status_code == 404
        assert b"not valid any more" in response.content and b"nothing was changed" in (
            response.content)
    # A token signed for a member's link does not open a partner's.
    crossed = signing.dumps({"c": str(contact.pk)}, salt=SALTS["member"], compress=True)
    assert Client().post(f"/email/opt-out/partner/{crossed}/").status_code == 404
    assert PartnerContact.objects.get(pk=contact.pk).opted_out_at is None
    assert not AuditEvent.objects.filter(action="partner_contact.opt_out").exists()


def test_an_api_clients_contacts_hear_new_credentials_ready_with_how_to_fetch_them(
        smtp, unit, alice, time_machine):
    now = EXPIRY - timedelta(days=29)
    time_machine.move_to(now, tick=False)
    client = make_credential(unit, Kind.API_CLIENT_SECRET, valid_until=EXPIRY, actor=alice,
                             name="ERP client", now=now - timedelta(days=30))
    make_contact(client, alice, name="Ken", email="ken@partner.example",
                 time_zone="Asia/Tokyo")
    assert rotation_prepare_automatic(credential=client, now=now) is not None
    sweep_run(now=now)
    [partner] = _to(smtp, "ken@partner.example")
    text, html = _parts(partner)
    assert partner["Subject"].strip() == "Acme: New credentials ready: “ERP client”"
    assert f"GET {SITE}/api/credentials/new" in text
    assert "2 Dec 2030 17:00 JST (2 Dec 2030 08:00 UTC)" in text
    for version in client.versions.all():
        assert version_secret(version) not in text + html


def test_an_emails_messages_cost_one_query_for_1_or_6_contacts(
        expiring, alice, django_assert_num_queries):
    credential, contact, now = expiring
    connection = contact.connection
    sweep_run(now=now)
    notification = Notification.objects.select_related(
        "credential__business_unit__organization", "version").get()

    def build():  # the contacts' read, then messages built without asking anything more
        contacts = contacts_to_email_many([credential.pk])[credential.pk]
        return notification_messages(notification, member_template="expiry_reminder",
                                     member_context={"unit": credential.business_unit},
                                     member_recipients=["alice@example.com"],
                                     contacts=contacts, new_ready=False)

    with django_assert_num_queries(1):
        assert len(build()) == 2
    for n in range(5):
        make_contact(connection, alice, name=f"P{n}", email=f"p{n}@partner.example")
    with django_assert_num_queries(1):
        assert len(build()) == 7
