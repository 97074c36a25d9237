"""Emails about credentials: expiry reminders (30/14/7 days), rotation complete and rotation
failed. One row per email (a unique constraint) is the outbox: a reminder's row is created as
its claim just before sending; a rotation's row is recorded in the transaction that completes
or fails the rotation and sent after commit. Each row is claimed by a conditional UPDATE before
its email goes, so a milestone goes out once however many workers run the sweep, and an email
whose sender died is sent by the next sweep."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from audit.services import audit_record
from credentials.hooks import HistorySection
from credentials.models import (
    Credential,
    CredentialVersion,
    Rotation,
    RotationState,
    VersionState,
)
from credentials.usage import version_recently_used
from organizations.models import BusinessUnit, Membership, User
from organizations.roles import Role

from .audiences import notification_messages, sender
from .models import EXPIRY_MILESTONES, Milestone, Notification, NotificationState, ReminderOptOut
from .selectors import notifications_for_credential

logger = logging.getLogger(__name__)

# How long before expiry each reminder is due, most urgent last.
MILESTONE_LEAD = {
    Milestone.DAY_30: timedelta(days=30),
    Milestone.DAY_14: timedelta(days=14),
    Milestone.DAY_7: timedelta(days=7),
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


def recipients_for(business_unit: BusinessUnit) -> list[str]:
    """The unit's contacts and the organization's owners, less those who opted out of this
    unit's reminders (owners cannot opt out: someone must always hear)."""
    owners = User.objects.filter(
        memberships__organization_id=business_unit.organization_id,
        memberships__role=Role.OWNER, is_active=True,
    ).exclude(email="").values_list("email", flat=True)
    opted_out = {
        email.lower() for email in ReminderOptOut.objects.filter(
            business_unit=business_unit
        ).exclude(
            user__memberships__organization_id=business_unit.organization_id,
            user__memberships__role=Role.OWNER,
        ).values_list("user__email", flat=True)
    }
    seen: dict[str, str] = {}
    for email in [*business_unit.contact_email_list, *owners]:
        if email.lower() not in opted_out:
            seen.setdefault(email.lower(), email)
    return sorted(seen.values())


def credential_url(credential: Credential) -> str:
    """An absolute link to the credential's page; after sign-in it still lands there."""
    path = reverse("credential_detail",
                   args=[credential.business_unit.organization.slug, credential.pk])
    return f"{settings.SITE_URL}{path}"


def _render(template_name: str, context: dict[str, object]) -> str:
    """Emails say their times in UTC, whichever zone the request that sends one runs in (a
    rotation done in the portal sends its email from the user's request)."""
    with timezone.override(UTC):
        return render_to_string(template_name, context)


def email_subject(*, name: str, context: dict[str, object]) -> str:
    return " ".join(_render(f"notifications/emails/{name}_subject.txt", context).split())


def email_send(*, name: str, context: dict[str, object], recipients: list[str]) -> None:
    """Renders the trio notifications/emails/<name>_{subject.txt,body.txt,body.html} and
    sends it as one multipart message."""
    base = f"notifications/emails/{name}"
    subject = email_subject(name=name, context=context)
    message = EmailMultiAlternatives(
        subject=subject, body=_render(f"{base}_body.txt", context),
        from_email=sender(), to=recipients,
    )
    message.attach_alternative(_render(f"{base}_body.html", context), "text/html")
    message.send()


@dataclass(frozen=True)
class _Email:
    name: str
    context: dict[str, object]


