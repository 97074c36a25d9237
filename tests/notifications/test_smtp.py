"""Reminder and rotation emails through a real SMTP server on loopback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.models import Kind
from credentials.services import version_secret
from credentials.sweep import sweep_run
from notifications.models import Notification, NotificationState
from notifications.services import NotificationError, recipients_for, reminder_opt_out_set
from tests.factories import make_credential, make_user
from tests.helpers import free_port


@pytest.fixture
def smtp(smtp_server, settings):
    settings.SITE_URL = "https://keyturn.example.com"
    return smtp_server


def test_it_sends_a_multipart_reminder_with_an_absolute_link(smtp, unit, alice, time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    credential = make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=6),
                                 actor=alice, name="Acme drop")
    sweep_run(now=now)
    # One message per recipient, each with its own opt-out link.
    assert sorted(r for recipients, _ in smtp.messages for r in recipients) == [
        "alice@example.com", "warehouse-team@acme.example"]
    recipients, message = smtp.messages[0]
    assert message["Subject"].startswith("[Keyturn] Urgent reminder: Acme drop expires")
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"https://keyturn.example.com/o/acme/credentials/{credential.pk}/"
    assert link in text and f'href="{link}"' in html
    assert "stops working" in text
    assert version_secret(credential.versions.get()) not in text + html
    assert Notification.objects.get().state == NotificationState.SENT


def test_it_retries_an_email_the_server_refused(smtp, unit, alice, settings, time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=6), actor=alice)
    settings.EMAIL_PORT = free_port()  # nobody listens there
    sweep_run(now=now)
    notification = Notification.objects.get()
    assert notification.state == NotificationState.FAILED
    assert "Sending failed" in notification.error
    settings.EMAIL_PORT = smtp.port
    sweep_run(now=now + timedelta(minutes=1))
    notification.refresh_from_db()
    assert notification.state == NotificationState.SENT
    assert len(smtp.messages) == 2  # one per recipient


def test_it_leaves_out_users_who_opted_out_but_never_owners(smtp, unit, alice, bob,
                                                            time_machine):
    contact = make_user("carol", unit.organization)
    unit.contact_emails = "carol@example.com\nwarehouse-team@acme.example"
    unit.save()
    reminder_opt_out_set(user=contact, business_unit=unit, opted_out=True)
    with pytest.raises(NotificationError):
        reminder_opt_out_set(user=alice, business_unit=unit, opted_out=True)
    assert recipients_for(unit) == ["alice@example.com", "warehouse-team@acme.example"]
    reminder_opt_out_set(user=contact, business_unit=unit, opted_out=False)
    assert "carol@example.com" in recipients_for(unit)


def test_it_never_takes_over_an_email_another_worker_is_still_sending(smtp, unit, alice,
                                                                      time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=6), actor=alice)
    sweep_run(now=now)
    notification = Notification.objects.get()
    # An old email failed long ago; a worker retries it now and is still talking to SMTP.
    Notification.objects.filter(pk=notification.pk).update(
        state=NotificationState.PENDING, claimed_at=now + timedelta(hours=1))
    later = now + timedelta(hours=1, minutes=1)
    time_machine.move_to(later, tick=False)
    assert sweep_run(now=later) == []  # claimed a minute ago: not abandoned
    abandoned = now + timedelta(hours=1, minutes=11)
    time_machine.move_to(abandoned, tick=False)
    assert sweep_run(now=abandoned) == [f"retried email {notification.pk}"]
    assert len(smtp.messages) == 4  # twice, to each of the two recipients


def test_it_sends_once_the_rotation_email_whose_sender_died_after_the_commit(
    smtp, unit, alice, time_machine, django_capture_on_commit_callbacks
):
    from credentials.models import RotationState
    from credentials.rotation.requests import rotation_schedule
    from credentials.rotation.steps import rotations_run_due
    from tests.factories import material_for

    now = timezone.now()
    time_machine.move_to(now, tick=False)
    credential = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice, name="Acme drop")
    start = now + timedelta(hours=1)
    rotation = rotation_schedule(credential=credential, material=material_for(credential.kind),
                                 actor=alice, starts_at=start, now=now)
    time_machine.move_to(start, tick=False)
    # The worker switches the versions, commits, and dies before what follows the commit.
    with django_capture_on_commit_callbacks() as after_commit:
        rotations_run_due(now=start)
    rotation.refresh_from_db()
    assert rotation.state == RotationState.COMPLETED
    assert smtp.messages == [] and len(after_commit) == 1
    notification = Notification.objects.get(rotation=rotation)
    assert (notification.state, notification.claimed_at) == (NotificationState.PENDING, None)

    later = start + timedelta(minutes=1)
    time_machine.move_to(later, tick=False)
    assert sweep_run(now=later) == [f"sent email {notification.pk}"]
    assert {m["Subject"] for _, m in smtp.messages} == {"[Keyturn] Rotation complete: Acme drop"}
    after_commit[0]()  # the first sender wakes up late: the email is taken, nothing more goes
    assert sweep_run(now=later + timedelta(hours=1)) == []
    assert len(smtp.messages) == 2  # once to each recipient
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == (NotificationState.SENT, 1)


def test_it_says_times_in_utc_even_when_sent_from_a_request_in_another_zone(
        smtp, unit, alice, time_machine):
    """A rotation done in the portal sends its email from the user's request, in which the
    user's zone is active; the email still says UTC, and means it."""
    import zoneinfo
    from datetime import UTC, datetime

    time_machine.move_to(datetime(2030, 1, 15, 9, 30, tzinfo=UTC), tick=False)
    make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=6),
                    actor=alice, name="Acme drop")
    with timezone.override(zoneinfo.ZoneInfo("Asia/Tokyo")):
        sweep_run()
    _, message = smtp.messages[0]
    text = message.get_body(("plain",)).get_content()
    assert "21 January 2030, 09:30 UTC" in text
    assert "21 Jan 2030 09:30 UTC" in message["Subject"]
