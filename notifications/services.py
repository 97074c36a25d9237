"""Emails about credentials: expiry reminders (30/14/7 days), rotation complete and rotation
failed. One row per email (a unique constraint) is the outbox: a reminder's row is created as
its claim just before sending; a rotation's row is recorded in the transaction that completes
or fails the rotation and sent after commit. Each row is claimed by a conditional UPDATE before
its email goes, so a milestone goes out once however many workers run the sweep, and an email
whose sender died is sent by the next sweep."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Case, CharField, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from audit.services import audit_record
from credentials.bulk import rows_update
from credentials.hooks import HistorySection
from credentials.models import (
    Credential,
    CredentialVersion,
    Rotation,
    RotationState,
    VersionState,
)
from credentials.sweep import batch_size, chunks, due_credentials, restrict, sweep_step
from credentials.usage import version_recently_used
from organizations.models import BusinessUnit, Membership, User
from organizations.roles import Role
from partners.models import PartnerContact
from partners.selectors import contacts_to_email_many

from .audiences import email_parts, notification_messages, render, sender
from .models import (
    EXPIRY_MILESTONES,
    LAST_CALL_MILESTONES,
    Milestone,
    Notification,
    NotificationState,
    ReminderOptOut,
)
from .selectors import notifications_for_credential

logger = logging.getLogger(__name__)

# How long before expiry each reminder is due, most urgent last.
MILESTONE_LEAD = {
    Milestone.DAY_30: timedelta(days=30),
    Milestone.DAY_14: timedelta(days=14),
    Milestone.DAY_7: timedelta(days=7),
    Milestone.DAY_1: timedelta(days=1),
}
# A claimed email still `pending` this long after its claim was abandoned by a killed worker
# (longer than EMAIL_TIMEOUT, so a slow send is never taken over while it runs).
PENDING_DEADLINE = timedelta(minutes=10)
MAX_SEND_ATTEMPTS = 3
ROTATION_MILESTONES = {
    RotationState.COMPLETED: Milestone.ROTATION_COMPLETE,
    RotationState.FAILED: Milestone.ROTATION_FAILED,
}


class NotificationError(Exception):
    pass


# --- Recipients and rendering --------------------------------------------------------------


def recipients_by_unit(units: Iterable[BusinessUnit]) -> dict[int, list[str]]:
    """For each unit: its contacts and its organization's owners, less those who opted out of
    the unit's reminders (owners cannot opt out: someone must always hear). Two queries for
    any number of units."""
    units = {unit.pk: unit for unit in units}
    organization_ids = {unit.organization_id for unit in units.values()}
    owners: dict[int, list[tuple[int, str]]] = {}
    for organization_id, user_id, email in Membership.objects.filter(
        organization_id__in=organization_ids, role=Role.OWNER, user__is_active=True,
    ).exclude(user__email="").order_by("user_id").values_list(
            "organization_id", "user_id", "user__email"):
        owners.setdefault(organization_id, []).append((user_id, email))
    opted_out: dict[int, set[str]] = {}
    for unit_id, user_id, email in ReminderOptOut.objects.filter(
            business_unit_id__in=units).values_list("business_unit_id", "user_id", "user__email"):
        owner_ids = {pk for pk, _ in owners.get(units[unit_id].organization_id, [])}
        if user_id not in owner_ids:
            opted_out.setdefault(unit_id, set()).add(email.lower())
    recipients = {}
    for unit in units.values():
        seen: dict[str, str] = {}
        for email in [*unit.contact_email_list,
                      *(email for _, email in owners.get(unit.organization_id, []))]:
            if email.lower() not in opted_out.get(unit.pk, set()):
                seen.setdefault(email.lower(), email)
        recipients[unit.pk] = sorted(seen.values())
    return recipients


def recipients_for(business_unit: BusinessUnit) -> list[str]:
    """The unit's contacts and the organization's owners, less those who opted out."""
    return recipients_by_unit([business_unit])[business_unit.pk]


def credential_url(credential: Credential) -> str:
    """An absolute link to the credential's page; after sign-in it still lands there."""
    path = reverse("credential_detail",
                   args=[credential.business_unit.organization.slug, credential.pk])
    return f"{settings.SITE_URL}{path}"



def email_subject(*, name: str, context: dict[str, object]) -> str:
    return " ".join(render(f"notifications/emails/{name}_subject.txt", context).split())


def email_send(*, name: str, context: dict[str, object], recipients: list[str]) -> None:
    """Renders the trio notifications/emails/<name>_{subject.txt,body.txt,body.html} and
    sends it as one multipart message (a hand-off's link: one recipient, sent by a person)."""
    subject, text, html = email_parts(name, context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=sender(),
                                     to=recipients)
    message.attach_alternative(html, "text/html")
    message.send()


