"""Reads of the audit trail for the portal: the audit log page, its CSV export, the overview
and a credential's History tab."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from organizations.models import Organization, User

from .models import AuditEvent

# Every act that gives someone a credential's secret: Reveal in the portal and a hand-off's
# Show (secret.reveal), an API client fetching its new secret with GET /api/credentials/new
# (secret.retrieve) and the export command (credential.export).
REVEAL_ACTIONS = ("secret.reveal", "secret.retrieve", "credential.export")


@dataclass(frozen=True)
class AuditFilters:
    actor: User | None = None
    system_actor: bool = False
    action: str = ""
    credential: str = ""
    since: datetime | None = None
    until: datetime | None = None


def audit_events(*, organization: Organization, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The organization's events, newest first, narrowed by the filters."""
    events = AuditEvent.objects.filter(organization=organization).select_related("actor")
    if filters.actor is not None:
        events = events.filter(actor=filters.actor)
    elif filters.system_actor:
        events = events.filter(actor__isnull=True)
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.credential:
        # An id (from a credential's page) or part of its name.
        events = events.filter(target_type="credential").filter(
            Q(target_id=filters.credential) | Q(target_label__icontains=filters.credential)
        )
    if filters.since is not None:
        events = events.filter(at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(at__lt=filters.until)
    return events.order_by("-at", "-id")


def audit_actions(organization: Organization) -> list[str]:
    """The actions that occur in the organization's trail, for the filter."""
    return list(
        AuditEvent.objects.filter(organization=organization).order_by("action")
        .values_list("action", flat=True).distinct()
    )


def recent_reveals(organization: Organization, limit: int = 10) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        organization=organization, action__in=REVEAL_ACTIONS
    ).order_by("-at", "-id")[:limit]


def recent_changes(organization: Organization, limit: int = 10) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(organization=organization).exclude(
        action__in=REVEAL_ACTIONS
    ).order_by("-at", "-id")[:limit]
