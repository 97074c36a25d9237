"""Hand-offs: one version's secret given once to a partner contact through an emailed link.

The rules live here: who may send (those who may reveal), how long a link lives, the
passphrase and its lockout, the single spend, revocation and the expiry the sweep records.
Each write runs in one transaction with its audit event; the link's token exists only in
handoff_send() and the email, the secret only in handoff_show()'s answer. Neither is ever in
an audit detail, a log line or an exception."""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.services import audit_record, audit_record_many
from credentials.kinds import kind_for
from credentials.models import Credential, CredentialVersion, VersionState
from credentials.services import version_secret, version_summary
from credentials.sweep import restrict, sweep_step
from notifications.services import email_send
from organizations.access import SYSTEM, Actor, SystemActor, require_perm, user_of
from organizations.models import User
from organizations.roles import Perm

from .models import MAX_PASSPHRASE_ATTEMPTS, EmailState, Handoff, HandoffState

logger = logging.getLogger(__name__)

# How long a link may live: the choices of the send form, the default, and the bound.
LIFETIMES = (timedelta(hours=1), timedelta(hours=24), timedelta(hours=72), timedelta(days=7))
DEFAULT_LIFETIME = timedelta(hours=72)
MAX_LIFETIME = timedelta(days=7)
PASSPHRASE_MIN_LENGTH = 8
PASSPHRASE_MAX_LENGTH = 200
# Visits of a link are audited at most this often each, so that a scanner cannot flood the
# trail.
OPEN_AUDIT_INTERVAL = timedelta(minutes=1)
# Which version a link gives: the new one of a scheduled or automatic rotation, or the
# current one.
VERSION_CHOICES = {"pending": VersionState.PENDING, "current": VersionState.CURRENT}


class HandoffError(Exception):
    """A refusal, worded for the person who sees it; `field` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class HandoffClosed(HandoffError):
    """The link gives nothing now: shown, revoked, locked, expired or no longer in use."""


class WrongPassphrase(HandoffError):
    def __init__(self, attempts_left: int) -> None:
        self.attempts_left = attempts_left
        super().__init__(
            f"Wrong passphrase: {attempts_left} more {'try' if attempts_left == 1 else 'tries'} "
            "before the link locks." if attempts_left else
            "Wrong passphrase: the link is now locked.", field="passphrase")


@dataclass(frozen=True)
class Recipient:
    """Whom a link goes to. Given as values, so that a saved partner contact can be offered
    later as well as a name and address typed in."""

    name: str
    email: str


@dataclass(frozen=True)
class Shown:
    """What Show gives, once: the secret and its version's public side."""

    secret: str
    version: CredentialVersion

    def __repr__(self) -> str:
        return f"<Shown {self.version.pk} secret=***>"


# A link's token as _new_token() makes it: 32 random bytes, base64url without padding. The
# URL pattern, the lookup and the log filter all use this one pattern.
TOKEN_PATTERN = r"[A-Za-z0-9_-]{43}"


