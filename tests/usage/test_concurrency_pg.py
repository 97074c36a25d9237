"""Writes of uses under concurrency, on PostgreSQL: threads released together from a barrier
stand for web processes writing the same version's uses at the same moment. One wins the
minute (the first insert, or the conditional UPDATE of `written_at`); the others keep their
uses, nothing is counted twice and no constraint is violated."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from credentials import usage
from credentials.models import UseChannel, VersionUse
from credentials.services import current_version
from tests.factories import make_credential, make_org

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 8


def _race(attempt: Callable[[int], object]) -> list[object]:
    outcomes: list[object] = []
    start = threading.Barrier(THREADS)

    def run(n: int) -> None:
        try:
            start.wait(timeout=60)
            outcomes.append(attempt(n))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _batch(n: int, at, uses: int = 3) -> usage._Pending:
    batch = usage._Pending()
    for _ in range(uses):
        batch.add(channel=UseChannel.TOKEN, address=f"198.51.100.{n}", at=at)
    return batch


def _version():
    unit = make_org("acme").business_units.get()
    return current_version(make_credential(unit))


def test_processes_writing_a_first_use_at_once_create_one_row():
    version, now = _version(), timezone.now()
    outcomes = _race(lambda n: usage._write(version.pk, _batch(n, now), now))
    assert sorted(outcomes) == [False] * (THREADS - 1) + [True]
    assert VersionUse.objects.get().count == 3


def test_processes_writing_after_the_minute_at_once_write_once():
    version, now = _version(), timezone.now()
    assert usage._write(version.pk, _batch(99, now), now)
    later = now + timedelta(minutes=1)
    outcomes = _race(lambda n: usage._write(version.pk, _batch(n, later), later))
    assert sorted(outcomes) == [False] * (THREADS - 1) + [True]
    use = VersionUse.objects.get()
    assert use.count == 6
    assert use.written_at == later


def test_threads_of_one_process_lose_no_use_and_count_none_twice():
    version, now = _version(), timezone.now()

    def uses(n: int) -> None:
        for _ in range(5):
            usage.version_use_record(version=version, channel=UseChannel.SFTP_LOGIN,
                                     address=f"203.0.113.{n}", now=now)

    usage.usage_buffer_clear()
    _race(uses)
    usage.version_use_record(version=version, channel=UseChannel.SFTP_LOGIN,
                             address="203.0.113.99", now=now + timedelta(minutes=1))
    use = VersionUse.objects.get()
    assert use.count == THREADS * 5 + 1
    assert len(use.sources) == THREADS + 1
