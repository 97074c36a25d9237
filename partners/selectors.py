"""Reads of partner contacts, with their joins applied."""

from __future__ import annotations

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


def contacts_to_email(credential: Credential) -> list[PartnerContact]:
    """Who hears about its reminders and rotations: the contacts of the credential and of its
    active connections that have not opted out, one per address."""
    seen: dict[str, PartnerContact] = {}
    for contact in contacts_for_credential(credential).filter(
        Q(credential=credential) | Q(connection__is_active=True), opted_out_at__isnull=True,
    ):
        seen.setdefault(contact.email.lower(), contact)
    return list(seen.values())


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
