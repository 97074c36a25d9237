"""Writes of partner contacts, each in one transaction with its audit event. Who may: the
permission to manage the connection's family, or the credential's (organizations.access);
the opt-out link acts as Keyturn itself (notifications.optout)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from credentials.errors import CredentialError
from credentials.kinds import FAMILIES
from credentials.models import CONNECTION_FAMILY, Connection, Credential
from organizations.access import Actor, require_perm
from organizations.models import Organization, validate_time_zone

from .models import PartnerContact

NAME_MAX = 200
EMAIL_MAX = 254
NOTE_MAX = 500


class PartnerError(CredentialError):
    """A contact the rules refuse; `field` names the field at fault (API: 400 on it)."""


@dataclass(frozen=True)
class ContactFields:
    name: str
    email: str
    note: str = ""
    time_zone: str = ""


def contacts_allowed(credential: Credential) -> bool:
    """Credentials that carry contacts of their own: API clients (token clients). Others have
    theirs on the connections that use them."""
    return credential.kind_spec.token_client


def manage_perm(contact_or_owner: PartnerContact | Connection | Credential) -> str:
    owner = (contact_or_owner.attached_to if isinstance(contact_or_owner, PartnerContact)
             else contact_or_owner)
    if isinstance(owner, Connection):
        return FAMILIES[CONNECTION_FAMILY[owner.kind]].manage_perm
    return owner.manage_perm


def organization_of(owner: Connection | Credential) -> Organization:
    return owner.business_unit.organization


def fields_check(fields: ContactFields) -> ContactFields:
    """The fields, trimmed, or PartnerError naming the first one at fault."""
    name = " ".join(fields.name.split())
    email = fields.email.strip().lower()
    note = fields.note.strip()
    time_zone = fields.time_zone.strip()
    if not name:
        raise PartnerError("Enter the contact's name.", "name")
    if len(name) > NAME_MAX:
        raise PartnerError(f"Use at most {NAME_MAX} characters.", "name")
    if len(email) > EMAIL_MAX:
        raise PartnerError(f"Use at most {EMAIL_MAX} characters.", "email")
    try:
        validate_email(email)
    except ValidationError:
        raise PartnerError("Enter a valid email address.", "email") from None
    if len(note) > NOTE_MAX:
        raise PartnerError(f"Use at most {NOTE_MAX} characters.", "note")
    if time_zone:
        try:
            validate_time_zone(time_zone)
        except ValidationError:
            raise PartnerError(f"“{time_zone}” is not a time zone such as Europe/Berlin.",
                               "time_zone") from None
    return ContactFields(name=name, email=email, note=note, time_zone=time_zone)


def _details(contact: PartnerContact, **more: object) -> dict[str, object]:
    owner = contact.attached_to
    return {"contact": contact.name, "email": contact.email,
            "connection" if contact.connection_id else "credential": owner.name, **more}


def _save(contact: PartnerContact) -> None:
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        raise PartnerError("This address is a contact here already.", "email") from None


@transaction.atomic
def partner_contact_add(*, owner: Connection | Credential, fields: ContactFields, actor: Actor,
                        source_ip: str | None = None) -> PartnerContact:
    """Adds a contact to a connection or an API client credential."""
    organization = organization_of(owner)
    require_perm(actor, organization, manage_perm(owner))
    if isinstance(owner, Credential) and not contacts_allowed(owner):
        raise PartnerError("Only API client credentials have contacts of their own; add "
                           "contacts to the connections that use this credential.", "credential")
    fields = fields_check(fields)
    contact = PartnerContact(
        connection=owner if isinstance(owner, Connection) else None,
        credential=owner if isinstance(owner, Credential) else None,
        name=fields.name, email=fields.email, note=fields.note, time_zone=fields.time_zone,
    )
    _save(contact)
    audit_record(action="partner_contact.add", actor=actor, organization=organization,
                 target=contact, source_ip=source_ip,
                 details=_details(contact, time_zone=contact.time_zone or None))
    return contact


@transaction.atomic
def partner_contact_edit(*, contact: PartnerContact, fields: ContactFields, actor: Actor,
                         source_ip: str | None = None) -> PartnerContact:
    """Changes a contact's details; a new address gets emails again (its opt-out was the old
    address's)."""
    organization = organization_of(contact.attached_to)
    require_perm(actor, organization, manage_perm(contact))
    fields = fields_check(fields)
    changed = {name: getattr(fields, name) for name in ("name", "email", "note", "time_zone")
               if getattr(contact, name) != getattr(fields, name)}
    if not changed:
        return contact
    if "email" in changed:
        contact.opted_out_at = None
    for name, value in changed.items():
        setattr(contact, name, value)
    _save(contact)
    audit_record(action="partner_contact.edit", actor=actor, organization=organization,
                 target=contact, source_ip=source_ip,
                 details=_details(contact, changed=sorted(changed)))
    return contact


@transaction.atomic
def partner_contact_remove(*, contact: PartnerContact, actor: Actor,
                           source_ip: str | None = None) -> None:
    organization = organization_of(contact.attached_to)
    require_perm(actor, organization, manage_perm(contact))
    audit_record(action="partner_contact.remove", actor=actor, organization=organization,
                 target=contact, source_ip=source_ip, details=_details(contact))
    contact.delete()


@transaction.atomic
def partner_contact_opt_out(*, contact: PartnerContact, actor: Actor,
                            now: datetime | None = None, source_ip: str | None = None) -> bool:
    """Stops every reminder and rotation email to the contact at once; True if it changed
    (a second click changes nothing and records nothing)."""
    now = now or timezone.now()
    changed = PartnerContact.objects.filter(pk=contact.pk, opted_out_at__isnull=True).update(
        opted_out_at=now)
    if changed:
        contact.opted_out_at = now
        audit_record(action="partner_contact.opt_out", actor=actor,
                     organization=organization_of(contact.attached_to), target=contact,
                     source_ip=source_ip, details=_details(contact))
    return bool(changed)
