"""SFTP keys: a user name and an SSH private key that partners log in with (or that Keyturn
uses on outbound connections); its public key is kept in the clear to check logins."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms

from .. import crypto
from ..errors import RotationStepError
from ..material import Material, checked_username, pem_text
from .base import CredentialKind, PublicSide
from .families import Family
from .forms import SOURCE_ENTER, SOURCE_GENERATE, MaterialForm, SecretTextarea, source_field

if TYPE_CHECKING:
    from ..models import CredentialVersion

KEY = "sftp_key"


def material(*, username: str, private_key: str) -> Material:
    private_key = pem_text(private_key, "private_key")
    info = crypto.parse_ssh_private_key(private_key)
    return Material(
        kind=KEY, secret=private_key, username=checked_username(username),
        public_key=info.public_key, fingerprint=info.fingerprint,
    )


def generated(*, username: str) -> Material:
    private_key, info = crypto.generate_ssh_key()
    return Material(
        kind=KEY, secret=private_key, username=checked_username(username),
        public_key=info.public_key, fingerprint=info.fingerprint,
    )


class SftpKeyForm(MaterialForm):
    source_choices = [(SOURCE_GENERATE, "Generate an Ed25519 key"),
                      (SOURCE_ENTER, "Paste a private key")]
    username = forms.CharField(max_length=64, label="User name")
    source = source_field(source_choices)
    private_key = forms.CharField(
        required=False, strip=False, label="Private key",
        widget=SecretTextarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One key, OpenSSH or PEM: Ed25519, ECDSA, or RSA of 2048 bits or more; no "
                  "passphrase.",
    )

    def build(self, cleaned: dict[str, Any]) -> Material:
        if cleaned["source"] == SOURCE_GENERATE:
            return generated(username=cleaned["username"])
        return material(username=cleaned["username"],
                        private_key=self._entered(cleaned, "private_key", "private key"))


class SftpKey(CredentialKind):
    key = KEY
    label = "SFTP key"
    family = Family.SFTP
    secret_noun = "key"
    secret_label = "Private key"
    form_class = SftpKeyForm
    payload_fields = ("username",)
    secret_field = "private_key"
    sftp_login = "publickey"
    api_auth_type = "KEY"
    api_version_fields = ("username", "fingerprint")

    def parse(self, values: Mapping[str, Any], *, current_client_id: str = "") -> Material:
        return material(username=values.get("username", ""),
                        private_key=values.get("private_key", ""))

    def generate(self, *, current: CredentialVersion, name: str, days: int,
                 now: datetime) -> Material:
        return generated(username=current.username)

    def verify(self, version: CredentialVersion, secret: str) -> None:
        if not crypto.ssh_public_key_matches(secret, version.public_key):
            raise RotationStepError("The new private key does not match its public key.")

    def example_values(self, *, identity: str, now: datetime, days: int = 365) -> dict[str, Any]:
        private_key, _info = crypto.generate_ssh_key()
        return {"username": identity, "private_key": private_key}

    def public_values(self, side: PublicSide) -> list[tuple[str, str]]:
        return [("User name", side.username), ("Fingerprint", side.fingerprint or "not recorded")]

    def api_fields(self, version: CredentialVersion | None) -> dict[str, Any]:
        return {"user": version.username if version else None, "auth_type": self.api_auth_type,
                "key_fingerprint": version.fingerprint or None if version else None}
