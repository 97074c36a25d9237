"""The overview's worklists and counts start from indexes, not from every credential: SQLite's
query plans at 10,000 credentials scan no table (every step is an index SEARCH)."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credentials import selectors
from credentials.models import (
    Credential,
    CredentialVersion,
    Kind,
    Rotation,
    RotationMode,
    VersionState,
)

TOTAL = 10_000


@pytest.fixture
def ten_thousand(unit, alice):
    """10,000 credentials, each with a current version (expiries from 30 days ago to a year
    ahead), 2% with a scheduled rotation to a pending version: bench/portal_data's shape
    without the encryption (only the plans are looked at)."""
    now = timezone.now()
    credentials, versions, rotations = [], [], []
    for n in range(TOTAL):
        credential = Credential(id=uuid.uuid4(), business_unit=unit, name=f"Partner {n:05}",
                                kind=Kind.SFTP_PASSWORD)
        current = CredentialVersion(
            id=uuid.uuid4(), credential=credential, number=1, state=VersionState.CURRENT,
            valid_from=now - timedelta(days=60), valid_until=now + timedelta(days=n % 395 - 30),
            secret_ciphertext="-")
        credentials.append(credential)
        versions.append(current)
        if n % 50 == 7:
            pending = CredentialVersion(
                id=uuid.uuid4(), credential=credential, state=VersionState.PENDING,
                valid_from=now + timedelta(days=1), secret_ciphertext="-")
            versions.append(pending)
            rotations.append(Rotation(credential=credential, from_version=current,
                                      to_version=pending, mode=RotationMode.SCHEDULED,
                                      starts_at=now + timedelta(days=n % 20 + 1)))
    Credential.objects.bulk_create(credentials, batch_size=2000)
    CredentialVersion.objects.bulk_create(versions, batch_size=2000)
    Rotation.objects.bulk_create(rotations, batch_size=2000)
    return now


def _plan(queryset) -> list[str]:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return [row[-1] for row in cursor.fetchall()]


def _scans(plan: list[str]) -> list[str]:
    return [step for step in plan if step.startswith("SCAN")]


@pytest.fixture
def sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's EXPLAIN QUERY PLAN")


@pytest.mark.parametrize("worklist", ["credentials_expired", "credentials_expiring",
                                      "rotations_scheduled"])
def test_it_starts_the_overviews_worklists_from_indexes(
        sqlite_only, ten_thousand, acme, alice, worklist):
    kwargs = {"user": alice, "organization": acme}
    if worklist != "rotations_scheduled":
        kwargs["now"] = ten_thousand
    worklist_query = getattr(selectors, worklist)(**kwargs)
    plan = _plan(worklist_query)
    assert not _scans(plan), plan
    assert any("USING INDEX credentials_" in step and "(state=?" in step for step in plan), plan
    assert len(list(worklist_query)) == 20


def test_it_counts_the_badges_without_scanning_credentials(sqlite_only, ten_thousand, acme,
                                                            alice):
    with CaptureQueriesContext(connection) as captured:
        counts = selectors.status_counts(user=alice, organization=acme, now=ten_thousand)
    assert len(captured) == 1
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {captured[0]['sql']}")
        plan = [row[-1] for row in cursor.fetchall()]
    assert not _scans(plan), plan
    assert counts["total"] == TOTAL
    assert counts["rotation_scheduled"] == TOTAL // 50
    assert counts["inactive"] == TOTAL  # no connection uses any of them
    assert counts["expired"] == sum(1 for n in range(TOTAL) if n % 395 - 30 <= 0)
