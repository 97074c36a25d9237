"""Opting out of emails from the email itself, without signing in. Every reminder and rotation
email carries a link with a signed, expiring token (django.core.signing, a salt per audience,
KEYTURN_EMAIL_OPT_OUT_DAYS): a partner contact's link stops every email to that contact
(partners' `opted_out_at`); a member's stops that business unit's reminders for that address
(the ReminderOptOut of the profile page; an address of the unit's contact list that is no
member's leaves that list). Owners cannot opt out: someone must always hear. The token names
only what it stops; it grants nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.services import audit_record
from organizations.access import SystemActor
from organizations.models import BusinessUnit, Membership
from organizations.roles import Role
from partners.models import PartnerContact
from partners.services import partner_contact_opt_out

from .models import ReminderOptOut

PARTNER, MEMBER = "partner", "member"
SALTS = {PARTNER: "notifications.opt_out.partner", MEMBER: "notifications.opt_out.member"}


def opt_out_max_age() -> timedelta:
    return timedelta(days=settings.KEYTURN_EMAIL_OPT_OUT_DAYS)


def _url(audience: str, payload: dict[str, object]) -> str:
    token = signing.dumps(payload, salt=SALTS[audience], compress=True)
    return settings.SITE_URL + reverse("email_opt_out", args=[audience, token])


def partner_opt_out_url(contact: PartnerContact) -> str:
    return _url(PARTNER, {"c": str(contact.pk)})


def member_opt_out_url(business_unit: BusinessUnit, email: str) -> str:
    return _url(MEMBER, {"u": business_unit.pk, "e": email.lower()})


@dataclass(frozen=True)
class OptOutTarget:
    """What a valid link stops: a partner contact's emails, or one address's reminders about
    one business unit."""

    audience: str
    contact: PartnerContact | None = None
    business_unit: BusinessUnit | None = None
    email: str = ""

    @property
    def address(self) -> str:
        return self.contact.email if self.contact is not None else self.email

    @property
    def organization_name(self) -> str:
        unit = (self.contact.attached_to.business_unit if self.contact is not None
                else self.business_unit)
        return unit.organization.name if unit is not None else ""

    @property
    def is_owner(self) -> bool:
        return self.business_unit is not None and Membership.objects.filter(
            organization_id=self.business_unit.organization_id, role=Role.OWNER,
            user__email__iexact=self.email, user__is_active=True).exists()

    @property
    def opted_out(self) -> bool:
        if self.contact is not None:
            return self.contact.opted_out_at is not None
        assert self.business_unit is not None
        in_list = self.email in {e.lower() for e in self.business_unit.contact_email_list}
        return not in_list or ReminderOptOut.objects.filter(
            business_unit=self.business_unit, user__email__iexact=self.email).exists()


def opt_out_target(audience: str, token: str) -> OptOutTarget | None:
    """What the token stops, or None for a token that is forged, expired or names nothing
    that exists any more."""
    if audience not in SALTS:
        return None
    try:
        payload = signing.loads(token, salt=SALTS[audience], max_age=opt_out_max_age())
    except signing.BadSignature:  # SignatureExpired included
        return None
    if not isinstance(payload, dict):
        return None
    if audience == PARTNER:
        contact = PartnerContact.objects.select_related(
            "connection__business_unit__organization",
            "credential__business_unit__organization",
        ).filter(pk=str(payload.get("c", ""))).first() if _is_uuid(payload.get("c")) else None
        return OptOutTarget(PARTNER, contact=contact) if contact is not None else None
    unit = BusinessUnit.objects.select_related("organization").filter(
        pk=payload.get("u")).first() if isinstance(payload.get("u"), int) else None
    email = payload.get("e")
    if unit is None or not isinstance(email, str) or not email:
        return None
    return OptOutTarget(MEMBER, business_unit=unit, email=email)


def _is_uuid(value: object) -> bool:
    try:
        PartnerContact._meta.pk.to_python(value)  # type: ignore[union-attr]
    except Exception:  # a ValidationError: not a UUID
        return False
    return isinstance(value, str)


def link_actor(target: OptOutTarget, organization_id: int) -> SystemActor:
    """How the audit trail names whoever followed the link."""
    return SystemActor(label=f"opt-out link ({target.address})", organization_id=organization_id)


@transaction.atomic
def email_opt_out(*, target: OptOutTarget, source_ip: str | None = None,
                  now: datetime | None = None) -> bool:
    """Records the opt-out at once; True if something changed. Owners' addresses are refused
    by the caller's page (target.is_owner), and change nothing here."""
    now = now or timezone.now()
    if target.contact is not None:
        organization = target.contact.attached_to.business_unit.organization
        return partner_contact_opt_out(contact=target.contact,
                                       actor=link_actor(target, organization.pk), now=now,
                                       source_ip=source_ip)
    unit = BusinessUnit.objects.select_for_update().get(pk=target.business_unit.pk)
    if target.is_owner:
        return False
    users = [m.user for m in Membership.objects.filter(
        organization_id=unit.organization_id, user__email__iexact=target.email,
    ).exclude(role=Role.OWNER).select_related("user")]
    created = [ReminderOptOut.objects.get_or_create(user=user, business_unit=unit)[1]
               for user in users]
    kept = [e for e in unit.contact_email_list if e.lower() != target.email]
    left_list = len(kept) != len(unit.contact_email_list)
    if left_list:
        unit.contact_emails = "\n".join(kept)
        unit.save(update_fields=["contact_emails"])
    changed = any(created) or left_list
    if changed:
        audit_record(action="reminders.opt_out", actor=link_actor(target, unit.organization_id),
                     organization=unit.organization, target=unit, source_ip=source_ip,
                     details={"email": target.email, "via": "email link",
                              "left_contact_list": left_list})
    return changed
