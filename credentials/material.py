"""Turning what a user, an API client or an import supplies into checked material for one
credential version. Every function raises MaterialError naming the field at fault."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from organizations import dates

from . import crypto
from .crypto import MaterialError
from .models import Kind

USERNAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MAX_CLIENT_ID_LENGTH = 200
# New client ids hold no ":". HTTP Basic splits user and password at the first colon, and
# many client libraries do not form-url-encode the id as RFC 6749 section 2.3.1 asks, so
# such an id would never authenticate for them. Ids made before this rule may hold one: a
# credential keeps its own id across rotations (see _client_id), and the API decodes %3A.
CLIENT_ID_RE = re.compile(rf"^[A-Za-z0-9._-]{{3,{MAX_CLIENT_ID_LENGTH}}}$")
CLIENT_ID_RULE = f"Client IDs are 3 to {MAX_CLIENT_ID_LENGTH} letters, digits, . _ or -."
KEY_ID_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")
MIN_PASSWORD_LENGTH = 12
MAX_SECRET_LENGTH = 16_384
# JSON's \ud800 escapes can carry a lone surrogate, which is no Unicode character: UTF-8
# (hashing, encryption, the database) cannot encode it. A valid pair is one character once
# decoded, so any code point left in this range is unpaired.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
PEM_BEGIN, PEM_END = "-----BEGIN ", "-----END "


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
        """Material that carries its own expiry (a certificate) dictates the version's,
        capped to the last time Keyturn keeps: a partner certificate's "no expiry" end date
        99991231235959Z makes a credential that expires on 30 Dec 9999 00:00 UTC."""
        return dates.capped(self.certificate.not_after) if self.certificate else None


def text_refusal(value: str) -> str | None:
    """Why a text supplied from outside cannot be kept, or None. The one rule for every
    string of an API body, a query string or an import payload: PostgreSQL text cannot hold
    NUL, and no field needs one; a lone surrogate cannot be encoded at all."""
    if "\x00" in value:
        return "This value may not contain NUL characters."
    if _SURROGATE_RE.search(value):
        return "This value is not valid Unicode text (it holds a lone surrogate)."
    return None


def _strings(data: Any) -> Iterator[str]:
    """Every key and string value in parsed JSON, without recursion (the parser accepted
    the nesting; a walker must not fail on it)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())


def json_text_refusal(data: Any) -> tuple[str, str] | None:
    """(field, message) for the first string of parsed JSON that text_refusal refuses, or
    None. The field is the top-level key whose value holds it, or "body" when the string is
    a top-level key itself (a key that cannot be encoded is never echoed) or there is no
    top-level object."""
    fields = data.items() if isinstance(data, dict) else [("body", data)]
    for key, value in fields:
        key_refusal = text_refusal(key)
        if key_refusal:
            return "body", key_refusal
        for text in _strings(value):
            refusal = text_refusal(text)
            if refusal:
                return key, refusal
    return None


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
    """Pasted key text as stored: bounded, LF line ends (browsers send CRLF), one final LF,
    and one PEM block: the key parsers read the first block and ignore the rest, so a second
    key (or anything after the -----END line) would be stored unseen, behind the first one's
    fingerprint."""
    value = _bounded(value or "", field_name).replace("\r\n", "\n").replace("\r", "\n")
    text = value.strip() + "\n" if value.strip() else ""
    blocks = text.count(PEM_BEGIN)
    if blocks > 1:
        raise MaterialError(field_name, f"Give one private key: this text holds {blocks} "
                                        "PEM blocks.")
    end = text.find(PEM_END)
    if end != -1 and text[text.find("\n", end):].strip():
        raise MaterialError(field_name, "Give one private key: nothing may follow its -----END "
                                        "line.")
    return text


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


def _client_id(value: str, current_client_id: str) -> str:
    """A client id by CLIENT_ID_RE, or the credential's current id kept as it is (it was
    checked by the rule of its day)."""
    if current_client_id and value == current_client_id:
        return value
    if not CLIENT_ID_RE.match(value):
        raise MaterialError("client_id", CLIENT_ID_RULE)
    return value


def api_client_secret(*, client_id: str, client_secret: str | None = None,
                      current_client_id: str = "") -> Material:
    """`current_client_id`: the id of the credential this material replaces, if any."""
    client_id = _client_id((client_id or "").strip() or generate_client_id(), current_client_id)
    secret = client_secret if client_secret else generate_client_secret()
    if len(secret) < 32:
        raise MaterialError("client_secret", "Client secrets must have at least 32 characters.")
    return Material(
        kind=Kind.API_CLIENT_SECRET, secret=_bounded(secret, "client_secret"),
        client_id=client_id, digest_secret=True,
    )


def api_key(*, client_id: str, key_id: str, private_key: str,
            current_client_id: str = "") -> Material:
    """`current_client_id`: the id of the credential this material replaces, if any."""
    client_id = _client_id((client_id or "").strip(), current_client_id)
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
