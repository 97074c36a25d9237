"""Reads of partner contacts, with their joins applied."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from config.instances import columns, prefixed, take
from config.prepared import PreparedQuery
from credentials.models import Connection, Credential
from organizations.models import BusinessUnit, Organization

from .models import PartnerContact


def _with_relations(contacts: QuerySet[PartnerContact]) -> QuerySet[PartnerContact]:
    return contacts.select_related(
        "connection__business_unit__organization", "credential__business_unit__organization")


def contacts_of_connection(connection: Connection) -> QuerySet[PartnerContact]:
    return _with_relations(PartnerContact.objects.filter(connection=connection))


_CONTACT_COLUMNS = columns(PartnerContact)
_CONNECTION_COLUMNS = columns(Connection)
_UNIT_COLUMNS = columns(BusinessUnit)
_ORGANIZATION_COLUMNS = columns(Organization)
_CONTACTS_FOR = PreparedQuery(
    lambda p: PartnerContact.objects.filter(
        Q(credential=p["credential"]) | Q(connection__credential=p["credential"])
    ).values_list(
        *_CONTACT_COLUMNS, *prefixed("connection", _CONNECTION_COLUMNS),
        *prefixed("connection__business_unit", _UNIT_COLUMNS),
        *prefixed("connection__business_unit__organization", _ORGANIZATION_COLUMNS),
    ).order_by("name", "email"),
    credential=PartnerContact._meta.get_field("credential"),
)


def contacts_for_credential(credential: Credential) -> list[PartnerContact]:
    """Its own contacts and those of the connections using it, each with its connection (and
    the connection's unit and organization), by one prepared query (every API client's page
    asks)."""
    contacts = []
    for row in _CONTACTS_FOR.rows(credential=credential.pk):
        values = iter(row)
        contact = take(values, PartnerContact, _CONTACT_COLUMNS)
        connection = take(values, Connection, _CONNECTION_COLUMNS)
        if connection is not None:
            connection.business_unit = take(values, BusinessUnit, _UNIT_COLUMNS)
            connection.business_unit.organization = take(values, Organization,
                                                         _ORGANIZATION_COLUMNS)
        contact.connection = connection
        contact.credential = credential if contact.credential_id == credential.pk else None
        contacts.append(contact)
    return contacts


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
