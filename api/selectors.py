"""Reads of the API, with their joins and prefetches applied: a page of 10 rows costs the
same queries as a page of 100."""

from __future__ import annotations

import uuid
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import FilteredRelation, OuterRef, Q, QuerySet, Subquery, Sum

from config.instances import columns, prefixed, take
from config.prepared import PreparedQuery
from credentials.kinds import KINDS, Family, kinds_in_family
from credentials.models import (
    Connection,
    ConnectionKind,
    Credential,
    CredentialTally,
    CredentialVersion,
    Kind,
    VersionState,
)
from credentials.status import status_q, with_status
from organizations.models import BusinessUnit, Organization

from .models import ApiKey

# The kinds each headless resource holds: its family's (credentials.kinds).
SFTP_KINDS = kinds_in_family(Family.SFTP)
AS2_KINDS = kinds_in_family(Family.AS2)
API_KINDS = kinds_in_family(Family.API)
# The kinds whose secrets obtain tokens (CredentialKind.token_client).
TOKEN_KINDS = tuple(kind.key for kind in KINDS.values() if kind.token_client)


# What token verification, activation and the token need of a version (and its credential).
# In the model's order, as Model.from_db takes them.
_CLIENT_VERSION_FIELDS = columns(CredentialVersion, (
    "id", "credential_id", "number", "state", "client_id", "secret_digest", "valid_from",
    "valid_until", "retired_at", "stops_at", "last_used_at"))
_CLIENT_CREDENTIAL_FIELDS = ("id", "is_active")
_CLIENT_VERSIONS = PreparedQuery(
    lambda p: CredentialVersion.objects.filter(
        Q(state__in=[VersionState.PENDING, VersionState.CURRENT, VersionState.PREVIOUS])
        | Q(state=VersionState.RETIRED, retired_at__gt=p["now"]),
        client_id=p["client_id"], credential__kind__in=TOKEN_KINDS,
    ).values_list(*_CLIENT_VERSION_FIELDS,
                  *prefixed("credential", _CLIENT_CREDENTIAL_FIELDS)).order_by(),
    client_id=CredentialVersion._meta.get_field("client_id"),
    now=CredentialVersion._meta.get_field("retired_at"),
)


def client_versions(*, client_id: str, now: datetime) -> list[CredentialVersion]:
    """The versions of API client secrets with this client id that may still authenticate a
    request arriving at `now` (CredentialVersion.works_at has the last word). Retired versions
    retired before `now` are left out so years of rotations do not grow the candidates.

    Every token request runs this: one prepared query (config.prepared) loading only what
    verification, activation and the token need, each version with its credential's
    is_active (building the query with the ORM cost ten times running it)."""
    return [_client_version(iter(row))
            for row in _CLIENT_VERSIONS.rows(client_id=client_id, now=now)]


def _client_version(values: Iterator[Any]) -> CredentialVersion:
    version = take(values, CredentialVersion, _CLIENT_VERSION_FIELDS)
    version.credential = take(values, Credential, _CLIENT_CREDENTIAL_FIELDS)
    return version


_TOKEN_VERSION = PreparedQuery(
    lambda p: CredentialVersion.objects.filter(
        pk=p["pk"], credential__kind=Kind.API_CLIENT_SECRET,
    ).values_list(*_CLIENT_VERSION_FIELDS,
                  *prefixed("credential", _CLIENT_CREDENTIAL_FIELDS)).order_by(),
    pk=CredentialVersion._meta.get_field("id"),
)


def token_version(pk: str) -> CredentialVersion | None:
    """The API client secret's version an access token names, with its credential's
    is_active, by one prepared query (every request made with a token asks)."""
    rows = _TOKEN_VERSION.rows(pk=pk)
    return _client_version(iter(rows[0])) if rows else None


_API_KEY_FIELDS = columns(ApiKey)
_ORGANIZATION_FIELDS = columns(Organization)
_API_KEY_BY_PREFIX = PreparedQuery(
    lambda p: ApiKey.objects.filter(prefix=p["prefix"]).values_list(
        *_API_KEY_FIELDS, *prefixed("organization", _ORGANIZATION_FIELDS)
    ).order_by()[:1],
    prefix=ApiKey._meta.get_field("prefix"),
)