def token_hash(token: str) -> str:
    """What is stored and looked up: the token is 256 random bits, so a plain SHA-256 of it
    can be neither reversed nor guessed."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)  # 32 random bytes, base64url: 43 characters
    return token, token_hash(token)


def handoff_actor(handoff: Handoff) -> SystemActor:
    """Who acts when the partner opens or uses a link: the hand-off itself, named by its
    recipient, and only in its organization."""
    label = f"hand-off to {handoff.recipient_email}"[:200]
    return SystemActor(label=label, organization_id=handoff.credential.business_unit
                       .organization_id)


def handoff_url(token: str) -> str:
    return f"{settings.SITE_URL}{reverse('handoff_open', args=[token])}"


def _details(handoff: Handoff, **more: object) -> dict[str, object]:
    """What every hand-off event says: which hand-off and to whom; never the token."""
    return {"handoff": str(handoff.pk), "recipient": handoff.recipient, **more}


def _open_links(now: datetime) -> QuerySet[Handoff]:
    """Links that still work (the condition of every conditional UPDATE that uses one)."""
    return Handoff.objects.filter(shown_at__isnull=True, revoked_at__isnull=True,
                                  locked_at__isnull=True, expires_at__gt=now)


# --- Sending --------------------------------------------------------------------------------


def recipient_check(recipient: Recipient) -> Recipient:
    name = " ".join(recipient.name.split())
    if not name:
        raise HandoffError("Enter the recipient's name.", field="recipient_name")
    if len(name) > 200 or any(unicodedata.category(c).startswith("C") for c in name):
        raise HandoffError("Use at most 200 characters, without control characters.",
                           field="recipient_name")
    email = User.objects.normalize_email(recipient.email.strip())
    try:
        validate_email(email)
    except ValidationError:
        raise HandoffError("Enter a valid email address.", field="recipient_email") from None
    return Recipient(name=name, email=email)


def _passphrase_hash(passphrase: str) -> str:
    if not passphrase:
        return ""
    if not PASSPHRASE_MIN_LENGTH <= len(passphrase) <= PASSPHRASE_MAX_LENGTH:
        raise HandoffError(f"Use {PASSPHRASE_MIN_LENGTH} to {PASSPHRASE_MAX_LENGTH} characters, "
                           "or leave it empty.", field="passphrase")
    return make_password(passphrase)


@transaction.atomic
def handoff_create(
    *, credential: Credential, which: str, recipient: Recipient, lifetime: timedelta,
    passphrase: str, actor: Actor, now: datetime, source_ip: str | None = None,
) -> tuple[Handoff, str]:
    """A new hand-off of the credential's `which` version ("pending" or "current") and the
    token of its link, which is returned once, for the email, and never stored."""
    organization = credential.business_unit.organization
    require_perm(actor, organization, Perm.REVEAL)
    kind_for(credential.kind)  # a kind no release registers gives nothing
    if not credential.is_active:
        raise HandoffError("This credential is deactivated: its secret works nowhere.")
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise HandoffError("A link lives at most 7 days.", field="lifetime")
    state = VERSION_CHOICES.get(which)
    chosen = credential.versions.filter(state=state).first() if state else None
    if chosen is None or chosen.is_expired(now):
        raise HandoffError("This credential has no such version to send.", field="which")
    recipient = recipient_check(recipient)
    token, hashed = _new_token()
    handoff = Handoff.objects.create(
        credential=credential, version=chosen, recipient_name=recipient.name,
        recipient_email=recipient.email, created_by=user_of(actor), created_at=now,
        expires_at=now + lifetime, token_hash=hashed,
        passphrase_hash=_passphrase_hash(passphrase),
    )
    audit_record(
        action="handoff.create", actor=actor, organization=organization, target=credential,
        source_ip=source_ip,
        details=_details(handoff, version=version_summary(chosen),
                         expires_at=handoff.expires_at, passphrase=handoff.has_passphrase),
    )
    return handoff, token


def _email_context(handoff: Handoff, token: str) -> dict[str, object]:
    credential = handoff.credential
    sender = handoff.created_by
    spec = credential.kind_spec
    return {
        "handoff": handoff, "credential": credential, "kind": spec.label,
        "secret_label": spec.secret_label, "noun": spec.secret_noun,
        "organization": credential.business_unit.organization,
        "sender_name": (sender.get_full_name() or sender.get_username()) if sender else "",
        "sender_email": sender.email if sender else "",
        "pending": handoff.version.state == VersionState.PENDING,
        "starts_at": handoff.version.valid_from, "url": handoff_url(token),
        "max_attempts": MAX_PASSPHRASE_ATTEMPTS,
    }


def handoff_email(*, handoff: Handoff, token: str, actor: Actor, now: datetime,
                  source_ip: str | None = None) -> Handoff:
    """Emails the link and records how that went; a failure (the SMTP server refused, or
    did not answer) is recorded and audited, for the sender to see, never raised."""
    error = ""
    try:
        email_send(name="handoff_link", context=_email_context(handoff, token),
                   recipients=[handoff.recipient_email])
    except Exception as exc:  # whatever the mail server did, the sender is told
        error = f"Sending failed ({type(exc).__name__})."
        logger.warning("hand-off %s: email not sent: %s", handoff.pk, type(exc).__name__)
    handoff.email_state = EmailState.FAILED if error else EmailState.SENT
    handoff.emailed_at = None if error else now
    handoff.email_error = error
    with transaction.atomic():
        handoff.save(update_fields=["email_state", "emailed_at", "email_error"])
        audit_record(
            action="handoff.email", actor=actor,
            organization=handoff.credential.business_unit.organization,
            target=handoff.credential, source_ip=source_ip,
            details=_details(handoff, outcome="failed" if error else "sent",
                             message=error or None),
        )
    return handoff


def handoff_send(
    *, credential: Credential, which: str, recipient: Recipient,
    lifetime: timedelta = DEFAULT_LIFETIME, passphrase: str = "", actor: Actor,
    source_ip: str | None = None, now: datetime | None = None,
) -> Handoff:
    """Creates a hand-off and emails its link to the recipient. The hand-off comes back with
    its email's outcome (`email_state`), which the sender must be told."""
    now = now or timezone.now()
    handoff, token = handoff_create(
        credential=credential, which=which, recipient=recipient, lifetime=lifetime,
        passphrase=passphrase, actor=actor, now=now, source_ip=source_ip)
    return handoff_email(handoff=handoff, token=token, actor=actor, now=now,
                         source_ip=source_ip)


