"""Material (the public side and the secret of one credential version) and the rules every
kind shares: user names, client ids, pasted PEM text, bounded secrets, text that can be kept.
Each kind's own rules live in its module of credentials.kinds. Every check raises
MaterialError naming the field at fault."""

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

USERNAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MAX_CLIENT_ID_LENGTH = 200
# New client ids hold no ":". HTTP Basic splits user and password at the first colon, and
# many client libraries do not form-url-encode the id as RFC 6749 section 2.3.1 asks, so
# such an id would never authenticate for them. Ids made before this rule may hold one: a
# credential keeps its own id across rotations (see checked_client_id), and the API decodes
# %3A.
CLIENT_ID_RE = re.compile(rf"^[A-Za-z0-9._-]{{3,{MAX_CLIENT_ID_LENGTH}}}$")
CLIENT_ID_RULE = f"Client IDs are 3 to {MAX_CLIENT_ID_LENGTH} letters, digits, . _ or -."
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
    def cert_subject(self) -> str:
        return self.certificate.subject if self.certificate else ""

    @property
    def cert_issuer(self) -> str:
        return self.certificate.issuer if self.certificate else ""

    @property
    def cert_serial(self) -> str:
        return self.certificate.serial if self.certificate else ""

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


def checked_username(value: str, field_name: str = "username") -> str:
    value = (value or "").strip()
    if not USERNAME_RE.match(value):
        raise MaterialError(
            field_name, "Enter a user name of 1 to 64 letters, digits, dots, dashes, _ or @."
        )
    return value


def bounded(value: str, field_name: str) -> str:
    if len(value) > MAX_SECRET_LENGTH:
        raise MaterialError(field_name, "This value is too long.")
    return value


def pem_text(value: str, field_name: str) -> str:
    """Pasted key text as stored: bounded, LF line ends (browsers send CRLF), one final LF,
    and one PEM block: the key parsers read the first block and ignore the rest, so a second
    key (or anything after the -----END line) would be stored unseen, behind the first one's
    fingerprint."""
    value = bounded(value or "", field_name).replace("\r\n", "\n").replace("\r", "\n")
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


def checked_client_id(value: str, current_client_id: str) -> str:
    """A client id by CLIENT_ID_RE, or the credential's current id kept as it is (it was
    checked by the rule of its day)."""
    if current_client_id and value == current_client_id:
        return value
    if not CLIENT_ID_RE.match(value):
        raise MaterialError("client_id", CLIENT_ID_RULE)
    return value
