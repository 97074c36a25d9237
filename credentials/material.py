"""Turning what a user, an API client or an import supplies into checked material for one
credential version. Every function raises MaterialError naming the field at fault."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime

from . import crypto
from .crypto import MaterialError
from .models import Kind

USERNAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{3,200}$")
KEY_ID_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")
MIN_PASSWORD_LENGTH = 12
MAX_SECRET_LENGTH = 16_384


@dataclass(frozen=True)
class Material:
    """Public fields and the secret of one version. The secret is masked in repr()."""

    kind: str
    secret: str = field(repr=False)
    username: str = ""
    client_id: str = ""
    key_id: str = ""
    public_key: str = ""
    fingerprint: str = ""
    certificate: crypto.CertificateInfo | None = None
    digest_secret: bool = False

    @property
    def valid_until(self) -> datetime | None:
        """Material that carries its own expiry (a certificate) dictates the version's."""
        return self.certificate.not_after if self.certificate else None


def generate_password(length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits + "-_.~!#%+="
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits]
        if all(any(c in group for c in password) for group in classes):
            return password


def generate_client_secret() -> str:
    return secrets.token_urlsafe(48)


def generate_client_id() -> str:
    return secrets.token_hex(16)


def _username(value: str, field_name: str = "username") -> str:
    value = (value or "").strip()
    if not USERNAME_RE.match(value):
        raise MaterialError(
            field_name, "Enter a user name of 1 to 64 letters, digits, dots, dashes, _ or @."
        )
    return value


def _bounded(value: str, field_name: str) -> str:
    if len(value) > MAX_SECRET_LENGTH:
        raise MaterialError(field_name, "This value is too long.")
    return value


def _pem_text(value: str, field_name: str) -> str:
    """Pasted key text as stored: bounded, LF line ends (browsers send CRLF), one final LF."""
    value = _bounded(value or "", field_name).replace("\r\n", "\n").replace("\r", "\n")
    return value.strip() + "\n" if value.strip() else ""


def sftp_password(*, username: str, password: str) -> Material:
    password = _bounded(password or "", "password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise MaterialError(
            "password", f"Use at least {MIN_PASSWORD_LENGTH} characters, or generate one."
        )
    if password != password.strip() or any(ord(c) < 32 for c in password):
        raise MaterialError("password", "The password may not start or end with spaces.")
    return Material(kind=Kind.SFTP_PASSWORD, secret=password, username=_username(username))


def sftp_key(*, username: str, private_key: str) -> Material:
    private_key = _pem_text(private_key, "private_key")
    info = crypto.parse_ssh_private_key(private_key)
    return Material(
        kind=Kind.SFTP_KEY, secret=private_key, username=_username(username),
        public_key=info.public_key, fingerprint=info.fingerprint,
    )


def sftp_key_generated(*, username: str) -> Material:
    private_key, info = crypto.generate_ssh_key()
    return Material(
        kind=Kind.SFTP_KEY, secret=private_key, username=_username(username),
        public_key=info.public_key, fingerprint=info.fingerprint,
    )


def as2_certificate(*, certificate: str | bytes, private_key: str) -> Material:
    private_key = _pem_text(private_key, "private_key")
    info = crypto.parse_certificate(certificate or b"")
    crypto.check_key_matches_certificate(private_key, info.pem)
    return Material(
        kind=Kind.AS2_CERTIFICATE, secret=private_key,
        fingerprint=info.fingerprint, certificate=info,
    )


def as2_certificate_generated(*, common_name: str, days: int, now: datetime) -> Material:
    cert_pem, key_pem = crypto.generate_self_signed_certificate(common_name, days=days, now=now)
    return as2_certificate(certificate=cert_pem, private_key=key_pem)


def api_client_secret(*, client_id: str, client_secret: str | None = None) -> Material:
    client_id = (client_id or "").strip() or generate_client_id()
    if not CLIENT_ID_RE.match(client_id):
        raise MaterialError("client_id", "Client IDs are 3 to 200 letters, digits, . _ : or -.")
    secret = client_secret if client_secret else generate_client_secret()
    if len(secret) < 32:
        raise MaterialError("client_secret", "Client secrets must have at least 32 characters.")
    return Material(
        kind=Kind.API_CLIENT_SECRET, secret=_bounded(secret, "client_secret"),
        client_id=client_id, digest_secret=True,
    )


def api_key(*, client_id: str, key_id: str, private_key: str) -> Material:
    client_id = (client_id or "").strip()
    if not CLIENT_ID_RE.match(client_id):
        raise MaterialError("client_id", "Client IDs are 3 to 200 letters, digits, . _ : or -.")
    key_id = (key_id or "").strip()
    if not KEY_ID_RE.match(key_id):
        raise MaterialError("key_id", "Key IDs are 1 to 200 letters, digits, . _ : / or -.")
    private_key = _pem_text(private_key, "private_key")
    crypto.parse_pem_private_key(private_key)
    # The public key is kept in the clear so pages can say the key's type and size without
    # decrypting the private key.
    info = crypto.parse_ssh_private_key(private_key)
    return Material(
        kind=Kind.API_KEY, secret=private_key, client_id=client_id, key_id=key_id,
        public_key=info.public_key, fingerprint=info.fingerprint,
    )
