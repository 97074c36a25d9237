"""Fixtures of the API tests: an API client credential whose secret the test knows, and API
keys of Acme and Globex."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.services import api_key_create
from tests.api.helpers import make_api_client


@pytest.fixture
def api_client(unit):
    return make_api_client(unit, expires_in=timedelta(days=20))


@pytest.fixture
def acme_key(acme, alice):
    return api_key_create(organization=acme, name="ci", actor=alice, now=timezone.now())[1]


@pytest.fixture
def globex_key(globex, charlie):
    return api_key_create(organization=globex, name="ci", actor=charlie, now=timezone.now())[1]