# The sweep's emails: each of them for members, and what partner contacts read.
EMAILS = ("expiry_reminder", "rotation_complete", "rotation_failed", "partner_notice")


def emails_warm_up(**kwargs: object) -> None:
    """Loads the URLconf (every email links to a page) and compiles the sweep's email
    templates, in a django-q2 worker as it starts (django_q.signals.post_spawn), so that the
    first batch a fresh worker takes does not pay for them: a cluster of 4 fresh workers
    would pay four times what one pays once."""
    reverse("credential_detail", args=["warm-up", uuid.UUID(int=0)])
    for name in EMAILS:
        for part in ("subject.txt", "body.txt", "body.html"):
            get_template(f"notifications/emails/{name}_{part}")


@dataclass(frozen=True)
class _Email:
    name: str
    context: dict[str, object]


def _reminder_email(notification: Notification,
                    pending: dict[object, CredentialVersion]) -> _Email:
    version = notification.version
    credential = notification.credential
    new_version = pending.get(credential.pk)
    headline = {
        Milestone.DAY_30: "New credentials ready" if new_version
        else "Credential expires in 30 days",
        Milestone.DAY_14: "Reminder",
        Milestone.DAY_7: "Urgent reminder",
        Milestone.DAY_1: "Final reminder",
    }[notification.milestone]
    return _Email("expiry_reminder", {
        "headline": headline, "credential": credential, "version": version,
        "expires_at": version.valid_until, "new_version": new_version,
        "is_api_client": credential.kind_spec.token_client,
        "unit": credential.business_unit, "url": credential_url(credential),
        "site_url": settings.SITE_URL,
        "still_in_use": version_recently_used(version, timezone.now())
        if notification.milestone in LAST_CALL_MILESTONES else None,
    })


def _rotation_email(notification: Notification) -> _Email:
    rotation = notification.rotation
    credential = notification.credential
    name = ("rotation_complete" if notification.milestone == Milestone.ROTATION_COMPLETE
            else "rotation_failed")
    previous = rotation.from_version
    return _Email(name, {
        "credential": credential, "rotation": rotation, "unit": credential.business_unit,
        "new_version": rotation.to_version, "replacement": rotation.replacement,
        "previous_works_until": previous.valid_until
        if previous is not None and previous.state == VersionState.PREVIOUS else None,
        "url": credential_url(credential), "site_url": settings.SITE_URL,
    })


# --- Claim, send, record -------------------------------------------------------------------
#
# A batch claims its emails in one statement (a conditional UPDATE, or the reminders' rows
# inserted with their unique constraints deciding), marked with a token of its own; it reads
# back the ones it won by that token, renders and sends them over one connection, and
# records how each went in one statement.


def _deliver_many(notifications: list[Notification], now: datetime) -> list[Notification]:
    """Sends claimed emails (their credential, unit, organization, version and rotation
    loaded) and records each outcome: recipients resolved once per unit, one mail
    connection, one UPDATE for them all."""
    if not notifications:
        return []
    recipients = recipients_by_unit({n.credential.business_unit for n in notifications})
    announcing = [n.credential_id for n in notifications if n.milestone == Milestone.DAY_30]
    pending = {v.credential_id: v for v in CredentialVersion.objects.filter(
        credential_id__in=announcing, state=VersionState.PENDING)} if announcing else {}
    contacts = contacts_to_email_many({n.credential_id for n in notifications})
    # Partner contacts read "new credentials are ready" whenever a new version is pending.
    pending_any = set(CredentialVersion.objects.filter(
        credential_id__in=contacts, state=VersionState.PENDING
    ).values_list("credential_id", flat=True)) if contacts else set()
    connection, refused = get_connection(), None
    try:
        connection.open()
    except Exception as exc:  # the server is down: each email fails and is retried
        refused = exc
    try:
        for notification in notifications:
            _deliver_one(notification, recipients[notification.credential.business_unit_id],
                         _Batch(pending, contacts, pending_any), connection, refused, now)
    finally:
        if refused is None:
            connection.close()
    rows_update(notifications, ["subject", "recipients", "state", "sent_at", "error"])
    return notifications


@dataclass(frozen=True)
class _Batch:
    """What a batch of emails reads once for them all: pending versions of the credentials
    whose 30-day reminder announces them, partner contacts by credential, and the credentials
    with any pending version."""

    pending: dict[object, CredentialVersion]
    contacts: dict[object, list[PartnerContact]]
    pending_any: set[object]


