"""Helpers for the API tests: an API client credential whose secret the test knows, HTTP
Basic, and the overlap of an automatic rotation."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from credentials.kinds import api_client_secret
from credentials.models import Credential, Kind
from credentials.rotation.automatic import rotation_prepare_automatic
from credentials.services import credential_create
from organizations.access import SYSTEM
from organizations.models import BusinessUnit


@dataclass
class ApiClient:
    """An API client credential and the secret the test knows."""

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
                    now: datetime | None = None) -> ApiClient:
    now = now or timezone.now()
    material = api_client_secret.material(client_id=client_id)
    credential = credential_create(
        business_unit=unit, kind=Kind.API_CLIENT_SECRET, name=f"API {client_id}",
        material=material, valid_until=now + expires_in, actor=SYSTEM, now=now,
    )
    return ApiClient(credential, client_id, material.secret)


def prepare_new_secret(client: ApiClient, *, now: datetime | None = None) -> ApiClient:
    """Puts the credential into the overlap of an automatic rotation; returns the new secret."""
    material = api_client_secret.material(client_id=client.client_id)
    rotation = rotation_prepare_automatic(credential=client.credential, material=material,
                                          now=now or timezone.now())
    assert rotation is not None, "the current version must expire within 30 days"
    return ApiClient(client.credential, client.client_id, material.secret)
