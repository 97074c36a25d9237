"""Writes about accounts that Keyturn decides, each audited in its transaction: an
organization's second-factor rule, a user's own details, and the audit events of what
allauth's flows change (passwords, second factors, single sign-on links)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services import audit_record
from organizations.access import Actor, has_second_factor, require_perm
from organizations.models import Organization, User
from organizations.roles import Perm


class AccountError(Exception):
    pass


def account_event_record(
    *, user: User, action: str, details: dict[str, Any], source_ip: str | None = None,
    actor: Actor | None = None,
) -> None:
    """One event per organization the user belongs to, so that each organization's audit
    log shows what happened to its members' accounts (one without an organization when the
    user belongs to none)."""
    with transaction.atomic():
        organizations = [m.organization for m in user.memberships.select_related("organization")]
        for organization in organizations or [None]:
            audit_record(action=action, actor=actor or user, organization=organization,
                         target=user, source_ip=source_ip, details=details)


@transaction.atomic
def organization_second_factor_set(
    *, organization: Organization, required: bool, actor: User, source_ip: str | None = None,
) -> bool:
    """Requires (or stops requiring) a second factor of every member. Returns whether
    anything changed. An owner turning it on must have a second factor already, so that
    the rule never locks out the one who set it."""
    require_perm(actor, organization, Perm.MANAGE_MEMBERS)
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    if locked.require_second_factor == required:
        return False
    if required and not has_second_factor(actor):
        raise AccountError("Set up a second factor for yourself first (your profile page), "
                           "then require one of every member.")
    locked.require_second_factor = required
    locked.save(update_fields=["require_second_factor"])
    organization.require_second_factor = required
    audit_record(action="organization.second_factor_policy", actor=actor,
                 organization=organization, target=organization, source_ip=source_ip,
                 details={"required": required})
    return True


def sso_user_for(verified_emails: list[str]) -> User | None:
    """The one active user whose email is one of these (verified by the identity
    provider); None when there is none, or more than one (never a guess)."""
    for email in verified_emails:
        users = list(User.objects.filter(email__iexact=email.strip(), is_active=True)[:2])
        if len(users) == 1:
            return users[0]
    return None


@transaction.atomic
def profile_update(
    *, user: User, first_name: str, last_name: str, email: str, time_zone: str,
    source_ip: str | None = None,
) -> list[str]:
    """Saves the user's own details; returns the names of those that changed. A changed
    email is audited (it is where password resets go, and what single sign-on matches)."""
    email = User.objects.normalize_email(email.strip())
    if email and User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        raise AccountError("Another account uses this email address.")
    previous_email = user.email
    values = {"first_name": first_name.strip(), "last_name": last_name.strip(),
              "email": email, "time_zone": time_zone}
    changed = [name for name, value in values.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, values[name])
    if changed:
        user.full_clean(exclude=["password", "username"])
        user.save(update_fields=changed)
    if "email" in changed:
        account_event_record(user=user, action="user.email_change", source_ip=source_ip,
                             details={"previous_email": previous_email, "email": email})
    return changed
