from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models, router

from config.instances import columns, prefixed
from config.prepared import PreparedQuery

from .roles import Role, role_has_perm


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone.")


class User(AbstractUser):
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone],
        help_text="Dates and times are shown in this zone (stored in UTC).",
    )

    def organization_roles(self) -> dict[Organization, str]:
        """The user's organizations (by name) and role in each, cached on the instance, which
        lives as long as the request: the pages' access checks, menus and organization
        switcher all ask it. A request's user comes with them (user_with_organizations);
        another instance reads them in one query at its first call."""
        cached = getattr(self, "_keyturn_memberships", None)
        if cached is None:
            using = router.db_for_read(Membership)
            cached = _roles(_ROLES_OF_USER.rows(user=self.pk, using=using), using)
            self._keyturn_memberships = cached
        return cached

    def role_in(self, organization: Organization) -> str | None:
        """The user's role in the organization (see organization_roles)."""
        return self.organization_roles().get(organization)

    def has_org_perm(self, organization: Organization, perm: str) -> bool:
        if not self.is_active:
            return False
        role = self.role_in(organization)
        return role is not None and role_has_perm(role, perm)


class OrganizationQuerySet(models.QuerySet):
    def for_user(self, user: User) -> OrganizationQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by an owner (accounts.services.organization_second_factor_set); enforced by
    # organizations.access.get_organization.
    require_second_factor = models.BooleanField(
        default=False, help_text="Every member must sign in with a second factor.")

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BusinessUnitQuerySet(models.QuerySet):
    def for_user(self, user: User) -> BusinessUnitQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(organization__memberships__user=user)


class BusinessUnit(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="business_units"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60)
    contact_emails = models.TextField(
        blank=True, help_text="Who gets reminder emails about this unit's credentials, one a line."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = BusinessUnitQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="unique_unit_slug"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def contact_email_list(self) -> list[str]:
        return [line.strip() for line in self.contact_emails.splitlines() if line.strip()]


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="one_membership"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} as {self.get_role_display()}"


# Every signed-in request reads its user, and its pages the user's organizations and roles
# (header, sidebar, access checks): compiled once per process, run with the user's id.
USER_COLUMNS = columns(User)
ORGANIZATION_COLUMNS = columns(Organization)
_ROLES_OF_USER = PreparedQuery(
    lambda p: Membership.objects.filter(user=p["user"]).order_by(
        "organization__name", "organization_id",
    ).values_list("role", *prefixed("organization", ORGANIZATION_COLUMNS)),
    user=Membership._meta.get_field("user"),
)
# The same with the user's own columns first, a row per membership (one, without a role, for
# a user who has none).
_USER_WITH_ROLES = PreparedQuery(
    lambda p: User.objects.filter(pk=p["id"]).order_by(
        "memberships__organization__name", "memberships__organization_id",
    ).values_list(*USER_COLUMNS, "memberships__role",
                  *prefixed("memberships__organization", ORGANIZATION_COLUMNS)),
    id=User._meta.pk,
)


def _roles(rows: Iterable[tuple[Any, ...]], using: str) -> dict[Organization, str]:
    """Rows of (role, the organization's columns...) as organization_roles() answers them."""
    return {Organization.from_db(using, ORGANIZATION_COLUMNS, row[1:]): row[0] for row in rows}


def user_with_organizations(user_id: Any) -> User | None:
    """The user with this id as the ORM loads it, or None, with its organization_roles()
    read by the same query: what the authentication backends give every signed-in request."""
    using = router.db_for_read(User)
    rows = _USER_WITH_ROLES.rows(id=user_id, using=using)
    if not rows:
        return None
    width = len(USER_COLUMNS)
    user = User.from_db(using, USER_COLUMNS, rows[0][:width])
    user._keyturn_memberships = _roles(  # type: ignore[attr-defined]
        (row[width:] for row in rows if row[width] is not None), using)
    return user
