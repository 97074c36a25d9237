"""Reads across organizations, units and memberships for the portal's pages."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.db.models import Exists, OuterRef, QuerySet

from organizations.access import SECOND_FACTOR_TYPES
from organizations.models import Membership, Organization

from .models import Invitation


def organization_members(organization: Organization) -> QuerySet[Membership]:
    """Members with `has_second_factor` (an authenticator app or a security key)."""
    factors = Authenticator.objects.filter(user_id=OuterRef("user_id"),
                                           type__in=SECOND_FACTOR_TYPES)
    return Membership.objects.filter(organization=organization).select_related("user").annotate(
        has_second_factor=Exists(factors)).order_by("user__username")


def organization_invitations(organization: Organization) -> QuerySet[Invitation]:
    """Invitations not yet accepted or revoked, expired ones included (they can be re-sent)."""
    return Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, revoked_at__isnull=True,
    ).select_related("invited_by").order_by("-sent_at")


def accepted_invitation(token_hash: str) -> Invitation | None:
    """The invitation a link led to, if it was accepted: its link is spent, but whoever holds
    it joined (or the address did), so it still leads to the organization."""
    return Invitation.objects.select_related("organization").filter(
        token_hash=token_hash, accepted_at__isnull=False).first()
