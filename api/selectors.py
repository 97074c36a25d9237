"""Reads of the API, with their joins and prefetches applied: a page of 10 rows costs the
same queries as a page of 100."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Count, FilteredRelation, OuterRef, Prefetch, Q, QuerySet, Subquery

from config.prepared import PreparedQuery
from credentials.kinds import KINDS, Family, kinds_in_family
from credentials.models import (
    Connection,
    ConnectionKind,
    Credential,
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
_CLIENT_VERSION_FIELDS = tuple(
    field.attname for field in CredentialVersion._meta.concrete_fields
    if field.attname in {"id", "credential_id", "number", "state", "client_id", "secret_digest",
                         "valid_from", "valid_until", "retired_at", "stops_at", "last_used_at"}
)
_CLIENT_VERSIONS = PreparedQuery(
    lambda p: CredentialVersion.objects.filter(
        Q(state__in=[VersionState.PENDING, VersionState.CURRENT, VersionState.PREVIOUS])
        | Q(state=VersionState.RETIRED, retired_at__gt=p["now"]),
        client_id=p["client_id"], credential__kind__in=TOKEN_KINDS,
    ).values_list(*_CLIENT_VERSION_FIELDS, "credential__is_active").order_by(),
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
    versions = []
    for row in _CLIENT_VERSIONS.rows(client_id=client_id, now=now):
        *fields, is_active = row
        version = CredentialVersion.from_db("default", _CLIENT_VERSION_FIELDS, fields)
        version.credential = Credential.from_db("default", ("id", "is_active"),
                                                (version.credential_id, is_active))
        versions.append(version)
    return versions


_TOKEN_VERSION_FIELDS = _CLIENT_VERSION_FIELDS
_TOKEN_VERSION = PreparedQuery(
    lambda p: CredentialVersion.objects.filter(
        pk=p["pk"], credential__kind=Kind.API_CLIENT_SECRET,
    ).values_list(*_TOKEN_VERSION_FIELDS, "credential__is_active").order_by(),
    pk=CredentialVersion._meta.get_field("id"),
)


def token_version(pk: str) -> CredentialVersion | None:
    """The API client secret's version an access token names, with its credential's
    is_active, by one prepared query (every request made with a token asks)."""
    rows = _TOKEN_VERSION.rows(pk=pk)
    if not rows:
        return None
    *fields, is_active = rows[0]
    version = CredentialVersion.from_db("default", _TOKEN_VERSION_FIELDS, fields)
    version.credential = Credential.from_db("default", ("id", "is_active"),
                                            (version.credential_id, is_active))
    return version


_API_KEY_FIELDS = tuple(field.attname for field in ApiKey._meta.concrete_fields)
_ORGANIZATION_FIELDS = tuple(field.attname for field in Organization._meta.concrete_fields)
_API_KEY_BY_PREFIX = PreparedQuery(
    lambda p: ApiKey.objects.filter(prefix=p["prefix"]).values_list(
        *_API_KEY_FIELDS, *(f"organization__{name}" for name in _ORGANIZATION_FIELDS)
    ).order_by()[:1],
    prefix=ApiKey._meta.get_field("prefix"),
)


def api_key_by_prefix(prefix: str) -> ApiKey | None:
    """The key with this prefix (unique) and its organization, by one prepared query: every
    headless API request starts with it."""
    rows = _API_KEY_BY_PREFIX.rows(prefix=prefix)
    if not rows:
        return None
    values = rows[0]
    api_key = ApiKey.from_db("default", _API_KEY_FIELDS, values[:len(_API_KEY_FIELDS)])
    api_key.organization = Organization.from_db("default", _ORGANIZATION_FIELDS,
                                                values[len(_API_KEY_FIELDS):])
    return api_key


def default_business_unit(organization: Organization) -> BusinessUnit | None:
    """The unit that receives what the API creates without naming one: the first created."""
    return organization.business_units.order_by("created_at", "pk").first()


def credentials_for_api(
    *,
    organization: Organization,
    kinds: tuple[str, ...],
    now: datetime,
    status: str | None = None,
    business_unit: BusinessUnit | None = None,
) -> QuerySet[Credential]:
    """An organization's credentials of some kinds with their status facts, their current and
    pending versions (`live_versions`) and outbound SFTP connections (`outbound_connections`),
    oldest first so that pages stay stable."""
    queryset = with_status(
        Credential.objects.filter(business_unit__organization=organization, kind__in=kinds)
    )
    if status is not None:
        queryset = queryset.filter(status_q(status, now))
    if business_unit is not None:
        queryset = queryset.filter(business_unit=business_unit)
    prefetches = [
        Prefetch(
            "versions",
            queryset=CredentialVersion.objects.filter(
                state__in=[VersionState.CURRENT, VersionState.PENDING]
            ).defer("secret_ciphertext", "secret_digest"),  # never a secret
            to_attr="live_versions",
        )
    ]
    if set(kinds) & set(SFTP_KINDS):
        prefetches.append(Prefetch(
            "connections",
            queryset=Connection.objects.filter(kind=ConnectionKind.OUTBOUND_SFTP).order_by(
                "created_at", "pk"
            ),
            to_attr="outbound_connections",
        ))
    return queryset.select_related("business_unit").prefetch_related(*prefetches).order_by(
        "created_at", "pk"
    )


# --- Headless reads, prepared ----------------------------------------------------------------
# The unfiltered list and the single read of each headless resource are the API's most
# frequent requests: each is one prepared query (config.prepared) holding the credentials,
# their status facts, current and pending versions (joined: at most one of each, by the
# database's unique constraints) and, for SFTP, the first outbound connection's host and port;
# the page is chosen before any of that is worked out. Filtered lists (status, business unit)
# take credentials_for_api.



def _in_model_order(model: type, names: set[str]) -> tuple[str, ...]:
    """Column names as Model.from_db takes them: in the model's order."""
    return tuple(field.attname for field in model._meta.concrete_fields if field.attname in names)


