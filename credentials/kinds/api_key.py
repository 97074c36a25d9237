"""API keys: a client id, a key id and a private key (Ed25519, ECDSA or RSA) that an
integration signs with. The public key is kept in the clear so pages can say the key's type
and size without decrypting the private key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms

from .. import crypto
from ..crypto import MaterialError
from ..material import Material, checked_client_id, pem_text
from .api_client_secret import API_VERSION_FIELDS, api_credential_fields
from .base import CredentialKind, PublicSide
from .families import Family
from .forms import SOURCE_ENTER, SOURCE_GENERATE, MaterialForm, SecretTextarea, source_field

if TYPE_CHECKING:
    from ..models import CredentialVersion

KEY = "api_key"
KEY_ID_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")


def material(*, client_id: str, key_id: str, private_key: str,
             current_client_id: str = "") -> Material:
    """`current_client_id`: the id of the credential this material replaces, if any."""
    client_id = checked_client_id((client_id or "").strip(), current_client_id)
    key_id = (key_id or "").strip()
    if not KEY_ID_RE.match(key_id):
        raise MaterialError("key_id", "Key IDs are 1 to 200 letters, digits, . _ : / or -.")
    private_key = pem_text(private_key, "private_key")
    crypto.parse_pem_private_key(private_key)
    info = crypto.parse_ssh_private_key(private_key)
    return Material(
        kind=KEY, secret=private_key, client_id=client_id, key_id=key_id,
        public_key=info.public_key, fingerprint=info.fingerprint,
    )


def key_label(key_type: str, bits: int) -> str:
    return f"{key_type} {bits}-bit"


def stored_key_label(public_key: str) -> str:
    """A key's type and size from its public key; versions saved before API keys recorded it
    have none, and their private key is not decrypted for a label."""
    if not public_key:
        return "not recorded"
    info = crypto.parse_ssh_public_key(public_key)
    return key_label(info.key_type, info.bits)


class ApiKeyForm(MaterialForm):
    source_choices = [(SOURCE_ENTER, "Paste a PEM private key"),
                      (SOURCE_GENERATE, "Generate a P-256 private key")]
    client_id = forms.CharField(max_length=200, label="Client ID")
    key_id = forms.CharField(max_length=200, label="Key ID")
    source = source_field(source_choices)
    private_key = forms.CharField(
        required=False, strip=False, label="PEM key",
        widget=SecretTextarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One PEM private key: Ed25519, ECDSA (P-256, P-384, P-521) or RSA of 2048 "
                  "bits or more; no passphrase.",
    )

    def build(self, cleaned: dict[str, Any]) -> Material:
        if cleaned["source"] == SOURCE_GENERATE:
            private_key = crypto.generate_pem_private_key()
        else:
            private_key = self._entered(cleaned, "private_key", "PEM private key")
        return material(client_id=cleaned["client_id"], key_id=cleaned["key_id"],
                        private_key=private_key, current_client_id=self.current_client_id)


class ApiKey(CredentialKind):
    key = KEY
    label = "API key"
    family = Family.API
    api_version_fields = API_VERSION_FIELDS
    secret_noun = "API key"
    secret_label = "PEM private key"
    form_class = ApiKeyForm
    payload_fields = ("client_id", "key_id")
    secret_field = "private_key"
    automatic_by_default = True
    change_wizard_url = "credential_change"

    def parse(self, values: Mapping[str, Any], *, current_client_id: str = "") -> Material:
        return material(client_id=values.get("client_id", ""), key_id=values.get("key_id", ""),
                        private_key=values.get("private_key", ""),
                        current_client_id=current_client_id)

    def generate(self, *, current: CredentialVersion, name: str, days: int,
                 now: datetime) -> Material:
        return material(
            client_id=current.client_id, key_id=f"{current.client_id}-{now:%Y%m%d%H%M}",
            private_key=crypto.generate_pem_private_key(), current_client_id=current.client_id,
        )

    def verify(self, version: CredentialVersion, secret: str) -> None:
        crypto.parse_pem_private_key(secret)

    def example_values(self, *, identity: str, now: datetime, days: int = 365) -> dict[str, Any]:
        return {"client_id": identity, "key_id": f"{identity}-{now:%Y-%m}",
                "private_key": crypto.generate_pem_private_key()}

    def public_values(self, side: PublicSide) -> list[tuple[str, str]]:
        return [("Client ID", side.client_id), ("Key ID", side.key_id),
                ("Key", stored_key_label(side.public_key)),
                ("Fingerprint", side.fingerprint or "not recorded")]

    def api_fields(self, version: CredentialVersion | None) -> dict[str, Any]:
        return api_credential_fields(self.key, version)