def api_key_by_prefix(prefix: str) -> ApiKey | None:
    """The key with this prefix (unique) and its organization, by one prepared query: every
    headless API request starts with it."""
    rows = _API_KEY_BY_PREFIX.rows(prefix=prefix)
    if not rows:
        return None
    values = iter(rows[0])
    api_key = take(values, ApiKey, _API_KEY_FIELDS)
    api_key.organization = take(values, Organization, _ORGANIZATION_FIELDS)
    return api_key


def default_business_unit(organization: Organization) -> BusinessUnit | None:
    """The unit that receives what the API creates without naming one: the first created."""
    return organization.business_units.order_by("created_at", "pk").first()


# --- Headless reads ----------------------------------------------------------------------
# A page of a headless resource is one query holding the credentials, their status facts,
# their current version (joined: at most one, by the database's unique constraints) and, for
# SFTP, the first outbound connection's host and port, or for the others whether a pending
# version waits; the page is chosen (from the index) before any of that is worked out. Its
# rows become HeadlessCredential records, which api.shapes shapes: no model instances. The
# unfiltered list and the single read, the API's most frequent requests, run it prepared
# (config.prepared); a filtered list (status, business unit) builds it around its filters.


class HeadlessCredential(NamedTuple):
    """A credential as the headless resources show it. Never a secret."""

    id: uuid.UUID
    name: str
    business_unit_slug: str
    kind: str
    is_active: bool
    rotation_policy: str
    # Its status facts, as credentials.status.with_status gives them.
    expires_at: datetime | None
    in_use: bool
    rotation_scheduled: bool
    # Its current version's api_version_fields (a record of them), None if it has none.
    current: Any
    # SFTP: the first outbound SFTP connection's hostname and port (None without one).
    hostname: str | None = None
    port: int | None = None
    # AS2 and API: whether a pending version waits, and when it became valid.
    pending: bool = False
    pending_valid_from: datetime | None = None


_CREDENTIAL_COLUMNS = ("pk", "name", "business_unit__slug", "kind", "is_active",
                       "rotation_policy", "expires_at", "in_use", "rotation_scheduled")
_CURRENT = len(_CREDENTIAL_COLUMNS)  # where a row's current version starts


@dataclass(frozen=True)
class _Resource:
    """What a headless resource reads: its kinds, the columns of their current versions that
    their api_fields read (and a record type of them), and the first outbound SFTP connection
    or else the pending version."""

    kinds: tuple[str, ...]
    version_fields: tuple[str, ...]
    version: type
    outbound: bool
    extra: int  # where a row's outbound connection or pending version starts


def _resource(kinds: tuple[str, ...]) -> _Resource:
    fields = tuple(dict.fromkeys(name for kind in kinds for name in KINDS[kind].api_version_fields))
    return _Resource(kinds, fields, namedtuple("ShownVersion", fields),
                     outbound=kinds == SFTP_KINDS, extra=_CURRENT + 1 + len(fields))


_RESOURCES = {kinds: _resource(kinds) for kinds in (SFTP_KINDS, AS2_KINDS, API_KINDS)}


def _headless_rows(credentials: QuerySet[Credential], resource: _Resource) -> QuerySet:
    """`credentials` (a queryset of ids) as rows of everything `resource` shows, oldest
    first."""
    queryset = with_status(Credential.objects.filter(pk__in=credentials).annotate(
        current=FilteredRelation("versions", condition=Q(versions__state=VersionState.CURRENT)),
    ), current="current")
    # The current version's state is never null: it says whether there is one.
    columns = [*_CREDENTIAL_COLUMNS, "current__state",
               *(f"current__{name}" for name in resource.version_fields)]
    if resource.outbound:
        first_outbound = Connection.objects.filter(
            credential=OuterRef("pk"), kind=ConnectionKind.OUTBOUND_SFTP
        ).order_by("created_at", "pk").values("pk")[:1]
        queryset = queryset.annotate(outbound=FilteredRelation(
            "connections", condition=Q(connections__pk=Subquery(first_outbound))))
        # A connection's hostname is never null (blank is ""): null says there is none.
        columns += ["outbound__hostname", "outbound__port"]
    else:
        queryset = queryset.annotate(pending=FilteredRelation(
            "versions", condition=Q(versions__state=VersionState.PENDING)))
        columns += ["pending__state", "pending__valid_from"]
    return queryset.order_by("created_at", "pk").values_list(*columns)


