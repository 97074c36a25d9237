"""Reads of the API, with their joins and prefetches applied: a page of 10 rows costs the
same queries as a page of 100."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Lower

from config.prepared import PreparedQuery
from credentials.kinds import KINDS, Family, kinds_in_family
from credentials.models import (
    Connection,
    ConnectionKind,
    Credential,
    CredentialVersion,
    VersionState,
)
from credentials.status import status_q, with_status
from organizations.models import BusinessUnit, Organization

from .models import ApiKey

# The kinds each headless resource holds: its family's (credentials.kinds).
SFTP_KINDS = kinds_in_family(Family.SFTP)
AS2_KINDS = kinds_in_family(Family.AS2)
API_KINDS = kinds_in_family(Family.API)
# The state as an expression no index holds. For "state IN (%s, %s) AND credential_id IN
# (...)" SQLite, which cannot see bound values, picks the (state, valid_until) index and reads
# every current and pending version of every credential (4 ms at 10,000 credentials) instead
# of the page's few by credential_id; comparing lower(state) (the states are lower case)
# leaves it the credential_id index. PostgreSQL, which has statistics, is unaffected.
_NOT_INDEXED_STATE = Lower("state")
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
            queryset=CredentialVersion.objects.alias(
                state_compared=_NOT_INDEXED_STATE
            ).filter(
                state_compared__in=[VersionState.CURRENT, VersionState.PENDING]
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


def outbound_sftp_connection(credential: Credential) -> Connection | None:
    """The connection that holds the host and port the headless API shows: the first
    outbound SFTP connection made with the credential."""
    return credential.connections.filter(kind=ConnectionKind.OUTBOUND_SFTP).order_by(
        "created_at", "pk"
    ).first()
