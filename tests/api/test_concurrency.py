"""Activation on first use under concurrency, on PostgreSQL: many clients use the old and the
new secret at the same moment during the overlap. No request whose secret worked when it
arrived fails, and the switch happens exactly once."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client

from api import services
from audit.models import AuditEvent
from credentials.models import Rotation, RotationState, VersionState
from tests.api.helpers import make_api_client, prepare_new_secret

TOKEN = "/authentication/token"
THREADS = 12
ROUNDS = 8
SWITCH_ROUND = 1  # the first round in which some clients carry the new secret


def _uses_new(n: int, i: int) -> bool:
    """All start with the old secret at once; from then on a third carry the new one."""
    return i > 0 and (n + i) % 3 == 0


@dataclass
class Answer:
    uses_new: bool
    arrived_at: datetime
    status: int
    held: bool  # an old-secret request that arrived before the switch, checked after it


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_switches_once_and_refuses_no_request_valid_on_arrival_under_concurrency(
        unit, monkeypatch):
    old = make_api_client(unit, client_id="busy-client", expires_in=timedelta(days=20))
    new = prepare_new_secret(old)
    answers: list[Answer] = []
    errors: list[BaseException] = []
    switch_attempts: list[bool] = []  # per request that found the new version still pending
    switched = threading.Event()
    each_round = threading.Barrier(THREADS)  # every round's requests leave together
    # In the switch round the old-secret requests arrive first, and their secret is checked
    # only once the switch has committed: the case "valid on arrival" is about. The
    # new-secret requests set off together once they all have arrived.
    all_arrived = threading.Barrier(THREADS)
    request = threading.local()

    real_verify, real_activate = services.client_version_verify, services.version_activate

    def verify(**kwargs: object) -> object:
        if getattr(request, "held", False):
            all_arrived.wait(timeout=60)
            assert switched.wait(timeout=60), "the switch never happened"
        return real_verify(**kwargs)

    def activate(**kwargs: object) -> bool:
        done = real_activate(**kwargs)
        switch_attempts.append(done)
        if done:
            switched.set()
        return done

    monkeypatch.setattr(services, "client_version_verify", verify)
    monkeypatch.setattr(services, "version_activate", activate)

    def hammer(n: int) -> None:
        client = Client()
        try:
            for i in range(ROUNDS):
                uses_new = _uses_new(n, i)
                request.held = i == SWITCH_ROUND and not uses_new
                each_round.wait(timeout=60)
                if i == SWITCH_ROUND and uses_new:
                    all_arrived.wait(timeout=60)
                response = client.post(TOKEN, HTTP_AUTHORIZATION=(new if uses_new else old).basic)
                answers.append(Answer(uses_new, response.wsgi_request.arrived_at,
                                      response.status_code, request.held))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
            each_round.abort()
            all_arrived.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(answers) == THREADS * ROUNDS

    assert AuditEvent.objects.filter(action="rotation.activate").count() == 1
    assert Rotation.objects.get(credential=old.credential).state == RotationState.COMPLETED
    versions = {v.number: v for v in old.credential.versions.all()}
    assert (versions[1].state, versions[2].state) == (VersionState.RETIRED, VersionState.CURRENT)
    switched_at = versions[1].retired_at
    assert switched_at == versions[2].activated_at
    for answer in answers:
        if answer.uses_new or answer.arrived_at < switched_at:
            assert answer.status == 200, answer
        else:
            assert answer.status in (200, 401)  # arrived after the switch: refused once it shows
    assert Client().post(TOKEN, HTTP_AUTHORIZATION=old.basic).status_code == 401
    assert len([m for m in mail.outbox if "Rotation complete" in m.subject]) == 1

    # The races happened: several requests found the new version pending and went to switch
    # it at once (one did), and old-secret requests that arrived before the switch were
    # checked after it.
    assert switch_attempts.count(True) == 1 and len(switch_attempts) >= 2, switch_attempts
    held = [a for a in answers if a.held]
    assert len(held) == THREADS - THREADS // 3
    assert all(a.arrived_at < switched_at and a.status == 200 for a in held), held
