"""Writes to organizations, units, memberships and users; each audited in its transaction."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record

from .models import Membership, Organization, User
from .roles import Perm, Role


class MembershipError(Exception):
    pass


@transaction.atomic
def membership_set_role(
    *, organization: Organization, user: User, role: str, actor: User | None,
    source_ip: str | None = None,
) -> Membership:
    if role not in Role.values:
        raise MembershipError(f"Unknown role {role!r}.")
    if actor is not None and not actor.has_org_perm(organization, Perm.MANAGE_MEMBERS):
        raise MembershipError("You may not manage members of this organization.")
    membership, created = Membership.objects.select_for_update().get_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    previous = None if created else membership.role
    if not created and membership.role != role:
        _keep_an_owner(organization, membership, new_role=role)
        membership.role = role
        membership.save(update_fields=["role"])
    if created or previous != role:
        audit_record(
            action="member.add" if created else "member.role", actor=actor,
            organization=organization, target=user, source_ip=source_ip,
            details={"role": role, "previous_role": previous},
        )
    return membership


def _keep_an_owner(
    organization: Organization, membership: Membership, new_role: str | None
) -> None:
    if membership.role == Role.OWNER and new_role != Role.OWNER:
        # Locked, so that two owners demoting each other at once cannot leave none.
        owners = list(Membership.objects.select_for_update().filter(
            organization=organization, role=Role.OWNER).values_list("pk", flat=True))
        if len(owners) <= 1:
            raise MembershipError("An organization needs at least one owner.")


@transaction.atomic
def membership_remove(
    *, membership: Membership, actor: User, source_ip: str | None = None
) -> None:
    if not actor.has_org_perm(membership.organization, Perm.MANAGE_MEMBERS):
        raise MembershipError("You may not manage members of this organization.")
    _keep_an_owner(membership.organization, membership, new_role=None)
    audit_record(
        action="member.remove", actor=actor, organization=membership.organization,
        target=membership.user, source_ip=source_ip, details={"role": membership.role},
    )
    membership.delete()


@transaction.atomic
def user_disable(*, user: User, actor: User | None, source_ip: str | None = None) -> int:
    """Disables a user and ends every session they have. Returns how many sessions ended."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()
            ended += 1
    for membership in user.memberships.select_related("organization"):
        audit_record(
            action="user.disable", actor=actor, organization=membership.organization,
            target=user, source_ip=source_ip, details={"sessions_ended": ended},
        )
    return ended


@transaction.atomic
def membership_invite(
    *, organization: Organization, email: str, role: str, actor: User,
    source_ip: str | None = None,
) -> tuple[Membership, bool]:
    """Adds the user with this email address to the organization. An unknown address gets a
    new user with an unusable password (they choose one through the emailed link).

    Returns the membership and whether the user was created."""
    if not actor.has_org_perm(organization, Perm.MANAGE_MEMBERS):
        raise MembershipError("You may not manage members of this organization.")
    email = User.objects.normalize_email((email or "").strip())
    if "@" not in email:
        raise MembershipError("Enter an email address.")
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    created = user is None
    if user is None:
        username = email.lower()
        if User.objects.filter(username__iexact=username).exists():
            raise MembershipError("A user with this name exists with another email address.")
        user = User(username=username, email=email)
        user.set_unusable_password()
        user.save()
    elif Membership.objects.filter(organization=organization, user=user).exists():
        raise MembershipError(f"{user.get_username()} is already a member.")
    membership = membership_set_role(
        organization=organization, user=user, role=role, actor=actor, source_ip=source_ip
    )
    return membership, created
