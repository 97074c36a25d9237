"""Reads of partner contacts, with their joins applied."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from credentials.models import Connection, Credential
from organizations.models import Organization

from .models import PartnerContact


def _with_relations(contacts: QuerySet[PartnerContact]) -> QuerySet[PartnerContact]:
    return contacts.select_related(
        "connection__business_unit__organization", "credential__business_unit__organization")


def contacts_of_connection(connection: Connection) -> QuerySet[PartnerContact]:
    return _with_relations(PartnerContact.objects.filter(connection=connection))


def contacts_for_credential(credential: Credential) -> QuerySet[PartnerContact]:
    """Its own contacts and those of the connections using it, in one query."""
    return _with_relations(PartnerContact.objects.filter(
        Q(credential=credential) | Q(connection__credential=credential)
    )).order_by("name", "email")


def contacts_to_email_many(credential_ids: Iterable[object]) -> dict[object, list[PartnerContact]]:
    """Who hears about the reminders and rotations of each credential, in one query for a
    sweep's batch: the contacts of the credential and of its active connections that have
    not opted out, one per address, in name order; credentials without any are left out."""
    credential_ids = list(credential_ids)
    contacts = _with_relations(PartnerContact.objects.filter(
        Q(credential_id__in=credential_ids)
        | Q(connection__credential_id__in=credential_ids, connection__is_active=True),
        opted_out_at__isnull=True,
    )).order_by("name", "email")
    seen: dict[object, dict[str, PartnerContact]] = {}
    for contact in contacts:
        owner = contact.credential_id or contact.connection.credential_id
        seen.setdefault(owner, {}).setdefault(contact.email.lower(), contact)
    return {owner: list(by_email.values()) for owner, by_email in seen.items()}


def contact_in_organization(organization: Organization, pk: object) -> PartnerContact:
    """One contact of the organization; PartnerContact.DoesNotExist for any other id."""
    return _with_relations(PartnerContact.objects.filter(
        Q(connection__business_unit__organization=organization)
        | Q(credential__business_unit__organization=organization)
    )).get(pk=pk)


def contacts_in_organization(organization: Organization) -> QuerySet[PartnerContact]:
    return _with_relations(PartnerContact.objects.filter(
        Q(connection__business_unit__organization=organization)
        | Q(credential__business_unit__organization=organization)
    )).order_by("created_at", "pk")
