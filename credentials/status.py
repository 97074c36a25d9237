"""The one place that decides a credential's status badges, in Python and in SQL.

How badges combine (every page, filter and API uses this):
- exactly one of **Active** (the credential is enabled and at least one active connection uses
  it) or **Inactive** (it is deactivated, or no active connection uses it);
- at most one of **Expired** (its current version's expiry has passed: it no longer works) or
  **Expiring Soon** (it expires within 14 days);
- **Rotation scheduled** whenever a scheduled rotation is pending, whatever else is shown.

So "Active + Expired" is possible and is the combination security staff must act on first: a
connection still relies on a credential that no longer works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Subquery

from .models import Connection, CredentialVersion, Rotation, RotationState, VersionState

EXPIRING_SOON_WINDOW = timedelta(days=14)


class Badge(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    EXPIRING_SOON = "expiring_soon", "Expiring Soon"
    EXPIRED = "expired", "Expired"
    ROTATION_SCHEDULED = "rotation_scheduled", "Rotation scheduled"


class HasStatusFacts(Protocol):
    """What badges are made of: a credential annotated by `with_status`, a StatusFacts."""

    is_active: bool
    in_use: bool
    expires_at: datetime | None
    rotation_scheduled: bool


@dataclass(frozen=True)
class StatusFacts:
    is_active: bool
    in_use: bool
    expires_at: datetime | None
    rotation_scheduled: bool


def badges_for(facts: HasStatusFacts, now: datetime) -> list[Badge]:
    badges = [Badge.ACTIVE if facts.is_active and facts.in_use else Badge.INACTIVE]
    if facts.expires_at is not None:
        if now >= facts.expires_at:
            badges.append(Badge.EXPIRED)
        elif facts.expires_at - now <= EXPIRING_SOON_WINDOW:
            badges.append(Badge.EXPIRING_SOON)
    if facts.rotation_scheduled:
        badges.append(Badge.ROTATION_SCHEDULED)
    return badges


def with_status(queryset: models.QuerySet, *, current: str | None = None) -> models.QuerySet:
    """Annotates credentials with the facts badges are made of, in one query. `current`: the
    name of a relation of the queryset to the credentials' current versions (a
    FilteredRelation: at most one per credential, by a constraint), which the expiry is then
    read from instead of a subquery."""
    expires_at = F(f"{current}__valid_until") if current else Subquery(
        CredentialVersion.objects.filter(credential=OuterRef("pk"), state=VersionState.CURRENT)
        .values("valid_until")[:1]
    )
    return queryset.annotate(
        expires_at=expires_at,
        in_use=Exists(Connection.objects.filter(credential=OuterRef("pk"), is_active=True)),
        rotation_scheduled=Exists(
            Rotation.objects.filter(credential=OuterRef("pk"), state=RotationState.SCHEDULED)
        ),
    )


def credential_badges(credential: object, now: datetime) -> list[Badge]:
    """The badges of a credential annotated by `with_status` (or any HasStatusFacts)."""
    return badges_for(credential, now)  # type: ignore[arg-type]


def status_q(badge: str, now: datetime) -> Q:
    """The filter, on a `with_status` queryset, that keeps credentials showing `badge`."""
    active = Q(is_active=True, in_use=True)
    expired = Q(expires_at__isnull=False, expires_at__lte=now)
    soon = Q(expires_at__gt=now, expires_at__lte=now + EXPIRING_SOON_WINDOW)
    return {
        Badge.ACTIVE: active,
        Badge.INACTIVE: ~active,
        Badge.EXPIRED: expired,
        Badge.EXPIRING_SOON: soon,
        Badge.ROTATION_SCHEDULED: Q(rotation_scheduled=True),
    }[Badge(badge)]


def indexed_status_q(badge: str, now: datetime) -> Q:
    """The same filter as status_q, on credentials with or without `with_status`, written to
    start from an index where one fits: Expired and Expiring Soon from the current versions'
    (state, valid_until), through a join (one current version per credential: a
    constraint), rather than from every credential's computed expiry."""
    current = Q(versions__state=VersionState.CURRENT)
    if badge == Badge.EXPIRED:
        return current & Q(versions__valid_until__lte=now)
    if badge == Badge.EXPIRING_SOON:
        return current & Q(versions__valid_until__gt=now,
                           versions__valid_until__lte=now + EXPIRING_SOON_WINDOW)
    if badge == Badge.ROTATION_SCHEDULED:
        # One open rotation per credential (a constraint): the join adds no row.
        return Q(rotations__state=RotationState.SCHEDULED)
    active = Q(Exists(Connection.objects.filter(credential=OuterRef("pk"), is_active=True)),
               is_active=True)
    return active if badge == Badge.ACTIVE else ~active


def badge_sets(credentials: models.QuerySet, now: datetime) -> dict[str, models.QuerySet]:
    """For counting: `credentials` (not annotated) as a whole ("total") and those showing
    each badge but Inactive, each filtered by indexed_status_q. Inactive is the rest: see
    badge_counts."""
    return {"total": credentials} | {
        badge.value: credentials.filter(indexed_status_q(badge, now))
        for badge in Badge if badge != Badge.INACTIVE
    }


def badge_counts(set_sizes: dict[str, int]) -> dict[str, int]:
    """The sizes of badge_sets as counts per badge (and "total"): every credential shows
    exactly one of Active or Inactive."""
    return {**set_sizes, Badge.INACTIVE.value: set_sizes["total"] - set_sizes[Badge.ACTIVE]}