def _record(row: tuple, resource: _Resource) -> HeadlessCredential:
    # The row: the credential's columns, its current version's state and shown columns, then
    # the outbound connection's hostname and port, or the pending version's state and start.
    shown = row[_CURRENT + 1:resource.extra]
    current = resource.version._make(shown) if row[_CURRENT] is not None else None
    first, second = row[resource.extra:]
    if resource.outbound:
        return HeadlessCredential._make((*row[:_CURRENT], current, first, second, False, None))
    return HeadlessCredential._make((*row[:_CURRENT], current, None, None, first is not None,
                                     second))


def credential_for_api(*, organization: Organization, kinds: tuple[str, ...],
                       pk: uuid.UUID) -> Credential | None:
    """The credential of some kinds with this id in the organization (for a change)."""
    return _organization_credentials({"organization_id": organization.pk}, kinds).filter(
        pk=pk).first()


def _organization_credentials(p: dict, kinds: tuple[str, ...]) -> QuerySet[Credential]:
    """An organization's credentials of some kinds (`p`: its id, or a prepared stand-in)."""
    return Credential.objects.filter(business_unit__organization_id=p["organization_id"],
                                     kind__in=kinds)


_ORGANIZATION_ID = BusinessUnit._meta.get_field("organization")
_HEADLESS_PAGES = {
    kinds: PreparedQuery(
        lambda p, resource=resource: _headless_rows(
            _organization_credentials(p, resource.kinds).order_by("created_at", "pk").values(
                "pk")[PreparedQuery.PAGE], resource),
        paged=True, organization_id=_ORGANIZATION_ID,
    ) for kinds, resource in _RESOURCES.items()
}
# The count of an unfiltered list: the organization's units' tallies of these kinds (kept by
# the database, credentials.models.CredentialTally), a few rows however many credentials.
_HEADLESS_COUNTS = {
    kinds: PreparedQuery(
        lambda p, kinds=kinds: CredentialTally.objects.filter(
            business_unit__organization_id=p["organization_id"], kind__in=kinds,
        ).values("business_unit__organization_id").annotate(
            count=Sum("total")).values_list("count").order_by(),
        organization_id=_ORGANIZATION_ID,
    ) for kinds in _RESOURCES
}
_HEADLESS_ONE = {
    kinds: PreparedQuery(
        lambda p, resource=resource: _headless_rows(
            _organization_credentials(p, resource.kinds).filter(pk=p["pk"]).values("pk"),
            resource),
        organization_id=_ORGANIZATION_ID, pk=Credential._meta.get_field("id"),
    ) for kinds, resource in _RESOURCES.items()
}


def headless_list(
    *,
    organization: Organization,
    kinds: tuple[str, ...],
    now: datetime,
    offset: int,
    limit: int,
    status: str | None = None,
    business_unit: BusinessUnit | None = None,
) -> tuple[int, list[HeadlessCredential]]:
    """How many of an organization's credentials of one headless resource match the filters
    (status, unit), and a page of them, oldest first so that pages stay stable. Unfiltered:
    two prepared queries, the count from the tallies; filtered: the count, and the same page
    query built around the filter."""
    resource = _RESOURCES[kinds]
    if status is None and business_unit is None:
        counted = _HEADLESS_COUNTS[kinds].rows(organization_id=organization.pk)
        count = counted[0][0] if counted else 0
        rows = _HEADLESS_PAGES[kinds].rows(organization_id=organization.pk, limit=limit,
                                           offset=offset) if offset < count else []
        return count, [_record(row, resource) for row in rows]
    credentials = _organization_credentials({"organization_id": organization.pk}, kinds)
    if status is not None:
        credentials = with_status(credentials).filter(status_q(status, now))
    if business_unit is not None:
        credentials = credentials.filter(business_unit=business_unit)
    count = credentials.count()
    page = credentials.order_by("created_at", "pk")[offset:offset + limit]
    rows = _headless_rows(page.values("pk"), resource) if offset < count else []
    return count, [_record(row, resource) for row in rows]


def headless_one(*, organization: Organization, kinds: tuple[str, ...],
                 pk: uuid.UUID) -> HeadlessCredential | None:
    rows = _HEADLESS_ONE[kinds].rows(organization_id=organization.pk, pk=pk)
    return _record(rows[0], _RESOURCES[kinds]) if rows else None


def outbound_sftp_connection(credential: Credential) -> Connection | None:
    """The connection that holds the host and port the headless API shows: the first
    outbound SFTP connection made with the credential."""
    return credential.connections.filter(kind=ConnectionKind.OUTBOUND_SFTP).order_by(
        "created_at", "pk"
    ).first()
