"""Failed logins are counted per address, audited without the attempted secret, and answered
ever more slowly; past a limit an address is refused outright until its failures age out."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from sftpd import services
from sftpd.models import FailedLogin
from sftpd.services import LoginDecision, failure_delay
from tests.factories import make_connection, make_credential
from tests.sftpd.helpers import can_log_in, password_of, username_of


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0), (1, 0), (3, 0), (4, 1), (5, 2), (6, 4), (7, 8), (8, 16), (9, 16), (500, 16)],
)
def test_it_delays_answers_more_with_each_failure_up_to_a_cap(failures, delay):
    assert failure_delay(failures) == delay


def test_it_audits_a_failed_login_without_the_attempted_password(sftp_server, unit, alice):
    credential = make_credential(unit)
    make_connection(credential, alice)
    user = username_of(credential)
    attempt = "Guessing-Hard-123!"
    assert not can_log_in(sftp_server, user, password=attempt)
    event = AuditEvent.objects.get(action="sftp.login_failed")
    assert event.details == {"username": user, "address": "127.0.0.1", "method": "password",
                             "reason": "wrong_secret"}
    assert event.organization == unit.organization
    assert event.target_id == ""  # no credential matched the attempt
    everything = json.dumps(list(AuditEvent.objects.values()), default=str) + json.dumps(
        list(FailedLogin.objects.values()), default=str
    )
    assert attempt not in everything
    assert password_of(credential) not in everything


def test_it_slows_down_repeated_failures_from_one_address(sftp_server, sleeps, unit, alice):
    credential = make_credential(unit)
    make_connection(credential, alice)
    user = username_of(credential)
    for n in range(6):
        assert not can_log_in(sftp_server, user, password=f"wrong-password-{n}")
    assert sleeps == [0, 0, 0, 1, 2, 4]
    assert FailedLogin.objects.filter(address="127.0.0.1").count() == 6
    # A right password is not held back: only failures wait.
    assert can_log_in(sftp_server, user, password=password_of(credential))
    assert len(sleeps) == 6


def test_it_refuses_an_address_after_too_many_failures_until_they_age_out(
    sftp_server, sleeps, unit, alice, time_machine
):
    credential = make_credential(unit)
    make_connection(credential, alice)
    user, password = username_of(credential), password_of(credential)
    now = timezone.now()
    for _ in range(services.REFUSE_AFTER):
        services.login_record_failure(
            decision=LoginDecision("someone", "password", reason="wrong_secret"),
            address="127.0.0.1", now=now,
        )
    assert not can_log_in(sftp_server, user, password=password)
    assert FailedLogin.objects.latest("at").reason == "throttled"
    assert sleeps[-1] == services.MAX_DELAY
    # Another address is not affected.
    assert services.recent_failures("192.0.2.7", timezone.now()) == 0
    time_machine.move_to(timezone.now() + services.FAILURE_WINDOW + timedelta(seconds=1))
    assert can_log_in(sftp_server, user, password=password)


def test_it_forgets_failed_logins_after_the_retention(db, time_machine):
    decision = LoginDecision("someone", "password", reason="unknown_user")
    old = timezone.now() - services.FAILED_LOGIN_RETENTION - timedelta(days=1)
    FailedLogin.objects.create(address="192.0.2.1", username="x", method="password",
                               reason="unknown_user", at=old)
    services.login_record_failure(decision=decision, address="192.0.2.1", now=timezone.now())
    assert FailedLogin.objects.count() == 1
