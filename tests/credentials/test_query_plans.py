"""The overview's worklists and counts start from indexes, not from every credential: at 10,000
credentials SQLite's query plans scan no table (every step is an index SEARCH), and
PostgreSQL's (its statistics up to date) read the worklists from indexes without a sequential
scan of the credentials."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credentials import selectors, usage
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


def _plan(sql: str, params: object = ()) -> list[str]:
    explain = "EXPLAIN QUERY PLAN" if connection.vendor == "sqlite" else "EXPLAIN"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
        cursor.execute(f"{explain} {sql}", params)
        return [row[-1] if connection.vendor == "sqlite" else row[0]
                for row in cursor.fetchall()]


def _scans(plan: list[str]) -> list[str]:
    if connection.vendor == "sqlite":
        return [step for step in plan if step.startswith("SCAN")]
    return [step for step in plan if "Seq Scan on credentials_credential " in step]


@pytest.fixture
def sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's EXPLAIN QUERY PLAN")


@pytest.mark.parametrize("worklist", ["credentials_expired", "credentials_expiring",
                                      "rotations_scheduled"])
def test_it_starts_the_overviews_worklists_from_indexes(ten_thousand, acme, alice, worklist):
    kwargs = {"user": alice, "organization": acme}
    if worklist != "rotations_scheduled":
        kwargs["now"] = ten_thousand
    worklist_query = getattr(selectors, worklist)(**kwargs)
    plan = _plan(*worklist_query.query.sql_with_params())
    assert not _scans(plan), plan
    index = ("USING INDEX credentials_state_" if connection.vendor == "sqlite"
             else "using credentials_state_")
    assert any(index in step for step in plan), plan
    assert len(list(worklist_query)) == 20


def test_it_counts_the_badges_without_scanning_credentials(sqlite_only, ten_thousand, acme,
                                                            alice):
    with CaptureQueriesContext(connection) as captured:
        counts = selectors.status_counts(user=alice, organization=acme, now=ten_thousand)
    assert len(captured) == 1
    plan = _plan(captured[0]["sql"])
    assert not _scans(plan), plan
    assert counts["total"] == TOTAL
    assert counts["rotation_scheduled"] == TOTAL // 50
    assert counts["inactive"] == TOTAL  # no connection uses any of them
    assert counts["expired"] == sum(1 for n in range(TOTAL) if n % 395 - 30 <= 0)


def test_a_list_page_by_name_reads_its_ids_from_the_unit_name_index(sqlite_only, ten_thousand,
                                                                     acme, alice):
    """The page's ids come from the (unit, name, id) index, which SQLite stops reading once
    the page is full, and only the page's rows are annotated (no correlated subquery runs
    for each of the 10,000)."""
    page = selectors.CredentialPage(user=alice, organization=acme, now=ten_thousand,
                                    filters=selectors.CredentialFilters())
    with CaptureQueriesContext(connection) as captured:
        rows = page[50:100]
    assert [row.name for row in rows] == [f"Partner {n:05}" for n in range(50, 100)]
    plan = _plan(captured[0]["sql"])
    assert not _scans(plan), plan
    assert any("COVERING INDEX credential_unit_name" in step for step in plan), plan


def test_the_overviews_overlaps_are_found_from_the_versions_state_index(sqlite_only, ten_thousand,
                                                                          acme, alice):
    """The few previous and pending versions are listed once from their state index; no
    subquery runs for each of the 10,000 credentials."""
    overlapping = Credential.objects.filter(
        versions__state=VersionState.PENDING).order_by("name")[:3]
    CredentialVersion.objects.filter(credential__in=list(overlapping),
                                     state=VersionState.PENDING).update(
        valid_from=ten_thousand - timedelta(hours=1))
    credentials = selectors.organization_credentials(alice, acme)
    with CaptureQueriesContext(connection) as captured:
        found = usage.cutovers(credentials, ten_thousand, limit=20)
    assert [cutover.credential.name for cutover in found] == \
        [credential.name for credential in overlapping]
    plan = _plan(captured[0]["sql"])
    assert not _scans(plan), plan
    assert not any("CORRELATED" in step for step in plan), plan
    assert any("USING INDEX credentials_state_" in step for step in plan), plan
