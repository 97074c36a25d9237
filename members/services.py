"""Writes to organizations, units, memberships and users; each audited in its transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from organizations.access import Actor, require_perm, user_of
from organizations.models import BusinessUnit, Membership, Organization, User
from organizations.roles import Perm, Role

from .models import Invitation, InvitationState


class MembershipError(Exception):
    pass


@transaction.atomic
def membership_set_role(
    *, organization: Organization, user: User, role: str, actor: Actor,
    source_ip: str | None = None,
) -> Membership:
    if role not in Role.values:
        raise MembershipError(f"Unknown role {role!r}.")
    require_perm(actor, organization, Perm.MANAGE_MEMBERS)
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
    *, membership: Membership, actor: Actor, source_ip: str | None = None
) -> None:
    require_perm(actor, membership.organization, Perm.MANAGE_MEMBERS)
    _keep_an_owner(membership.organization, membership, new_role=None)
    audit_record(
        action="member.remove", actor=actor, organization=membership.organization,
        target=membership.user, source_ip=source_ip, details={"role": membership.role},
    )
    membership.delete()


def _member_event(action: str, membership: Membership, actor: Actor, source_ip: str | None,
                  details: dict[str, object]) -> None:
    audit_record(action=action, actor=actor, organization=membership.organization,
                 target=membership.user, source_ip=source_ip, details=details)


@transaction.atomic
def membership_admin_save(
    *, membership: Membership, actor: User, source_ip: str | None = None
) -> Membership:
    """A membership added or changed in the Django admin, audited as the members page's
    changes are. The admin's own permissions decide who may (superusers, who need no role in
    the organization), and it may leave an organization without an owner, to mend one."""
    before = Membership.objects.select_for_update().select_related(
        "organization", "user").filter(pk=membership.pk).first() if membership.pk else None
    membership.save()
    via = {"via": "admin"}
    moved = before is not None and (before.organization_id, before.user_id) != (
        membership.organization_id, membership.user_id)
    if moved:
        _member_event("member.remove", before, actor, source_ip, {"role": before.role, **via})
    if before is None or moved:
        _member_event("member.add", membership, actor, source_ip,
                      {"role": membership.role, "previous_role": None, **via})
    elif before.role != membership.role:
        _member_event("member.role", membership, actor, source_ip,
                      {"role": membership.role, "previous_role": before.role, **via})
    return membership


@transaction.atomic
def membership_admin_remove(
    *, membership: Membership, actor: User, source_ip: str | None = None
) -> None:
    """A membership deleted in the Django admin, audited as a removal on the members page."""
    _member_event("member.remove", membership, actor, source_ip,
                  {"role": membership.role, "via": "admin"})
    membership.delete()


# What the admin may change of an organization and of a business unit, each change audited
# with its old and new value (a unit's contacts decide who gets the emails about its
# credentials). A unit's organization is set when it is added: moving it would hand its
# credentials to another organization.
ORGANIZATION_AUDITED_FIELDS = ("name", "slug")
UNIT_AUDITED_FIELDS = ("name", "slug", "contact_emails")


def _admin_save_audited(obj: Organization | BusinessUnit, fields: tuple[str, ...],
                        noun: str, actor: User, source_ip: str | None) -> None:
    """Saves an organization or a unit from the Django admin, audited as <noun>.create (with
    its fields) or <noun>.change (each changed field's old and new value)."""
    before = type(obj).objects.select_for_update().filter(pk=obj.pk).first() if (
        obj.pk) else None
    obj.save()
    organization = obj if isinstance(obj, Organization) else obj.organization
    if before is None:
        audit_record(action=f"{noun}.create", actor=actor, organization=organization,
                     target=obj, source_ip=source_ip,
                     details={**{field: getattr(obj, field) for field in fields},
                              "via": "admin"})
        return
    changed = {field: [getattr(before, field), getattr(obj, field)]
               for field in fields if getattr(before, field) != getattr(obj, field)}
    if changed:
        audit_record(action=f"{noun}.change", actor=actor, organization=organization,
                     target=obj, source_ip=source_ip,
                     details={"changed": changed, "via": "admin"})


@transaction.atomic
def organization_admin_save(
    *, organization: Organization, actor: User, source_ip: str | None = None
) -> Organization:
    """An organization added, renamed or given a new slug in the Django admin, audited in its
    own trail (organization.create, organization.change)."""
    _admin_save_audited(organization, ORGANIZATION_AUDITED_FIELDS, "organization", actor,
                        source_ip)
    return organization


@transaction.atomic
def business_unit_admin_save(
    *, unit: BusinessUnit, actor: User, source_ip: str | None = None
) -> BusinessUnit:
    """A business unit added or changed in the Django admin, where units are set up: audited
    as unit.create or unit.change in its organization's trail."""
    if unit.pk and BusinessUnit.objects.filter(pk=unit.pk).exclude(
            organization_id=unit.organization_id).exists():
        raise ValueError("A business unit stays in the organization it was added to.")
    _admin_save_audited(unit, UNIT_AUDITED_FIELDS, "unit", actor, source_ip)
    return unit


@transaction.atomic
def business_unit_admin_remove(
    *, unit: BusinessUnit, actor: User, source_ip: str | None = None
) -> None:
    """A business unit deleted in the Django admin (one that holds credentials or connections
    cannot be: they protect it), audited as unit.delete."""
    audit_record(action="unit.delete", actor=actor, organization=unit.organization,
                 target=unit, source_ip=source_ip,
                 details={"name": unit.name, "slug": unit.slug, "via": "admin"})
    unit.delete()


@transaction.atomic
def user_disable(*, user: User, actor: Actor, source_ip: str | None = None) -> int:
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


# --- Invitations ---------------------------------------------------------------------------
#
# The inviter learns nothing about users outside their organization: inviting any address
# creates the same invitation and the same email whether or not the address has an account
# somewhere. Only the person holding the emailed link decides, on the accept page, whether to
# sign in to an existing account or to create one.

INVITATION_LIFETIME = timedelta(days=7)
INVALID_INVITATION = ("This invitation link is no longer valid: it was used, revoked or has "
                      "expired. Ask an owner of the organization to invite you again.")


class InvitationError(Exception):
    pass


def invitation_token_hash(token: str) -> str:
    """What is stored and looked up: the token is 256 random bits, so a plain SHA-256 of it
    cannot be reversed or guessed."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, invitation_token_hash(token)


@transaction.atomic
def invitation_create(
    *, organization: Organization, email: str, role: str, actor: User, now: datetime,
    source_ip: str | None = None,
) -> tuple[Invitation, str]:
    """Invites an address to the organization: (the invitation, the link's token).

    The token is returned once, for the email, and never stored. Inviting an address that
    already has an open invitation here sends it again with a new link (the old one stops
    working) and the role given now. Refuses the address of a member of this organization."""
    require_perm(actor, organization, Perm.MANAGE_MEMBERS)
    if role not in Role.values:
        raise MembershipError(f"Unknown role {role!r}.")
    email = User.objects.normalize_email((email or "").strip())
    if "@" not in email:
        raise MembershipError("Enter an email address.")
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise MembershipError(f"{email} is already a member of {organization.name}.")
    token, token_hash = _new_token()
    invitation = Invitation.objects.select_for_update().filter(
        organization=organization, email__iexact=email,
        accepted_at__isnull=True, revoked_at__isnull=True,
    ).first()
    action = "invitation.resend" if invitation else "invitation.create"
    if invitation is None:
        invitation = Invitation(organization=organization, email=email, created_at=now)
    invitation.role = role
    invitation.invited_by = user_of(actor)
    invitation.token_hash = token_hash
    invitation.sent_at = now
    invitation.expires_at = now + INVITATION_LIFETIME
    invitation.save()
    audit_record(
        action=action, actor=actor, organization=organization, target=invitation,
        target_label=email, source_ip=source_ip,
        details={"email": email, "role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    return invitation, token


@transaction.atomic
def invitation_resend(
    *, invitation: Invitation, actor: User, now: datetime, source_ip: str | None = None
) -> str:
    """A new link for an open or expired invitation, valid for another INVITATION_LIFETIME;
    the previous link stops working. Returns the new token."""
    require_perm(actor, invitation.organization, Perm.MANAGE_MEMBERS)
    token, token_hash = _new_token()
    updated = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True,
    ).update(token_hash=token_hash, sent_at=now, expires_at=now + INVITATION_LIFETIME)
    if updated != 1:
        raise InvitationError("This invitation was accepted or revoked meanwhile.")
    invitation.refresh_from_db()
    audit_record(
        action="invitation.resend", actor=actor, organization=invitation.organization,
        target=invitation, target_label=invitation.email, source_ip=source_ip,
        details={"email": invitation.email, "role": invitation.role,
                 "expires_at": invitation.expires_at.isoformat()},
    )
    return token


@transaction.atomic
def invitation_revoke(
    *, invitation: Invitation, actor: User, now: datetime, source_ip: str | None = None
) -> None:
    """Its link stops working at once."""
    require_perm(actor, invitation.organization, Perm.MANAGE_MEMBERS)
    updated = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True,
    ).update(revoked_at=now)
    if updated != 1:
        raise InvitationError("This invitation was accepted or revoked meanwhile.")
    invitation.revoked_at = now
    audit_record(
        action="invitation.revoke", actor=actor, organization=invitation.organization,
        target=invitation, target_label=invitation.email, source_ip=source_ip,
        details={"email": invitation.email, "role": invitation.role},
    )


def invitation_open_for(token_hash: str, now: datetime) -> Invitation | None:
    """The invitation a link leads to, while it can still be accepted."""
    invitation = Invitation.objects.select_related("organization", "invited_by").filter(
        token_hash=token_hash).first()
    if invitation is None or invitation.state_at(now) != InvitationState.PENDING:
        return None
    return invitation


@transaction.atomic
def invitation_accept(
    *, token_hash: str, user: User, now: datetime, source_ip: str | None = None
) -> Membership:
    """Makes the signed-in holder of the link a member with the invited role. The link works
    once: the invitation is claimed by a conditional UPDATE before the membership is made."""
    invitation = invitation_open_for(token_hash, now)
    if invitation is None or not user.is_active:
        raise InvitationError(INVALID_INVITATION)
    organization = invitation.organization
    if Membership.objects.filter(organization=organization, user=user).exists():
        raise InvitationError(f"You are already a member of {organization.name}.")
    claimed = Invitation.objects.filter(
        pk=invitation.pk, token_hash=token_hash, accepted_at__isnull=True,
        revoked_at__isnull=True, expires_at__gt=now,
    ).update(accepted_at=now, accepted_by=user)
    if claimed != 1:
        raise InvitationError(INVALID_INVITATION)
    membership = Membership.objects.create(organization=organization, user=user,
                                           role=invitation.role)
    invited_by = invitation.invited_by.get_username() if invitation.invited_by else None
    audit_record(
        action="invitation.accept", actor=user, organization=organization, target=invitation,
        target_label=invitation.email, source_ip=source_ip,
        details={"email": invitation.email, "role": invitation.role, "invited_by": invited_by},
    )
    audit_record(
        action="member.add", actor=user, organization=organization, target=user,
        source_ip=source_ip,
        details={"role": invitation.role, "previous_role": None,
                 "invitation": str(invitation.pk), "invited_by": invited_by},
    )
    return membership


@transaction.atomic
def invitation_sign_up(
    *, token_hash: str, username: str, password: str, now: datetime,
    source_ip: str | None = None,
) -> User:
    """Creates an account for the invited address, with the user name and password its
    holder chose, and accepts the invitation with it."""
    invitation = invitation_open_for(token_hash, now)
    if invitation is None:
        raise InvitationError(INVALID_INVITATION)
    if User.objects.filter(email__iexact=invitation.email).exists():
        # The holder of the link owns this address, so telling them is no leak.
        raise InvitationError("An account with this email address exists already: sign in "
                              "with it to accept the invitation.")
    if User.objects.filter(username__iexact=username).exists():
        raise InvitationError("A user with that user name already exists.")
    user = User(username=username, email=invitation.email)
    user.set_password(password)
    user.save()
    invitation_accept(token_hash=token_hash, user=user, now=now, source_ip=source_ip)
    return user