# What the resources show (api.shapes, the kinds' api_fields), and no more: never a secret or
# its digest, nor the long texts (notes, keys and certificates in PEM) no resource shows. A
# kind whose api_fields read another column still works (Django loads a deferred column) but
# costs a query per row, which the query-count tests of every resource would catch.
_CREDENTIAL_FIELDS = _in_model_order(Credential, {
    "id", "business_unit_id", "name", "kind", "is_active", "rotation_policy"})
_LIVE_VERSION_FIELDS = _in_model_order(CredentialVersion, {
    "id", "credential_id", "number", "state", "username", "client_id", "key_id", "fingerprint",
    "cert_subject", "cert_issuer", "cert_serial", "cert_not_before", "valid_from"})
_LIVE_STATES = (("current", VersionState.CURRENT), ("pending", VersionState.PENDING))
_STATUS_FACTS = ("expires_at", "in_use", "rotation_scheduled")  # credentials.status.with_status
_CONNECTION_FACTS = ("outbound_id", "outbound_hostname", "outbound_port")


def _headless_rows(credentials: QuerySet[Credential], kinds: tuple[str, ...]) -> QuerySet:
    """`credentials` (a queryset of ids) as rows of everything the headless API shows."""
    queryset = with_status(Credential.objects.filter(pk__in=credentials)).annotate(**{
        name: FilteredRelation("versions", condition=Q(versions__state=state))
        for name, state in _LIVE_STATES
    })
    facts = list(_STATUS_FACTS)
    if set(kinds) & set(SFTP_KINDS):
        first_outbound = Connection.objects.filter(
            credential=OuterRef("pk"), kind=ConnectionKind.OUTBOUND_SFTP
        ).order_by("created_at", "pk")
        queryset = queryset.annotate(**{
            fact: Subquery(first_outbound.values(column)[:1])
            for fact, column in zip(_CONNECTION_FACTS, ("pk", "hostname", "port"), strict=True)
        })
        facts += _CONNECTION_FACTS
    return queryset.order_by("created_at", "pk").values_list(
        *_CREDENTIAL_FIELDS, "business_unit__slug", *facts,
        *(f"{name}__{field}" for name, _ in _LIVE_STATES for field in _LIVE_VERSION_FIELDS),
    )