def _reminder_email(notification: Notification) -> _Email:
    version = notification.version
    credential = notification.credential
    new_version = credential.versions.filter(state=VersionState.PENDING).first()
    headline = {
        Milestone.DAY_30: "New credentials ready" if new_version
        else "Credential expires in 30 days",
        Milestone.DAY_14: "Reminder",
        Milestone.DAY_7: "Urgent reminder",
    }[notification.milestone]
    return _Email("expiry_reminder", {
        "headline": headline, "credential": credential, "version": version,
        "expires_at": version.valid_until, "new_version": new_version,
        "is_api_client": credential.kind_spec.token_client,
        "unit": credential.business_unit, "url": credential_url(credential),
        "site_url": settings.SITE_URL,
        "still_in_use": version_recently_used(version, timezone.now())
        if notification.milestone == Milestone.DAY_7 else None,
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


def _claim(**fields: object) -> Notification | None:
    """Creates a reminder's row, claimed; None if this email was already claimed by anyone."""
    try:
        with transaction.atomic():
            return Notification.objects.create(subject="", recipients="", attempts=1, **fields)
    except IntegrityError:
        return None


def _deliver(notification: Notification, now: datetime) -> Notification:
    email = (_rotation_email(notification) if notification.rotation_id
             else _reminder_email(notification))
    subject = email_subject(name=email.name, context=email.context)
    messages = notification_messages(  # members and partner contacts, one message each
        notification, member_template=email.name, member_context=email.context,
        member_recipients=recipients_for(notification.credential.business_unit))
    Notification.objects.filter(pk=notification.pk).update(
        subject=subject[:300], recipients="\n".join(m.to[0] for m in messages)
    )
    if not messages:
        Notification.objects.filter(pk=notification.pk).update(
            state=NotificationState.FAILED, error="Nobody to send it to: add unit contacts."
        )
    else:
        try:
            get_connection().send_messages(messages)
        except Exception as exc:  # the send is retried by a later sweep
            logger.warning("email %s failed: %s", notification.pk, type(exc).__name__)
            Notification.objects.filter(pk=notification.pk).update(
                state=NotificationState.FAILED, error=f"Sending failed ({type(exc).__name__})."
            )
        else:
            Notification.objects.filter(pk=notification.pk).update(
                state=NotificationState.SENT, sent_at=now, error=""
            )
    notification.refresh_from_db()
    return notification


def _load(notification_id: int) -> Notification:
    return Notification.objects.select_related(
        "credential__business_unit__organization", "version", "rotation__to_version",
        "rotation__from_version", "rotation__replacement",
    ).get(pk=notification_id)


def rotation_email_record(*, rotation: Rotation, background: bool = False
                          ) -> Notification | None:
    """Records the "Rotation complete" or "Rotation failed" email of `rotation` in the
    transaction that completes or fails it (credentials.rotation calls it through
    ROTATION_OUTCOME_HANDLERS), and sends it after that transaction commits: at once, or
    through the django-q2 worker with `background` (for a partner's token request or SFTP
    login). A process that dies between the commit and the send leaves the row recorded and
    unclaimed, and the sweep sends it (notifications_send_unsent)."""
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                credential_id=rotation.credential_id, rotation=rotation,
                version_id=rotation.to_version_id,
                milestone=ROTATION_MILESTONES[rotation.state], subject="", recipients="",
            )
    except IntegrityError:
        return None  # recorded already: a retried rotation that failed again
    notification_id = notification.pk

    def send() -> None:
        try:
            if background:
                async_task("notifications.services.notification_send",
                           notification_id=notification_id,
                           task_name=f"email {notification.milestone}")
            else:
                notification_send(notification_id=notification_id)
        except Exception as exc:  # never undoes the rotation: the sweep sends it
            logger.warning("email %s not sent after commit: %s", notification_id,
                           type(exc).__name__)

    transaction.on_commit(send)
    return notification


def notification_send(*, notification_id: int, now: datetime | None = None
                      ) -> Notification | None:
    """Sends a recorded email that nobody has taken yet; None if someone has (the sweep or
    the process that recorded it), so it goes out once."""
    now = now or timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, state=NotificationState.PENDING, claimed_at__isnull=True
    ).update(claimed_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        return None
    return _deliver(_load(notification_id), now)


def _due_versions(milestone: str, now: datetime) -> QuerySet[CredentialVersion]:
    """Current versions inside `milestone`'s window that have not had it, or a more urgent
    reminder, yet. A single query, whatever the number of credentials."""
    urgent_or_same = EXPIRY_MILESTONES[EXPIRY_MILESTONES.index(milestone):]
    later = [MILESTONE_LEAD[m] for m in EXPIRY_MILESTONES if MILESTONE_LEAD[m] < MILESTONE_LEAD[
        milestone]]
    lower = now + (max(later) if later else timedelta(0))
    return CredentialVersion.objects.filter(
        state=VersionState.CURRENT, credential__is_active=True,
        valid_until__gt=lower, valid_until__lte=now + MILESTONE_LEAD[milestone],
    ).exclude(
        Exists(Notification.objects.filter(version=OuterRef("pk"),
                                           milestone__in=urgent_or_same))
    ).select_related("credential__business_unit__organization")


def reminders_send_due(*, now: datetime | None = None, dry_run: bool = False) -> list[str]:
    """Sends every reminder that is due now: for each current version, only the most urgent
    milestone it has reached and not had. After downtime that is one email, not a burst."""
    now = now or timezone.now()
    done = []
    for milestone in reversed(EXPIRY_MILESTONES):  # most urgent first
        for version in _due_versions(milestone, now):
            label = f"{Milestone(milestone).label} for {version.credential.name} v{version.number}"
            if dry_run:
                done.append(f"would send {label}")
                continue
            claimed = _claim(credential=version.credential, version=version,
                             milestone=milestone, claimed_at=now)
            if claimed is not None:
                _deliver(_load(claimed.pk), now)
                done.append(f"sent {label}")
    return done


def notifications_send_unsent(*, now: datetime | None = None, dry_run: bool = False
                              ) -> list[str]:
    """Sends the emails recorded and never taken (their sender died between its commit and
    the send), takes over those abandoned mid-send, and retries failed ones, a few times.
    Each is claimed by a conditional UPDATE on what was read, so only one worker sends it."""
    now = now or timezone.now()
    unsent = Notification.objects.filter(
        Q(state=NotificationState.PENDING, claimed_at__isnull=True)
        | Q(state=NotificationState.PENDING, claimed_at__lt=now - PENDING_DEADLINE)
        | Q(state=NotificationState.FAILED),
        attempts__lt=MAX_SEND_ATTEMPTS,
    ).exclude(recipients="", state=NotificationState.FAILED).only(
        "pk", "state", "attempts", "claimed_at")
    done = []
    for notification in unsent:
        verb = "sent" if notification.claimed_at is None else "retried"
        if dry_run:
            done.append(f"would send email {notification.pk}" if verb == "sent"
                        else f"would retry email {notification.pk}")
            continue
        reclaimed = Notification.objects.filter(
            pk=notification.pk, state=notification.state, attempts=notification.attempts,
            claimed_at=notification.claimed_at,
        ).update(state=NotificationState.PENDING, attempts=notification.attempts + 1,
                 claimed_at=now)
        if reclaimed == 1:
            _deliver(_load(notification.pk), now)
            done.append(f"{verb} email {notification.pk}")
    return done


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
