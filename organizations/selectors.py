"""Reads across organizations, units and memberships for the portal's pages."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Membership, Organization


def organization_members(organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user").order_by(
        "user__username"
    )