def _organization_credentials(p: dict, kinds: tuple[str, ...]) -> QuerySet[Credential]:
    return Credential.objects.filter(business_unit__organization_id=p["organization_id"],
                                     kind__in=kinds)


_ORGANIZATION_ID = BusinessUnit._meta.get_field("organization")
_HEADLESS_PAGES = {
    kinds: PreparedQuery(
        lambda p, kinds=kinds: _headless_rows(
            _organization_credentials(p, kinds).order_by("created_at", "pk").values("pk")[
                PreparedQuery.PAGE], kinds),
        paged=True, organization_id=_ORGANIZATION_ID,
    ) for kinds in (SFTP_KINDS, AS2_KINDS, API_KINDS)
}
_HEADLESS_COUNTS = {
    kinds: PreparedQuery(
        lambda p, kinds=kinds: _organization_credentials(p, kinds).values(
            "business_unit__organization_id").annotate(count=Count("pk")).values_list("count"),
        organization_id=_ORGANIZATION_ID,
    ) for kinds in (SFTP_KINDS, AS2_KINDS, API_KINDS)
}
_HEADLESS_ONE = {
    kinds: PreparedQuery(
        lambda p, kinds=kinds: _headless_rows(
            _organization_credentials(p, kinds).filter(pk=p["pk"]).values("pk"), kinds),
        organization_id=_ORGANIZATION_ID, pk=Credential._meta.get_field("id"),
    ) for kinds in (SFTP_KINDS, AS2_KINDS, API_KINDS)
}


def headless_count(*, organization: Organization, kinds: tuple[str, ...]) -> int:
    rows = _HEADLESS_COUNTS[kinds].rows(organization_id=organization.pk)
    return rows[0][0] if rows else 0


def headless_page(*, organization: Organization, kinds: tuple[str, ...], offset: int,
                  limit: int) -> list[Credential]:
    """A page of an organization's credentials of one headless resource, oldest first, shaped
    as credentials_for_api shapes them (status facts, `live_versions`, and for SFTP
    `outbound_connections` holding the first outbound connection's host and port)."""
    rows = _HEADLESS_PAGES[kinds].rows(organization_id=organization.pk, limit=limit,
                                       offset=offset)
    return [_headless_credential(row, kinds) for row in rows]


def headless_one(*, organization: Organization, kinds: tuple[str, ...],
                 pk: uuid.UUID) -> Credential | None:
    rows = _HEADLESS_ONE[kinds].rows(organization_id=organization.pk, pk=pk)
    return _headless_credential(rows[0], kinds) if rows else None


def _headless_credential(row: tuple, kinds: tuple[str, ...]) -> Credential:
    values = iter(row)
    credential = Credential.from_db(
        "default", _CREDENTIAL_FIELDS, [next(values) for _ in _CREDENTIAL_FIELDS]
    )
    credential.business_unit = BusinessUnit.from_db(
        "default", ("id", "slug"), (credential.business_unit_id, next(values))
    )
    for fact in _STATUS_FACTS:
        setattr(credential, fact, next(values))
    if set(kinds) & set(SFTP_KINDS):
        outbound_id, hostname, port = (next(values) for _ in _CONNECTION_FACTS)
        credential.outbound_connections = [] if outbound_id is None else [Connection.from_db(
            "default", ("id", "credential_id", "hostname", "port"),
            (outbound_id, credential.pk, hostname, port),
        )]
    credential.live_versions = []
    for _ in _LIVE_STATES:
        fields = [next(values) for _ in _LIVE_VERSION_FIELDS]
        if fields[0] is not None:
            credential.live_versions.append(
                CredentialVersion.from_db("default", _LIVE_VERSION_FIELDS, fields)
            )
    return credential


def outbound_sftp_connection(credential: Credential) -> Connection | None:
    """The connection that holds the host and port the headless API shows: the first
    outbound SFTP connection made with the credential."""
    return credential.connections.filter(kind=ConnectionKind.OUTBOUND_SFTP).order_by(
        "created_at", "pk"
    ).first()