def _deliver_one(notification: Notification, recipients: list[str], batch: _Batch,
                 connection: Any, refused: Exception | None, now: datetime) -> None:
    email = (_rotation_email(notification) if notification.rotation_id
             else _reminder_email(notification, batch.pending))
    subject = email_subject(name=email.name, context=email.context)
    messages = notification_messages(  # members and partner contacts, one message each
        notification, member_template=email.name, member_context=email.context,
        member_recipients=recipients,
        contacts=batch.contacts.get(notification.credential_id, []),
        new_ready=notification.credential_id in batch.pending_any)
    notification.subject = subject[:300]
    notification.recipients = "\n".join(m.to[0] for m in messages)
    if not messages:
        notification.state = NotificationState.FAILED
        notification.error = "Nobody to send it to: add unit contacts."
        return
    try:
        if refused is not None:
            raise refused
        connection.send_messages(messages)
    except Exception as exc:  # the send is retried by a later sweep
        logger.warning("email %s failed: %s", notification.pk, type(exc).__name__)
        notification.state = NotificationState.FAILED
        notification.error = f"Sending failed ({type(exc).__name__})."
    else:
        notification.state, notification.sent_at, notification.error = (
            NotificationState.SENT, now, "")


def _claimed(token: uuid.UUID) -> list[Notification]:
    """The emails a batch won, with everything their messages say, in one query."""
    return list(Notification.objects.filter(claim=token).select_related(
        "credential__business_unit__organization", "version", "rotation__to_version",
        "rotation__from_version", "rotation__replacement",
    ).order_by("pk"))


def rotation_emails_record(*, rotations: list[Rotation], background: bool = False) -> None:
    """Records the "Rotation complete" or "Rotation failed" emails of `rotations` in the
    transaction that completes or fails them (credentials.rotation calls it through
    ROTATION_OUTCOME_HANDLERS), in one statement, and sends them after that transaction
    commits: at once, or through the django-q2 worker with `background` (for a partner's
    token request or SFTP login). A process that dies between the commit and the send leaves
    the rows recorded and unclaimed, and the sweep sends them (notifications_send_unsent). An
    email already recorded (a retried rotation that failed again) is not recorded twice."""
    Notification.objects.bulk_create([
        Notification(credential_id=rotation.credential_id, rotation=rotation,
                     version_id=rotation.to_version_id,
                     milestone=ROTATION_MILESTONES[rotation.state], subject="", recipients="")
        for rotation in rotations
    ], ignore_conflicts=True)
    rotation_ids = [str(rotation.pk) for rotation in rotations]

    def send() -> None:
        try:
            if background:
                async_task("notifications.tasks.rotation_emails_send",
                           rotation_ids=rotation_ids, task_name="rotation emails")
            else:
                rotation_emails_send(rotation_ids=rotation_ids)
        except Exception as exc:  # never undoes the rotation: the sweep sends them
            logger.warning("rotation emails not sent after commit: %s", type(exc).__name__)

    transaction.on_commit(send)


def rotation_emails_send(*, rotation_ids: list[str], now: datetime | None = None
                         ) -> list[Notification]:
    """Sends the recorded emails of these rotations that nobody has taken yet (the sweep or
    the process that recorded them), so each goes out once."""
    now = now or timezone.now()
    token = uuid.uuid4()
    Notification.objects.filter(
        rotation_id__in=rotation_ids, milestone__in=list(ROTATION_MILESTONES.values()),
        state=NotificationState.PENDING, claimed_at__isnull=True,
    ).update(claimed_at=now, attempts=F("attempts") + 1, claim=token)
    return _deliver_many(_claimed(token), now)


def _window(milestone: str, now: datetime) -> Q:
    """Versions whose expiry is inside `milestone`'s window (the windows do not overlap)."""
    later = [MILESTONE_LEAD[m] for m in EXPIRY_MILESTONES
             if MILESTONE_LEAD[m] < MILESTONE_LEAD[milestone]]
    return Q(valid_until__gt=now + (max(later) if later else timedelta(0)),
             valid_until__lte=now + MILESTONE_LEAD[milestone])


def _due_versions(now: datetime) -> QuerySet[CredentialVersion]:
    """Current versions inside a milestone's window that have not had it, or a more urgent
    reminder, yet, each with the `milestone` due. One query for every milestone, whatever
    the number of credentials."""
    due = Q()
    for index, milestone in enumerate(EXPIRY_MILESTONES):
        had = Exists(Notification.objects.filter(
            version=OuterRef("pk"), milestone__in=EXPIRY_MILESTONES[index:]))
        due |= _window(milestone, now) & ~had
    return CredentialVersion.objects.filter(
        due, state=VersionState.CURRENT, credential__is_active=True,
        valid_until__gt=now, valid_until__lte=now + max(MILESTONE_LEAD.values()),
    ).annotate(milestone=Case(
        *[When(_window(milestone, now), then=Value(milestone.value))
          for milestone in EXPIRY_MILESTONES],
        output_field=CharField(),
    ))


def _due_reminders(now: datetime) -> list[QuerySet[CredentialVersion]]:
    return [_due_versions(now)]


