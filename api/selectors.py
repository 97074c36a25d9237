"""Reads of the API, with their joins and prefetches applied: a page of 10 rows costs the
same queries as a page of 100."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

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
# The kinds whose secrets obtain tokens (CredentialKind.token_client).
TOKEN_KINDS = tuple(kind.key for kind in KINDS.values() if kind.token_client)


def client_versions(*, client_id: str, now: datetime) -> QuerySet[CredentialVersion]:
    """The versions of API client secrets with this client id that may still authenticate a
    request arriving at `now` (CredentialVersion.works_at has the last word). Retired versions
    retired before `now` are left out so years of rotations do not grow the candidates.

    Every token request runs this, so it loads only what verification, activation and the
    token need (building a wide three-join query cost more than the rest of the request)."""
    return CredentialVersion.objects.filter(
        Q(state__in=[VersionState.PENDING, VersionState.CURRENT, VersionState.PREVIOUS])
        | Q(state=VersionState.RETIRED, retired_at__gt=now),
        client_id=client_id, credential__kind__in=TOKEN_KINDS,
    ).select_related("credential").only(
        "number", "state", "client_id", "secret_digest", "valid_from", "valid_until",
        "retired_at", "stops_at", "last_used_at", "credential__is_active",
    ).order_by()


def api_key_by_prefix(prefix: str) -> ApiKey | None:
    return ApiKey.objects.select_related("organization").filter(prefix=prefix).first()


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
            ),
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