@transaction.atomic
def handoff_revoke(*, handoff: Handoff, actor: Actor, now: datetime | None = None,
                   source_ip: str | None = None) -> Handoff:
    """Its link stops working at once."""
    now = now or timezone.now()
    organization = handoff.credential.business_unit.organization
    require_perm(actor, organization, Perm.REVEAL)
    revoked = _open_links(now).filter(pk=handoff.pk).update(revoked_at=now,
                                                            revoked_by=user_of(actor))
    if revoked != 1:
        raise HandoffError("This link is no longer open: it was used, revoked, locked or has "
                           "expired meanwhile.")
    handoff.refresh_from_db()
    audit_record(action="handoff.revoke", actor=actor, organization=organization,
                 target=handoff.credential, source_ip=source_ip, details=_details(handoff))
    return handoff


# --- The partner's side -----------------------------------------------------------------------


@transaction.atomic
def handoff_opened(*, handoff: Handoff, source_ip: str | None, now: datetime,
                   method: str = "GET") -> bool:
    """Records a visit of the link (opening it spends nothing); audited at most once per
    OPEN_AUDIT_INTERVAL for each hand-off. Returns whether this visit was audited."""
    recorded = Handoff.objects.filter(
        Q(last_opened_at__isnull=True) | Q(last_opened_at__lte=now - OPEN_AUDIT_INTERVAL),
        pk=handoff.pk,
    ).update(last_opened_at=now,
             first_opened_at=Coalesce(F("first_opened_at"), Value(now)))
    if recorded != 1:
        return False
    audit_record(
        action="handoff.open", actor=handoff_actor(handoff),
        organization=handoff.credential.business_unit.organization, target=handoff.credential,
        source_ip=source_ip,
        details=_details(handoff, state=handoff.state_at(now).value, method=method),
    )
    return True


def _passphrase_failed(handoff: Handoff, source_ip: str | None, now: datetime) -> int:
    """Counts a wrong passphrase (a conditional UPDATE: concurrent tries each count, and never
    past the limit) and locks the link at the limit. Returns the tries left."""
    organization = handoff.credential.business_unit.organization
    actor = handoff_actor(handoff)
    with transaction.atomic():
        counted = _open_links(now).filter(
            pk=handoff.pk, failed_attempts__lt=MAX_PASSPHRASE_ATTEMPTS,
        ).update(failed_attempts=F("failed_attempts") + 1)
        if counted != 1:
            raise HandoffClosed("This link no longer works.")
        attempts = Handoff.objects.values_list("failed_attempts", flat=True).get(pk=handoff.pk)
        audit_record(action="handoff.passphrase_wrong", actor=actor, organization=organization,
                     target=handoff.credential, source_ip=source_ip,
                     details=_details(handoff, attempt=attempts))
        if attempts >= MAX_PASSPHRASE_ATTEMPTS and Handoff.objects.filter(
                pk=handoff.pk, locked_at__isnull=True).update(locked_at=now) == 1:
            audit_record(action="handoff.lock", actor=actor, organization=organization,
                         target=handoff.credential, source_ip=source_ip,
                         details=_details(handoff, attempt=attempts))
    return MAX_PASSPHRASE_ATTEMPTS - attempts


