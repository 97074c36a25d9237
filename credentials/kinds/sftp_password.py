"""SFTP passwords: a user name and a password that partners log in with."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms

from ..crypto import MaterialError
from ..errors import RotationStepError
from ..material import Material, bounded, checked_username, generate_password
from .base import CredentialKind, PublicSide
from .families import Family
from .forms import SOURCE_ENTER, SOURCE_GENERATE, MaterialForm, source_field

if TYPE_CHECKING:
    from ..models import CredentialVersion

KEY = "sftp_password"
MIN_PASSWORD_LENGTH = 12


def material(*, username: str, password: str) -> Material:
    password = bounded(password or "", "password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise MaterialError(
            "password", f"Use at least {MIN_PASSWORD_LENGTH} characters, or generate one."
        )
    if password != password.strip() or any(ord(c) < 32 for c in password):
        raise MaterialError("password", "The password may not start or end with spaces.")
    return Material(kind=KEY, secret=password, username=checked_username(username))


class SftpPasswordForm(MaterialForm):
    source_choices = [(SOURCE_GENERATE, "Generate a strong password"),
                      (SOURCE_ENTER, "Enter a password")]
    username = forms.CharField(max_length=64, label="User name")
    source = source_field(source_choices)
    password = forms.CharField(
        required=False, strip=False, label="Password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=f"At least {MIN_PASSWORD_LENGTH} characters, without spaces at either end. "
                  "A generated one has 24.",
    )

    def build(self, cleaned: dict[str, Any]) -> Material:
        password = (generate_password() if cleaned["source"] == SOURCE_GENERATE
                    else self._entered(cleaned, "password", "password"))
        return material(username=cleaned["username"], password=password)


class SftpPassword(CredentialKind):
    key = KEY
    label = "SFTP password"
    family = Family.SFTP
    secret_noun = "password"
    secret_label = "Password"
    form_class = SftpPasswordForm
    payload_fields = ("username",)
    secret_field = "password"
    sftp_login = "password"
    api_auth_type = "PASSWORD"
    api_version_fields = ("username",)

    def parse(self, values: Mapping[str, Any], *, current_client_id: str = "") -> Material:
        return material(username=values.get("username", ""),
                        password=values.get("password", ""))

    def generate(self, *, current: CredentialVersion, name: str, days: int,
                 now: datetime) -> Material:
        return material(username=current.username, password=generate_password())

    def verify(self, version: CredentialVersion, secret: str) -> None:
        if not secret:
            raise RotationStepError("The new password is empty.")

    def example_values(self, *, identity: str, now: datetime, days: int = 365) -> dict[str, Any]:
        return {"username": identity, "password": generate_password()}

    def public_values(self, side: PublicSide) -> list[tuple[str, str]]:
        return [("User name", side.username)]

    def api_fields(self, version: CredentialVersion | None) -> dict[str, Any]:
        return {"user": version.username if version else None, "auth_type": self.api_auth_type,
                "key_fingerprint": None}
