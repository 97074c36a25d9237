"""The hand-off services on their own: the link's token kept only as a hash, the lifetime's
bounds, who may send, the passphrase and its lockout, the single spend, revocation, expiry
recorded by the sweep, visits audited at most once a minute, links that stop with their
version, and no secret, token or passphrase in any audit detail or log line."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from credentials.models import Credential, Kind
from credentials.rotation.requests import (
    rotation_cancel,
    rotation_rotate_now,
    rotation_schedule,
)
from credentials.services import credential_set_active, version_secret
from credentials.sweep import sweep_run
from handoffs.models import EmailState, Handoff, HandoffState
from handoffs.services import (
    MAX_LIFETIME,
    HandoffClosed,
    HandoffError,
    Recipient,
    WrongPassphrase,
    handoff_opened,
    handoff_revoke,
    handoff_send,
    handoff_show,
    handoffs_record_expiries,
)
from tests.factories import make_credential, material_for
from tests.handoffs.helpers import PASSPHRASE, link_in, make_handoff
from tests.helpers import free_port


@pytest.fixture
def drop(unit, alice) -> Credential:
    return make_credential(unit, Kind.SFTP_PASSWORD, actor=alice, name="Acme drop",
                           expires_in=timedelta(days=90))


def _secret(credential: Credential, state: str = "current") -> str:
    return version_secret(credential.versions.get(state=state))


def _fresh(handoff: Handoff) -> Handoff:
    return Handoff.objects.select_related("credential__business_unit__organization",
                                          "version").get(pk=handoff.pk)


def test_it_keeps_only_a_sha256_of_a_random_256_bit_token(drop, alice):
    handoff, token = make_handoff(drop, alice)
    other, other_token = make_handoff(drop, alice)
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert token != other_token
    assert handoff.token_hash == hashlib.sha256(token.encode()).hexdigest()
    row = Handoff.objects.filter(pk=handoff.pk).values().get()
    assert not any(token in str(value) for value in row.values())
    assert token not in repr(handoff) and handoff.token_hash not in repr(handoff)


def test_it_bounds_how_long_a_link_lives(drop, alice):
    now = timezone.now()
    longest, _ = make_handoff(drop, alice, lifetime=MAX_LIFETIME, now=now)
    assert longest.expires_at == now + timedelta(days=7)
    for lifetime in (MAX_LIFETIME + timedelta(seconds=1), timedelta(0), timedelta(hours=-1)):
        with pytest.raises(HandoffError) as refused:
            make_handoff(drop, alice, lifetime=lifetime)
        assert refused.value.field == "lifetime"
    sent = handoff_send(credential=drop, which="current", actor=alice, now=now,
                        recipient=Recipient(name="Pat", email="pat@partner.example"))
    assert sent.expires_at == now + timedelta(hours=72)  # the default
    assert Handoff.objects.count() == 2


@pytest.mark.parametrize("username", ["rita", "vic", "charlie"])
def test_it_lets_only_those_who_may_reveal_send(drop, rita, vic, charlie, username):
    actor = {"rita": rita, "vic": vic, "charlie": charlie}[username]
    with pytest.raises(PermissionDenied):
        make_handoff(drop, actor)
    assert not Handoff.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="handoff.").exists()


@pytest.mark.parametrize(("name", "email", "field"), [
    ("", "pat@partner.example", "recipient_name"),
    ("Pat\x1b[2J", "pat@partner.example", "recipient_name"),
    ("P" * 201, "pat@partner.example", "recipient_name"),
    ("Pat", "pat@", "recipient_email"),
    ("Pat", "pat partner@example.com", "recipient_email"),
])
def test_it_refuses_a_bad_recipient_naming_the_field(drop, alice, name, email, field):
    with pytest.raises(HandoffError) as refused:
        make_handoff(drop, alice, name=name, email=email)
    assert refused.value.field == field
    assert not Handoff.objects.exists()


def test_it_keeps_the_passphrase_as_a_password_hash_and_refuses_a_short_one(drop, alice):
    with pytest.raises(HandoffError) as refused:
        make_handoff(drop, alice, passphrase="short")
    assert refused.value.field == "passphrase"
    handoff, _ = make_handoff(drop, alice, passphrase=PASSPHRASE)
    assert PASSPHRASE not in handoff.passphrase_hash
    assert check_password(PASSPHRASE, handoff.passphrase_hash)
    assert not make_handoff(drop, alice)[0].has_passphrase


def test_it_sends_the_pending_version_of_a_rotation_or_the_current_one(drop, alice):
    with pytest.raises(HandoffError) as refused:
        make_handoff(drop, alice, which="pending")
    assert refused.value.field == "which"
    rotation_schedule(credential=drop, starts_at=timezone.now() + timedelta(days=2),
                      material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    pending, _ = make_handoff(drop, alice, which="pending")
    current, _ = make_handoff(drop, alice, which="current")
    assert (pending.version.state, current.version.state) == ("pending", "current")
    credential_set_active(credential=drop, active=False, actor=alice)
    with pytest.raises(HandoffError, match="deactivated"):
        make_handoff(drop, alice)


def test_it_shows_the_secret_once_and_audits_it_as_a_reveal_by_the_handoff(drop, alice):
    handoff, _ = make_handoff(drop, alice)
    shown = handoff_show(handoff=_fresh(handoff), source_ip="203.0.113.9")
    assert shown.secret == _secret(drop)
    assert shown.secret not in repr(shown)
    with pytest.raises(HandoffClosed):
        handoff_show(handoff=_fresh(handoff), source_ip="203.0.113.10")
    handoff.refresh_from_db()
    assert (handoff.shown_ip, handoff.state_at(timezone.now())) == ("203.0.113.9",
                                                                    HandoffState.SHOWN)
    reveal = AuditEvent.objects.get(action="secret.reveal")
    assert (reveal.actor, reveal.actor_label, reveal.source_ip, reveal.target_id) == (
        None, "hand-off to pat@partner.example", "203.0.113.9", str(drop.pk))
    assert reveal.details["via"] == "hand-off"
    assert reveal.details["handoff"] == str(handoff.pk)
    assert reveal.details["version"] == 1


def test_it_locks_the_link_after_five_wrong_passphrases(drop, alice):
    handoff, _ = make_handoff(drop, alice, passphrase=PASSPHRASE)
    left = []
    for _ in range(5):
        with pytest.raises(WrongPassphrase) as wrong:
            handoff_show(handoff=_fresh(handoff), passphrase="guess-guess-guess",
                         source_ip="198.51.100.4")
        left.append(wrong.value.attempts_left)
    assert left == [4, 3, 2, 1, 0]
    with pytest.raises(HandoffClosed):  # even the right passphrase, now
        handoff_show(handoff=_fresh(handoff), passphrase=PASSPHRASE, source_ip="198.51.100.4")
    handoff.refresh_from_db()
    assert handoff.failed_attempts == 5 and handoff.shown_at is None
    assert handoff.state_at(timezone.now()) == HandoffState.LOCKED
    assert AuditEvent.objects.filter(action="handoff.passphrase_wrong").count() == 5
    lock = AuditEvent.objects.get(action="handoff.lock")
    assert (lock.source_ip, lock.details["attempt"]) == ("198.51.100.4", 5)
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()


def test_it_shows_the_secret_for_the_right_passphrase_after_a_wrong_one(drop, alice):
    handoff, _ = make_handoff(drop, alice, passphrase=PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        handoff_show(handoff=_fresh(handoff), passphrase="", source_ip=None)
    assert handoff_show(handoff=_fresh(handoff), passphrase=PASSPHRASE,
                        source_ip=None).secret == _secret(drop)


def test_the_database_refuses_more_wrong_passphrases_than_the_limit(drop, alice):
    handoff, _ = make_handoff(drop, alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Handoff.objects.filter(pk=handoff.pk).update(failed_attempts=6)


def test_it_revokes_an_open_link_once_and_it_shows_nothing_after(drop, alice, bob, rita):
    handoff, _ = make_handoff(drop, alice)
    with pytest.raises(PermissionDenied):
        handoff_revoke(handoff=_fresh(handoff), actor=rita)
    handoff_revoke(handoff=_fresh(handoff), actor=bob, source_ip="192.0.2.8")
    with pytest.raises(HandoffError, match="no longer open"):
        handoff_revoke(handoff=_fresh(handoff), actor=alice)
    with pytest.raises(HandoffClosed):
        handoff_show(handoff=_fresh(handoff), source_ip=None)
    handoff.refresh_from_db()
    assert (handoff.revoked_by, handoff.shown_at) == (bob, None)
    event = AuditEvent.objects.get(action="handoff.revoke")
    assert (event.actor, event.source_ip) == (bob, "192.0.2.8")


def test_an_expired_link_shows_nothing_and_the_sweep_records_its_expiry_once(
        drop, alice, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    handoff, _ = make_handoff(drop, alice, lifetime=timedelta(hours=1))
    shown, _ = make_handoff(drop, alice, lifetime=timedelta(hours=1))
    handoff_show(handoff=_fresh(shown), source_ip=None)
    assert handoffs_record_expiries(now=start + timedelta(minutes=59)) == []
    later = start + timedelta(hours=1)
    time_machine.move_to(later, tick=False)
    with pytest.raises(HandoffClosed):
        handoff_show(handoff=_fresh(handoff), source_ip=None)
    assert _fresh(handoff).state_at(later) == HandoffState.EXPIRED
    assert handoffs_record_expiries(now=later, dry_run=True) == [
        f"would record the expiry of hand-off {handoff.pk}"]
    assert f"recorded the expiry of hand-off {handoff.pk}" in sweep_run(now=later)
    assert handoffs_record_expiries(now=later + timedelta(minutes=1)) == []
    event = AuditEvent.objects.get(action="handoff.expire")
    assert event.details["handoff"] == str(handoff.pk)
    assert event.details["opened"] is False


def test_it_audits_visits_at_most_once_a_minute_and_spends_nothing(drop, alice, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    handoff, _ = make_handoff(drop, alice)
    audited = [handoff_opened(handoff=_fresh(handoff), source_ip="203.0.113.1", now=start)
               for _ in range(3)]
    later = start + timedelta(seconds=61)
    audited.append(handoff_opened(handoff=_fresh(handoff), source_ip="203.0.113.2", now=later,
                                  method="HEAD"))
    assert audited == [True, False, False, True]
    handoff.refresh_from_db()
    assert (handoff.first_opened_at, handoff.last_opened_at, handoff.shown_at) == (
        start, later, None)
    visits = AuditEvent.objects.filter(action="handoff.open").order_by("at")
    assert [(e.source_ip, e.details["method"], e.details["state"]) for e in visits] == [
        ("203.0.113.1", "GET", "open"), ("203.0.113.2", "HEAD", "open")]


def test_a_link_to_a_version_rotated_away_gives_nothing_and_stays_unspent(drop, alice):
    old, _ = make_handoff(drop, alice)
    rotation_schedule(credential=drop, starts_at=timezone.now() + timedelta(days=2),
                      material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    new, _ = make_handoff(drop, alice, which="pending")
    # The scheduled rotation is replaced by an immediate one: the pending version is never
    # used, and the current one is retired.
    rotation_cancel(rotation=drop.rotations.get(), actor=alice)
    rotation_rotate_now(credential=drop, actor=alice, material=material_for(Kind.SFTP_PASSWORD))
    for handoff in (old, new):
        assert _fresh(handoff).state_at(timezone.now()) == HandoffState.VOID
        with pytest.raises(HandoffClosed):
            handoff_show(handoff=_fresh(handoff), source_ip=None)
        handoff.refresh_from_db()
        assert handoff.shown_at is None
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()


def test_a_link_to_the_pending_version_still_works_once_it_is_current(drop, alice):
    rotation_schedule(credential=drop, starts_at=timezone.now() + timedelta(days=2),
                      material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    new_secret = _secret(drop, "pending")
    handoff, _ = make_handoff(drop, alice, which="pending")
    sweep_run(now=timezone.now() + timedelta(days=2, minutes=1))
    assert drop.versions.get(state="current").pk == handoff.version_id
    assert handoff_show(handoff=_fresh(handoff), source_ip=None).secret == new_secret


def test_deactivating_the_credential_stops_its_links(drop, alice):
    handoff, _ = make_handoff(drop, alice)
    credential_set_active(credential=drop, active=False, actor=alice)
    with pytest.raises(HandoffClosed):
        handoff_show(handoff=_fresh(handoff), source_ip=None)
    credential_set_active(credential=drop, active=True, actor=alice)
    assert handoff_show(handoff=_fresh(handoff), source_ip=None).secret == _secret(drop)


def test_it_emails_only_the_link_and_records_the_outcome(drop, alice):
    handoff = handoff_send(credential=drop, which="current", actor=alice,
                           recipient=Recipient(name="Pat Partner",
                                               email="pat@partner.example"),
                           passphrase=PASSPHRASE, source_ip="192.0.2.1")
    assert handoff.email_state == EmailState.SENT and handoff.emailed_at is not None
    [message] = mail.outbox
    assert message.to == ["pat@partner.example"]
    html = message.alternatives[0][0]
    link = link_in(message.body)
    assert link_in(html) == link
    assert hashlib.sha256(link.rstrip("/").rsplit("/", 1)[1].encode()).hexdigest() == \
        handoff.token_hash
    for text in (message.subject, message.body, html):
        assert _secret(drop) not in text and PASSPHRASE not in text
    assert "Acme drop" in message.subject
    assert "asked for a passphrase" in message.body
    assert " UTC" in message.body
    event = AuditEvent.objects.get(action="handoff.email")
    assert (event.actor, event.details["outcome"]) == (alice, "sent")


def test_an_smtp_failure_is_recorded_and_audited_for_the_sender(drop, alice, settings,
                                                                 captured_logs):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    handoff = handoff_send(credential=drop, which="current", actor=alice,
                           recipient=Recipient(name="Pat", email="pat@partner.example"))
    assert handoff.email_state == EmailState.FAILED
    assert handoff.email_error == "Sending failed (ConnectionRefusedError)."
    event = AuditEvent.objects.get(action="handoff.email")
    assert event.details["outcome"] == "failed"
    assert "ConnectionRefusedError" in event.details["message"]
    assert "email not sent: ConnectionRefusedError" in captured_logs.text


def test_no_audit_detail_or_log_line_holds_the_secret_the_token_or_the_passphrase(
        drop, alice, bob, captured_logs, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    rotation_schedule(credential=drop, starts_at=start + timedelta(days=2),
                      material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    secrets_ = [_secret(drop), _secret(drop, "pending")]
    shown, shown_token = make_handoff(drop, alice, which="pending", passphrase=PASSPHRASE)
    handoff_opened(handoff=_fresh(shown), source_ip="203.0.113.1", now=start)
    with pytest.raises(WrongPassphrase):
        handoff_show(handoff=_fresh(shown), passphrase="not-the-passphrase", source_ip=None)
    handoff_show(handoff=_fresh(shown), passphrase=PASSPHRASE, source_ip="203.0.113.1")
    locked, locked_token = make_handoff(drop, alice, passphrase=PASSPHRASE)
    for _ in range(5):
        with pytest.raises(WrongPassphrase):
            handoff_show(handoff=_fresh(locked), passphrase="wrong-wrong-wrong",
                         source_ip=None)
    revoked, revoked_token = make_handoff(drop, bob)
    handoff_revoke(handoff=_fresh(revoked), actor=bob)
    expired, expired_token = make_handoff(drop, alice, lifetime=timedelta(hours=1))
    sweep_run(now=start + timedelta(hours=2))
    sent = handoff_send(credential=drop, which="current", actor=alice, passphrase=PASSPHRASE,
                        recipient=Recipient(name="Pat", email="pat@partner.example"))
    sent_token = link_in(mail.outbox[-1].body).rstrip("/").rsplit("/", 1)[1]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"handoff.create", "handoff.email", "handoff.open", "handoff.passphrase_wrong",
            "handoff.lock", "handoff.revoke", "handoff.expire", "secret.reveal"} <= actions
    handoffs = [shown, locked, revoked, expired, sent]
    needles = [*secrets_, PASSPHRASE, shown_token, locked_token, revoked_token, expired_token,
               sent_token, *(Handoff.objects.get(pk=h.pk).token_hash for h in handoffs),
               *(Handoff.objects.get(pk=h.pk).passphrase_hash for h in handoffs
                 if h.has_passphrase)]
    trail = json.dumps([[e.actor_label, e.target_label, e.details]
                        for e in AuditEvent.objects.all()])
    for needle in needles:
        assert needle not in trail
        assert needle not in captured_logs.text
