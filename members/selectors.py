"""Reads across organizations, units and memberships for the portal's pages."""

from __future__ import annotations

from django.db.models import QuerySet

from organizations.models import Membership, Organization

from .models import Invitation


def organization_members(organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user").order_by(
        "user__username"
    )


def organization_invitations(organization: Organization) -> QuerySet[Invitation]:
    """Invitations not yet accepted or revoked, expired ones included (they can be re-sent)."""
    return Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, revoked_at__isnull=True,
    ).select_related("invited_by").order_by("-sent_at")
