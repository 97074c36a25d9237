"""Activation on first use under concurrency, on PostgreSQL: many clients use the old and the
new secret at the same moment during the overlap. No request whose secret worked when it
arrived fails, and the switch happens exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client

from audit.models import AuditEvent
from credentials.models import Rotation, RotationState, VersionState
from tests.api.helpers import make_api_client, prepare_new_secret

TOKEN = "/authentication/token"
THREADS = 12
ROUNDS = 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_switches_once_and_refuses_no_request_valid_on_arrival_under_concurrency(unit):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: threads cannot share the in-memory SQLite test database "
                    "(runs in `make test-postgres`)")
    old = make_api_client(unit, client_id="busy-client", expires_in=timedelta(days=20))
    new = prepare_new_secret(old)
    results: list[tuple[bool, object, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def hammer(n: int) -> None:
        client = Client()
        try:
            start.wait()
            for i in range(ROUNDS):
                # All start with the old secret at once; then a third carry the new one.
                uses_new = i > 0 and (n + i) % 3 == 0
                who = new if uses_new else old
                response = client.post(TOKEN, HTTP_AUTHORIZATION=who.basic)
                results.append((uses_new, response.wsgi_request.arrived_at,
                                response.status_code))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(results) == THREADS * ROUNDS

    assert AuditEvent.objects.filter(action="rotation.activate").count() == 1
    assert Rotation.objects.get(credential=old.credential).state == RotationState.COMPLETED
    versions = {v.number: v for v in old.credential.versions.all()}
    assert (versions[1].state, versions[2].state) == (VersionState.RETIRED, VersionState.CURRENT)
    switched_at = versions[1].retired_at
    assert switched_at == versions[2].activated_at
    for uses_new, arrived_at, status in results:
        if uses_new or arrived_at < switched_at:
            assert status == 200, (uses_new, arrived_at, switched_at)
        else:
            assert status in (200, 401)  # arrived after the switch: refused once it shows
    assert any(not uses_new and arrived < switched_at for uses_new, arrived, _ in results)
    assert Client().post(TOKEN, HTTP_AUTHORIZATION=old.basic).status_code == 401
    assert len([m for m in mail.outbox if "Rotation complete" in m.subject]) == 1
