"""Fixtures of the API tests: an API client credential whose secret the test knows, and API
keys of Acme and Globex."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from api.services import api_key_create
from credentials.kinds import api_client_secret
from credentials.models import Credential, Kind
from credentials.rotation.automatic import rotation_prepare_automatic
from credentials.services import credential_create
from organizations.access import SYSTEM
from organizations.models import BusinessUnit

# The browser fixtures of tests/browser (one chromium per module), for test_browser.py.
from tests.browser.conftest import browser, context, page  # noqa: F401


@dataclass
class Client:
    credential: Credential
    client_id: str
    secret: str

    @property
    def basic(self) -> str:
        return basic_auth(self.client_id, self.secret)


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def make_api_client(unit: BusinessUnit, *, client_id: str = "erp-prod",
                    expires_in: timedelta = timedelta(days=180),
                    now: datetime | None = None) -> Client:
    now = now or timezone.now()
    material = api_client_secret.material(client_id=client_id)
    credential = credential_create(
        business_unit=unit, kind=Kind.API_CLIENT_SECRET, name=f"API {client_id}",
        material=material, valid_until=now + expires_in, actor=SYSTEM, now=now,
    )
    return Client(credential, client_id, material.secret)


def prepare_new_secret(client: Client, *, now: datetime | None = None) -> Client:
    """Puts the credential into the overlap of an automatic rotation; returns the new secret."""
    material = api_client_secret.material(client_id=client.client_id)
    rotation = rotation_prepare_automatic(credential=client.credential, material=material,
                                          now=now or timezone.now())
    assert rotation is not None, "the current version must expire within 30 days"
    return Client(client.credential, client.client_id, material.secret)


@pytest.fixture
def api_client(unit):
    return make_api_client(unit, expires_in=timedelta(days=20))


@pytest.fixture
def acme_key(acme, alice):
    return api_key_create(organization=acme, name="ci", actor=alice, now=timezone.now())[1]


@pytest.fixture
def globex_key(globex, charlie):
    return api_key_create(organization=globex, name="ci", actor=charlie, now=timezone.now())[1]