@sensitive_variables("secret")
def handoff_show(*, handoff: Handoff, passphrase: str = "", source_ip: str | None,
                 now: datetime | None = None) -> Shown:
    """The secret, once: the passphrase first (if the link has one), then the link is spent
    by a conditional UPDATE and the version's secret decrypted and audited as a reveal by the
    hand-off, in one transaction. Raises WrongPassphrase (counted, committed) or HandoffClosed
    (nothing changed)."""
    now = now or timezone.now()
    if handoff.state_at(now) != HandoffState.OPEN:
        raise HandoffClosed("This link no longer works.")
    if handoff.has_passphrase and not check_password(passphrase, handoff.passphrase_hash):
        raise WrongPassphrase(_passphrase_failed(handoff, source_ip, now))
    with transaction.atomic():
        spent = _open_links(now).filter(pk=handoff.pk).update(shown_at=now, shown_ip=source_ip)
        if spent != 1:
            raise HandoffClosed("This link no longer works.")
        version = CredentialVersion.objects.get(pk=handoff.version_id)
        credential = Credential.objects.select_related("business_unit__organization").get(
            pk=handoff.credential_id)
        kind_for(credential.kind)
        handoff.version, handoff.credential = version, credential
        if not handoff.secret_in_use_at(now):  # rotated away meanwhile: rolled back, unspent
            raise HandoffClosed("This link no longer works.")
        secret = version_secret(version)
        audit_record(
            action="secret.reveal", actor=handoff_actor(handoff),
            organization=credential.business_unit.organization, target=credential,
            source_ip=source_ip,
            details={**version_summary(version), "via": "hand-off", "handoff": str(handoff.pk),
                     "recipient": handoff.recipient},
        )
    handoff.shown_at, handoff.shown_ip = now, source_ip
    return Shown(secret=secret, version=version)


# --- The scheduled pass ---------------------------------------------------------------------


def _expired_unused(now: datetime) -> QuerySet[Handoff]:
    return Handoff.objects.filter(
        shown_at__isnull=True, revoked_at__isnull=True, locked_at__isnull=True,
        expiry_recorded_at__isnull=True, expires_at__lte=now,
    )


@sweep_step(due=lambda now: [_expired_unused(now)])
def handoffs_record_expiries(*, now: datetime | None = None, dry_run: bool = False,
                             credentials: list[str] | None = None) -> list[str]:
    """A step of the sweep (settings.KEYTURN_SWEEP_STEPS): audits each link that expired
    unused, once: a batch locks and re-reads its links (another worker may have recorded
    them meanwhile), marks them in one UPDATE and audits them in one statement."""
    now = now or timezone.now()
    if dry_run:
        return [f"would record the expiry of hand-off {pk}"
                for pk in restrict(_expired_unused(now), credentials).values_list(
                    "pk", flat=True)]
    with transaction.atomic():
        handoffs = list(restrict(_expired_unused(now), credentials).select_for_update(
            of=("self",)).select_related("credential__business_unit__organization")
            .order_by("pk"))
        Handoff.objects.filter(pk__in=[h.pk for h in handoffs]).update(expiry_recorded_at=now)
        audit_record_many([{
            "action": "handoff.expire", "actor": SYSTEM,
            "organization": handoff.credential.business_unit.organization,
            "target": handoff.credential,
            "details": _details(handoff, expired_at=handoff.expires_at,
                                opened=handoff.first_opened_at is not None),
        } for handoff in handoffs])
    return [f"recorded the expiry of hand-off {handoff.pk}" for handoff in handoffs]
