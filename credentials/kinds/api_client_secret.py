"""API client secrets: a client id and a random secret that an integration exchanges for
tokens. The secret is verified by its HMAC (credentials.crypto.secret_digest); the encrypted
copy exists only so that permitted users can reveal it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms

from .. import crypto
from ..crypto import MaterialError
from ..errors import RotationStepError
from ..material import (
    Material,
    bounded,
    checked_client_id,
    generate_client_id,
    generate_client_secret,
)
from .base import CredentialKind, PublicSide
from .families import Family
from .forms import SOURCE_ENTER, SOURCE_GENERATE, MaterialForm, source_field

if TYPE_CHECKING:
    from ..models import CredentialVersion

KEY = "api_client_secret"
MIN_SECRET_LENGTH = 32


def material(*, client_id: str, client_secret: str | None = None,
             current_client_id: str = "") -> Material:
    """`current_client_id`: the id of the credential this material replaces, if any. Without
    a client id or secret, one is generated."""
    client_id = checked_client_id((client_id or "").strip() or generate_client_id(),
                                  current_client_id)
    secret = client_secret if client_secret else generate_client_secret()
    if len(secret) < MIN_SECRET_LENGTH:
        raise MaterialError("client_secret",
                            f"Client secrets must have at least {MIN_SECRET_LENGTH} characters.")
    return Material(kind=KEY, secret=bounded(secret, "client_secret"), client_id=client_id,
                    digest_secret=True)


class ApiClientSecretForm(MaterialForm):
    source_choices = [(SOURCE_GENERATE, "Generate a client secret"),
                      (SOURCE_ENTER, "Enter a client secret")]
    client_id = forms.CharField(
        required=False, max_length=200, label="Client ID",
        help_text="Leave empty to generate one.",
    )
    source = source_field(source_choices)
    client_secret = forms.CharField(
        required=False, strip=False, label="Client secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=f"At least {MIN_SECRET_LENGTH} characters.",
    )

    def build(self, cleaned: dict[str, Any]) -> Material:
        secret = None
        if cleaned["source"] == SOURCE_ENTER:
            secret = self._entered(cleaned, "client_secret", "client secret")
        return material(client_id=cleaned.get("client_id") or "", client_secret=secret,
                        current_client_id=self.current_client_id)


# What api_credential_fields reads of a version.
API_VERSION_FIELDS = ("client_id", "key_id", "valid_from")


def api_credential_fields(kind: str, version: CredentialVersion | None) -> dict[str, Any]:
    """The fields of the headless API's API-credential resource that come from the kind and
    its current version (both kinds of the API family give the same ones)."""
    if version is None:
        return {"kind": kind, "client_id": None, "key_id": None, "valid_from": None}
    return {"kind": kind, "client_id": version.client_id or None,
            "key_id": version.key_id or None, "valid_from": version.valid_from}


class ApiClientSecret(CredentialKind):
    key = KEY
    label = "API client secret"
    family = Family.API
    api_version_fields = API_VERSION_FIELDS
    secret_noun = "client secret"
    secret_label = "Client secret"
    form_class = ApiClientSecretForm
    payload_fields = ("client_id",)
    secret_field = "client_secret"
    automatic_by_default = True
    token_client = True

    def parse(self, values: Mapping[str, Any], *, current_client_id: str = "") -> Material:
        return material(client_id=values.get("client_id", ""),
                        client_secret=values.get("client_secret") or None,
                        current_client_id=current_client_id)

    def generate(self, *, current: CredentialVersion, name: str, days: int,
                 now: datetime) -> Material:
        return material(client_id=current.client_id, current_client_id=current.client_id)

    def verify(self, version: CredentialVersion, secret: str) -> None:
        if not crypto.digests_match(version.secret_digest, secret):
            raise RotationStepError("The new client secret does not match its digest.")

    def example_values(self, *, identity: str, now: datetime, days: int = 365) -> dict[str, Any]:
        return {"client_id": identity, "client_secret": generate_client_secret()}

    def public_values(self, side: PublicSide) -> list[tuple[str, str]]:
        return [("Client ID", side.client_id)]

    def api_fields(self, version: CredentialVersion | None) -> dict[str, Any]:
        return api_credential_fields(self.key, version)
