"""Fixtures of the portal's tests: a credential of every kind, each used by a connection."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.models import Credential, Kind
from credentials.rotation.requests import rotation_schedule
from tests.factories import make_connection, make_credential, material_for


@pytest.fixture
def every_kind(unit, alice) -> dict[str, Credential]:
    """One credential of each kind, used by an active connection, with a scheduled rotation
    to new material (so a pending version exists too)."""
    now = timezone.now()
    made = {}
    for kind in Kind.values:
        credential = make_credential(unit, kind, actor=alice, name=f"Every {kind}",
                                     expires_in=timedelta(days=90))
        make_connection(credential, alice)
        rotation_schedule(credential=credential, starts_at=now + timedelta(days=5),
                          material=material_for(kind), actor=alice)
        made[kind] = credential
    return made