@sweep_step(due=_due_reminders)
def reminders_send_due(*, now: datetime | None = None, dry_run: bool = False,
                       credentials: list[str] | None = None) -> list[str]:
    """Sends every reminder that is due now: for each current version, only the most urgent
    milestone it has reached and not had (the windows do not overlap). After downtime that
    is one email, not a burst. A batch claims its reminders by inserting their rows at once:
    the unique row per version and milestone lets one batch win each."""
    now = now or timezone.now()
    if credentials is None:
        actions: list[str] = []
        for ids in chunks(due_credentials(reminders_send_due, now), batch_size()):
            actions += reminders_send_due(now=now, dry_run=dry_run, credentials=ids)
        return actions
    due = [(version, version.milestone) for version in restrict(
        _due_versions(now), credentials).select_related(
            "credential__business_unit__organization")]
    labels = {version.pk: f"{Milestone(milestone).label} for {version.credential.name} "
                          f"v{version.number}" for version, milestone in due}
    if dry_run:
        return [f"would send {labels[version.pk]}" for version, _ in due]
    if not due:
        return []
    token = uuid.uuid4()
    # In the credentials' order, the order the other steps lock them in: the rows' foreign
    # keys are checked (and the credentials share-locked) in it.
    due.sort(key=lambda pair: (str(pair[0].credential_id), str(pair[0].pk)))
    rows = [Notification(credential=version.credential, version=version, milestone=milestone,
                         subject="", recipients="", attempts=1, claimed_at=now, claim=token)
            for version, milestone in due]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    won = dict(Notification.objects.filter(claim=token).values_list("version_id", "pk"))
    ours = []
    for row in rows:
        if row.version_id in won:
            row.pk = won[row.version_id]
            ours.append(row)
    return [f"sent {labels[row.version_id]}" for row in _deliver_many(ours, now)]


def _unsent(now: datetime) -> QuerySet[Notification]:
    return Notification.objects.filter(
        Q(state=NotificationState.PENDING, claimed_at__isnull=True)
        | Q(state=NotificationState.PENDING, claimed_at__lt=now - PENDING_DEADLINE)
        | Q(state=NotificationState.FAILED),
        attempts__lt=MAX_SEND_ATTEMPTS,
    ).exclude(recipients="", state=NotificationState.FAILED)


@sweep_step(due=lambda now: [_unsent(now)])
def notifications_send_unsent(*, now: datetime | None = None, dry_run: bool = False,
                              credentials: list[str] | None = None) -> list[str]:
    """Sends the emails recorded and never taken (their sender died between its commit and
    the send), takes over those abandoned mid-send, and retries failed ones, a few times.
    A batch claims them in one conditional UPDATE that asks the same again, so only one
    worker sends each."""
    now = now or timezone.now()
    if credentials is None:
        actions: list[str] = []
        for ids in chunks(due_credentials(notifications_send_unsent, now), batch_size()):
            actions += notifications_send_unsent(now=now, dry_run=dry_run, credentials=ids)
        return actions
    if dry_run:
        return [f"would send email {pk}" if claimed_at is None else f"would retry email {pk}"
                for pk, claimed_at in restrict(_unsent(now), credentials).values_list(
                    "pk", "claimed_at")]
    token = uuid.uuid4()
    restrict(_unsent(now), credentials).update(
        state=NotificationState.PENDING, attempts=F("attempts") + 1, claimed_at=now,
        claim=token)
    # Claimed for the first time: recorded, never taken; any later claim is a retry.
    return [f"{'sent' if notification.attempts == 1 else 'retried'} email {notification.pk}"
            for notification in _deliver_many(_claimed(token), now)]


# --- Opting out ----------------------------------------------------------------------------


@transaction.atomic
def reminder_opt_out_set(*, user: User, business_unit: BusinessUnit, opted_out: bool) -> bool:
    """Stops (or restarts) reminder emails about one unit for a user; owners cannot opt out."""
    is_owner = Membership.objects.filter(
        user=user, organization_id=business_unit.organization_id, role=Role.OWNER
    ).exists()
    if opted_out and is_owner:
        raise NotificationError("Owners always receive reminders; they cannot opt out.")
    if opted_out:
        _, changed = ReminderOptOut.objects.get_or_create(user=user, business_unit=business_unit)
    else:
        changed = bool(ReminderOptOut.objects.filter(
            user=user, business_unit=business_unit).delete()[0])
    if changed:
        audit_record(
            action="reminders.opt_out" if opted_out else "reminders.opt_in", actor=user,
            organization=business_unit.organization, target=business_unit,
        )
    return changed



def credential_emails_section(credential: Credential) -> HistorySection:
    """The "Emails sent" section of a credential's History tab: every email sent (or tried)
    about it, newest first."""
    return HistorySection("notifications/_credential_emails.html",
                          {"notifications": list(notifications_for_credential(credential))})
