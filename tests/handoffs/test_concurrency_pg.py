"""Hand-offs under concurrency, on PostgreSQL: threads released together from a barrier press
Show on one link at once (the secret is shown once), or try wrong passphrases at once (each
counts, never past five, and the link locks once). Each test checks that the race happened:
several threads reached the conditional UPDATE at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection

from audit.models import AuditEvent
from credentials.models import Kind
from credentials.services import version_secret
from handoffs.models import Handoff
from handoffs.services import HandoffClosed, WrongPassphrase, handoff_show
from organizations.roles import Role
from tests.factories import make_credential, make_org, make_user
from tests.handoffs.helpers import PASSPHRASE, make_handoff

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 8
CLAIM = f'UPDATE "{Handoff._meta.db_table}"'


def _race(attempt: Callable[[], str]) -> tuple[list[str], list[int]]:
    """Runs `attempt` in THREADS threads released together; returns their outcomes and the
    rows each UPDATE of a hand-off took (1: won, 0: lost)."""
    outcomes: list[str] = []
    claims: list[int] = []
    start = threading.Barrier(THREADS)

    def record_claim(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith(CLAIM):
            claims.append(context["cursor"].rowcount)
        return result

    def run() -> None:
        try:
            start.wait(timeout=60)
            with connection.execute_wrapper(record_claim):
                outcomes.append(attempt())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes, claims


def _handoff(passphrase: str = ""):
    acme = make_org("acme")
    alice = make_user("alice", acme, Role.OWNER)
    credential = make_credential(acme.business_units.get(), Kind.SFTP_PASSWORD, actor=alice,
                                 expires_in=timedelta(days=30))
    handoff, _ = make_handoff(credential, alice, passphrase=passphrase)
    return credential, handoff


def _loaded(handoff: Handoff) -> Handoff:
    return Handoff.objects.select_related("credential__business_unit__organization",
                                          "version").get(pk=handoff.pk)


def test_two_shows_at_once_show_the_secret_once():
    credential, handoff = _handoff()
    secret = version_secret(credential.versions.get())
    # Each thread loads the link before the barrier, as each request would: all see it open.
    loaded = [_loaded(handoff) for _ in range(THREADS)]

    def show() -> str:
        try:
            return handoff_show(handoff=loaded.pop(), source_ip="203.0.113.7").secret
        except HandoffClosed:
            return "closed"

    outcomes, claims = _race(show)
    assert outcomes.count(secret) == 1 and outcomes.count("closed") == THREADS - 1, outcomes
    assert AuditEvent.objects.filter(action="secret.reveal").count() == 1
    assert Handoff.objects.get(pk=handoff.pk).shown_at is not None
    assert claims.count(1) == 1 and claims.count(0) >= 1, claims


def test_wrong_passphrases_at_once_each_count_and_lock_the_link_once():
    _, handoff = _handoff(passphrase=PASSPHRASE)
    loaded = [_loaded(handoff) for _ in range(THREADS)]

    def guess() -> str:
        try:
            handoff_show(handoff=loaded.pop(), passphrase="a-wrong-guess", source_ip=None)
        except WrongPassphrase as exc:
            return f"wrong, {exc.attempts_left} left"
        except HandoffClosed:
            return "closed"
        return "shown"

    outcomes, claims = _race(guess)
    assert sorted(outcomes) == sorted(
        [f"wrong, {left} left" for left in range(5)] + ["closed"] * (THREADS - 5))
    stored = Handoff.objects.get(pk=handoff.pk)
    assert stored.failed_attempts == 5 and stored.locked_at is not None
    assert AuditEvent.objects.filter(action="handoff.passphrase_wrong").count() == 5
    assert AuditEvent.objects.filter(action="handoff.lock").count() == 1
    # Counting: 5 won, the others lost; locking: one UPDATE set it.
    assert claims.count(0) >= THREADS - 5, claims
