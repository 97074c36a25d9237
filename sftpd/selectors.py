"""Reads across relations for the SFTP endpoint and its pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery

from credentials.kinds import KINDS
from credentials.models import (
    Connection,
    ConnectionKind,
    Credential,
    CredentialVersion,
    VersionState,
)
from organizations.models import BusinessUnit

from .models import FailedLogin, HostKey, TransferLog

# The kinds partners log in with (CredentialKind.sftp_login: by password or by key).
INBOUND_KINDS = tuple(kind.key for kind in KINDS.values() if kind.sftp_login)


def inbound_versions_for_username(username: str) -> QuerySet[CredentialVersion]:
    """Every version with this user name of an SFTP credential that an inbound SFTP connection
    uses, annotated `has_active_connection`. Retired and expired versions are included so
    that a refusal can say why; `CredentialVersion.works_at` decides."""
    inbound = Connection.objects.filter(
        credential=OuterRef("credential"), kind=ConnectionKind.INBOUND_SFTP
    )
    return (
        CredentialVersion.objects.filter(username=username, credential__kind__in=INBOUND_KINDS)
        .filter(Exists(inbound))
        .annotate(has_active_connection=Exists(inbound.filter(is_active=True)))
        .select_related("credential__business_unit__organization")
        .order_by("credential_id", "-number")
    )


def _with_last_use(versions: QuerySet[CredentialVersion]) -> QuerySet[CredentialVersion]:
    last_transfer = TransferLog.objects.filter(version=OuterRef("pk")).order_by("-at")
    return versions.annotate(
        last_login_at=F("last_used_at"),
        last_transfer_at=Subquery(last_transfer.values("at")[:1]),
    )


RECENTLY_RETIRED = timedelta(days=30)


def inbound_versions_for_unit(unit: BusinessUnit, now: datetime) -> QuerySet[CredentialVersion]:
    """The live versions (and those retired in the last 30 days) of the unit's inbound SFTP
    credentials, with their last login and last transfer, in one query."""
    return (
        _with_last_use(CredentialVersion.objects.filter(
            credential__in=inbound_credentials_for_unit(unit).values("pk")
        ))
        .filter(~Q(state=VersionState.RETIRED) | Q(retired_at__gte=now - RECENTLY_RETIRED))
        .exclude(state=VersionState.UNUSED)
        .select_related("credential")
        .order_by("credential__name", "credential_id", F("number").desc(nulls_first=True))
    )


def units_with_transfers(organization: object, since: datetime) -> QuerySet[BusinessUnit]:
    """The organization's units, each with `last_transfer_at` and `recent_transfers` (since
    `since`)."""
    last = TransferLog.objects.filter(business_unit=OuterRef("pk")).order_by("-at")
    return BusinessUnit.objects.filter(organization=organization).annotate(
        last_transfer_at=Subquery(last.values("at")[:1]),
        recent_transfers=Count("sftp_transfers", filter=Q(sftp_transfers__at__gte=since)),
    ).order_by("name")


def transfers_for_unit(unit: BusinessUnit) -> QuerySet[TransferLog]:
    return TransferLog.objects.filter(business_unit=unit).select_related("version", "credential")


def inbound_credentials_for_unit(unit: BusinessUnit) -> QuerySet[Credential]:
    return (
        Credential.objects.filter(
            business_unit=unit, kind__in=INBOUND_KINDS,
            connections__kind=ConnectionKind.INBOUND_SFTP,
        )
        .distinct()
        .order_by("name")
    )


def failed_logins_for_unit(unit: BusinessUnit, since: datetime) -> QuerySet[FailedLogin]:
    return FailedLogin.objects.filter(business_unit=unit, at__gte=since)


def current_host_key() -> HostKey | None:
    return HostKey.objects.order_by("-created_at", "-pk").first()
