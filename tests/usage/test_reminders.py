"""The 7-day and the 1-day reminders say that the version that expires is still in use,
through a real SMTP server on loopback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.models import Kind, UseChannel
from credentials.services import current_version
from credentials.sweep import sweep_run
from credentials.usage import version_use_record
from tests.factories import make_credential


@pytest.fixture
def smtp(smtp_server, settings):
    settings.SITE_URL = "https://keyturn.example.com"
    return smtp_server


def _bodies(smtp) -> tuple[str, str]:
    _recipients, message = smtp.messages[-1]
    return (message.get_body(("plain",)).get_content(),
            message.get_body(("html",)).get_content())


@pytest.mark.parametrize(("expires_in", "subject", "says"), [
    (timedelta(hours=20), "[Keyturn] Final reminder", True),
    (timedelta(days=6), "[Keyturn] Urgent reminder", True),
    (timedelta(days=13), "[Keyturn] Reminder", False),
])
def test_the_last_reminders_say_the_version_is_still_in_use(
        smtp, unit, alice, time_machine, expires_in, subject, says):
    now = timezone.now().replace(microsecond=0)
    time_machine.move_to(now, tick=False)
    credential = make_credential(unit, Kind.SFTP_PASSWORD, expires_in=expires_in, actor=alice)
    version_use_record(version=current_version(credential), channel=UseChannel.SFTP_LOGIN,
                       address="203.0.113.9", now=now - timedelta(hours=3))
    sweep_run(now=now)
    assert smtp.messages[-1][1]["Subject"].startswith(subject + ":")
    text, html = _bodies(smtp)
    assert ("is still in use: it was used 1 time in the last 24 hours" in text) is says
    assert ("from 203.0.113.9" in text) is says
    assert ('id="still-in-use"' in html) is says


def test_the_seven_day_reminder_of_an_unused_version_says_nothing_of_use(smtp, unit, alice):
    make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=6), actor=alice)
    sweep_run(now=timezone.now())
    text, _html = _bodies(smtp)
    assert "still in use" not in text
