"""The managed credential payload: a password-encrypted file that carries one credential
between Keyturn and managed environments (docs/import-format.md is the specification).

This module (with imports.pkcs12_costs, which reads what a PKCS#12 bundle would cost to open)
imports `cryptography` directly, the one exception to "only credentials/crypto.py does": the
payload format (its password-based KDF, its authenticated cipher and PKCS#12 bundles sealed
with the same password) is a separate concern from encryption at rest, and keeping it here
keeps the whole format, and all its KDF bounds, in one file. What a kind's material holds, and
its checks, are the kind's (credentials.kinds): a payload's material is parsed by its kind
exactly as if it had been typed into the portal.

Nothing here logs, and no message quotes the password or any secret: a PayloadError's text
is safe to show to the user and to write to the audit trail.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import pkcs12
from django.utils.dateparse import parse_datetime

from credentials import material as m
from credentials.crypto import MaterialError
from credentials.kinds import KINDS
from credentials.material import Material
from organizations import dates

from .pkcs12_costs import Pkcs12Unreadable, pkcs12_check_costs

FORMAT = "keyturn-managed-credential"
VERSION = 1
CIPHER = "AES-256-GCM"
MAX_PAYLOAD_BYTES = 256 * 1024

# scrypt cost bounds. A hostile file must not make us spend more than ~64 MiB of memory and a
# fraction of a second per attempt; a file must not be weaker than scrypt's interactive floor.
SCRYPT_MIN_N = 2**14
SCRYPT_MAX_N = 2**16
SCRYPT_R_RANGE = (8, 16)
SCRYPT_P_RANGE = (1, 4)
SCRYPT_MAX_MEMORY = 64 * 1024 * 1024  # scrypt needs 128 * n * r bytes
SALT_LENGTH_RANGE = (16, 64)
NONCE_LENGTH = 12
TAG_LENGTH = 16
DEFAULT_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
# PKCS#12 cost bounds, checked before the bundle is opened (imports.pkcs12_costs reads them):
# OpenSSL runs whatever iteration count a bundle names, so 60,000,000 rounds held a worker for
# half a minute. Tools write 2,048 to 10,000; these bounds keep a bundle under a few seconds.
PKCS12_MAX_ROUNDS = 1_000_000  # per key derivation (the MAC, each encrypted part, each key)
PKCS12_MAX_TOTAL_ROUNDS = 3_000_000  # all of them together
MIN_EXPORT_PASSWORD_LENGTH = 12

ENVELOPE_KEYS = {"format", "version", "kdf", "cipher", "nonce", "ciphertext"}
CONTENT_KEYS = {"kind", "name", "business_unit", "valid_until", "material", "exported_at",
                "source"}


class PayloadError(ValueError):
    """A payload that cannot be used. `stage` says how far it got: "envelope" (the file
    itself), "decrypt" (wrong password or altered bytes) or "content" (decrypted, but the
    credential inside is not acceptable). The message never quotes secret material."""

    def __init__(self, message: str, *, stage: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.field = field


@dataclass(frozen=True)
class Envelope:
    """The clear part of a payload, checked; `aad` is what the cipher authenticates."""

    version: int
    n: int
    r: int
    p: int
    salt: bytes
    nonce: bytes
    ciphertext: bytes = field(repr=False)
    aad: bytes = field(repr=False)


@dataclass(frozen=True)
class ManagedCredential:
    """The decrypted, validated content. The secret lives only in `material` (masked repr)."""

    kind: str
    name: str
    business_unit: str
    valid_until: datetime | None
    material: Material


def sha256_hex(data: bytes) -> str:
    """A payload's identity: the same bytes count once per organization, and the audit trail
    names a payload by it."""
    return hashlib.sha256(data).hexdigest()


# --- The envelope --------------------------------------------------------------------------


def _b64(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise PayloadError(f"The payload's {name} is missing.", stage="envelope")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError(f"The payload's {name} is not valid base64.", stage="envelope") from None


def _int(value: object, name: str, low: int, high: int) -> int:
    # bool is an int in Python; a KDF parameter of `true` is a malformed file.
    if type(value) is not int or not low <= value <= high:
        raise PayloadError(
            f"The payload's key derivation parameter {name} must be a whole number from "
            f"{low} to {high}; this file is refused.", stage="envelope",
        )
    return value


def _aad(version: int, kdf: dict[str, Any]) -> bytes:
    """The header in canonical JSON: the cipher authenticates it, so a changed format,
    version or KDF parameter makes the file fail to decrypt, like a changed byte would."""
    header = {"format": FORMAT, "version": version, "cipher": CIPHER, "kdf": kdf}
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def read_envelope(data: bytes) -> Envelope:
    """Checks everything that can be checked without the password: size, structure, format,
    version, and KDF parameters within bounds (before any key derivation runs)."""
    document = _document(data)
    version = _version(document)
    kdf = document.get("kdf")
    n, r, p, salt = _kdf_parameters(kdf)
    nonce = _b64(document.get("nonce"), "nonce")
    if len(nonce) != NONCE_LENGTH:
        raise PayloadError("The payload's nonce has the wrong length.", stage="envelope")
    ciphertext = _b64(document.get("ciphertext"), "ciphertext")
    if len(ciphertext) <= TAG_LENGTH:
        raise PayloadError("The payload's ciphertext is truncated.", stage="envelope")
    return Envelope(version=version, n=n, r=r, p=p, salt=salt, nonce=nonce,
                    ciphertext=ciphertext, aad=_aad(version, kdf))


def _document(data: bytes) -> dict[str, Any]:
    """The file as a JSON object that says it is a payload: at most MAX_PAYLOAD_BYTES of valid
    Unicode JSON with the payload's format name."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"The file is larger than {MAX_PAYLOAD_BYTES // 1024} KiB, so it is not a "
            "credential payload.", stage="envelope",
        )
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PayloadError(
            "The file is not a complete credential payload (it is not valid JSON; it may be "
            "truncated).", stage="envelope",
        ) from None
    if m.json_text_refusal(document) is not None:
        raise PayloadError(
            "The file is not a Keyturn managed credential payload (it holds text that is not "
            "valid Unicode).", stage="envelope",
        )
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PayloadError(
            f"The file is not a Keyturn managed credential payload (format {FORMAT!r}).",
            stage="envelope",
        )
    return document


def _version(document: dict[str, Any]) -> int:
    """The format version this Keyturn reads, with the envelope's fields and cipher."""
    version = document.get("version")
    if version != VERSION or type(version) is not int:
        raise PayloadError(
            f"Unsupported payload version {json.dumps(version)[:20]}; this Keyturn reads version "
            f"{VERSION}.", stage="envelope",
        )
    extra = sorted(str(key)[:40] for key in set(document) - ENVELOPE_KEYS)
    if extra:
        raise PayloadError(
            f"The payload has unexpected fields: {', '.join(extra)[:200]}.", stage="envelope"
        )
    if document.get("cipher") != CIPHER:
        raise PayloadError(f"The payload's cipher must be {CIPHER}.", stage="envelope")
    return version


def _kdf_parameters(kdf: object) -> tuple[int, int, int, bytes]:
    """scrypt's (n, r, p, salt), each within the bounds above: the cost a file may ask of us
    is known before any key is derived."""
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt" or set(kdf) != {
        "name", "n", "r", "p", "salt"
    }:
        raise PayloadError(
            "The payload's key derivation must be scrypt with n, r, p and salt.",
            stage="envelope",
        )
    n = _int(kdf["n"], "n", SCRYPT_MIN_N, SCRYPT_MAX_N)
    if n & (n - 1):
        raise PayloadError(
            "The payload's key derivation parameter n must be a power of two.", stage="envelope"
        )
    r = _int(kdf["r"], "r", *SCRYPT_R_RANGE)
    p = _int(kdf["p"], "p", *SCRYPT_P_RANGE)
    if 128 * n * r > SCRYPT_MAX_MEMORY:
        raise PayloadError(
            f"The payload's key derivation would need more than "
            f"{SCRYPT_MAX_MEMORY // 2**20} MiB of memory; this file is refused.",
            stage="envelope",
        )
    salt = _b64(kdf["salt"], "salt")
    if not SALT_LENGTH_RANGE[0] <= len(salt) <= SALT_LENGTH_RANGE[1]:
        raise PayloadError("The payload's salt has the wrong length.", stage="envelope")
    return n, r, p, salt


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def seal(content: dict[str, Any], password: str, *, n: int = DEFAULT_SCRYPT["n"],
         r: int = DEFAULT_SCRYPT["r"], p: int = DEFAULT_SCRYPT["p"]) -> bytes:
    """Encrypts `content` (the JSON object described in docs/import-format.md)."""
    if len(password) < MIN_EXPORT_PASSWORD_LENGTH:
        raise PayloadError(
            f"Use a password of at least {MIN_EXPORT_PASSWORD_LENGTH} characters.",
            stage="envelope", field="password",
        )
    salt, nonce = os.urandom(16), os.urandom(NONCE_LENGTH)
    kdf = {"name": "scrypt", "n": n, "r": r, "p": p, "salt": base64.b64encode(salt).decode()}
    plaintext = json.dumps(content, sort_keys=True).encode()
    sealed = AESGCM(_derive(password, salt, n, r, p)).encrypt(nonce, plaintext, _aad(VERSION, kdf))
    document = {
        "format": FORMAT, "version": VERSION, "kdf": kdf, "cipher": CIPHER,
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    data = json.dumps(document, indent=2).encode() + b"\n"
    read_envelope(data)  # what we write must be what we accept (bounds, size)
    return data


def decrypt(data: bytes, password: str) -> dict[str, Any]:
    """The decrypted content as a JSON object, unchecked beyond being an object."""
    envelope = read_envelope(data)
    key = _derive(password, envelope.salt, envelope.n, envelope.r, envelope.p)
    try:
        plaintext = AESGCM(key).decrypt(envelope.nonce, envelope.ciphertext, envelope.aad)
    except InvalidTag:
        # GCM cannot tell a wrong password from an altered byte, and neither can we.
        raise PayloadError(
            "The password is wrong, or the file was altered or damaged after it was made.",
            stage="decrypt", field="password",
        ) from None
    try:
        content = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        content = None
    if not isinstance(content, dict):
        raise PayloadError("The decrypted content is not a JSON object.", stage="content")
    refused = m.json_text_refusal(content)
    if refused is not None:
        # Named by its field, never quoted: the text may be a secret.
        field_name = refused[0] if refused[0] in CONTENT_KEYS else "content"
        raise PayloadError(f"The payload's {field_name} is not acceptable: {refused[1]}",
                           stage="content", field=field_name)
    return content


# --- The content ---------------------------------------------------------------------------


def _text(content: dict[str, Any], key: str, label: str, *, required: bool = True) -> str:
    value = content.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise PayloadError(f"The payload has no {label}.", stage="content", field=key)
    return value


class _Pkcs12Budget:
    """Refuses a bundle, before any of its key derivations runs, once one of them or all of
    them together would exceed the PKCS#12 bounds."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, part: str, iterations: int) -> None:
        self.total += max(iterations, 0)
        if iterations < 1:
            raise PayloadError(
                f"The PKCS#12 bundle names {iterations} key derivation rounds for {part}, "
                "which is not a valid count.", stage="content", field="pkcs12",
            )
        if iterations > PKCS12_MAX_ROUNDS:
            raise PayloadError(
                f"The PKCS#12 bundle asks for {iterations:,} key derivation rounds for {part}; "
                f"Keyturn accepts at most {PKCS12_MAX_ROUNDS:,}, so it was not opened. Export "
                "it again with fewer rounds.", stage="content", field="pkcs12",
            )
        if self.total > PKCS12_MAX_TOTAL_ROUNDS:
            raise PayloadError(
                f"The PKCS#12 bundle asks for more than {PKCS12_MAX_TOTAL_ROUNDS:,} key "
                "derivation rounds in all; Keyturn accepts at most that, so it was not opened. "
                "Export it again with fewer rounds or fewer encrypted parts.",
                stage="content", field="pkcs12",
            )


def _from_pkcs12(encoded: str, password: str) -> tuple[str, str]:
    """(certificate PEM, private key PEM) from a PKCS#12 bundle sealed with `password`. It is
    only ever parsed after the outer envelope authenticated under the same password, and only
    opened once every key derivation it asks for is within bounds."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("The PKCS#12 bundle is not valid base64.", stage="content",
                           field="pkcs12") from None
    try:
        pkcs12_check_costs(raw, password, _Pkcs12Budget())
    except Pkcs12Unreadable as exc:
        raise PayloadError(f"The PKCS#12 bundle {exc.message}", stage="content",
                           field="pkcs12") from None
    try:
        key, certificate, _extra = pkcs12.load_key_and_certificates(raw, password.encode())
    except (ValueError, TypeError):
        raise PayloadError(
            "The PKCS#12 bundle could not be opened with the payload's password.",
            stage="content", field="pkcs12",
        ) from None
    if key is None or certificate is None:
        raise PayloadError(
            "The PKCS#12 bundle must hold one certificate and its private key.",
            stage="content", field="pkcs12",
        )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def _material(kind: str, given: dict[str, Any], password: str,
              current_client_id: str) -> Material:
    """The material of the payload, by its kind's fields (CredentialKind.payload_fields and
    secret_field) and parsed by its kind. A kind that takes PKCS#12 may instead come as
    {"pkcs12": base64} under the same password, which gives its certificate and private_key."""
    spec = KINDS[kind]
    names = (*spec.payload_fields, spec.secret_field)
    if spec.payload_pkcs12 and "pkcs12" in given:
        if set(given) != {"pkcs12"}:
            raise PayloadError(
                f"An {spec.label} comes either as {' and '.join(names)}, or as pkcs12 alone.",
                stage="content", field="pkcs12",
            )
        certificate, private_key = _from_pkcs12(_text(given, "pkcs12", "PKCS#12 bundle"),
                                                password)
        given = {"certificate": certificate, "private_key": private_key}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise PayloadError(
            f"The payload's material has unexpected fields: {', '.join(unknown)[:200]}.",
            stage="content",
        )
    values = {name: _text(given, name, f"material.{name}") for name in names}
    try:
        return spec.parse(values, current_client_id=current_client_id)
    except MaterialError as exc:
        raise PayloadError(
            f"The payload's {exc.field.replace('_', ' ')} is not acceptable: {exc.message}",
            stage="content", field=exc.field,
        ) from None


def parse_content(content: dict[str, Any], password: str, *,
                  current_client_id: str = "") -> ManagedCredential:
    """Validates decrypted content; keys and certificates are checked by
    credentials.material exactly as if they had been typed into the portal.
    `current_client_id`: the id of the credential it would replace, which it may keep."""
    unknown = sorted(str(key)[:40] for key in set(content) - CONTENT_KEYS)
    if unknown:
        raise PayloadError(
            f"The payload has unexpected fields: {', '.join(unknown)[:200]}.", stage="content"
        )
    kind = content.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise PayloadError(
            "The payload's kind must be one of: " + ", ".join(KINDS) + ".",
            stage="content", field="kind",
        )
    name = _text(content, "name", "credential name").strip()
    if len(name) > 200:
        raise PayloadError("The payload's credential name is too long.", stage="content",
                           field="name")
    business_unit = _text(content, "business_unit", "business unit", required=False).strip()
    valid_until = None
    if content.get("valid_until") is not None:
        raw = _text(content, "valid_until", "expiry")
        try:
            valid_until = parse_datetime(raw) if len(raw) < 40 else None
        except ValueError:  # well formed, but no such time: 30 Feb, hour 24, offset of a day
            valid_until = None
        if valid_until is None or valid_until.tzinfo is None:
            raise PayloadError(
                "The payload's valid_until must be an ISO 8601 date and time with its offset.",
                stage="content", field="valid_until",
            )
        if not dates.in_range(valid_until):
            raise PayloadError(f"The payload's valid_until is out of range: {dates.RANGE_MESSAGE}",
                               stage="content", field="valid_until")
    given = content.get("material")
    if not isinstance(given, dict):
        raise PayloadError("The payload has no material.", stage="content", field="material")
    return ManagedCredential(
        kind=kind, name=name, business_unit=business_unit, valid_until=valid_until,
        material=_material(kind, given, password, current_client_id),
    )


def open_payload(data: bytes, password: str, *,
                 current_client_id: str = "") -> ManagedCredential:
    """Checks, decrypts and validates a payload: the one entry point for importing.
    `current_client_id`: as for parse_content."""
    return parse_content(decrypt(data, password), password,
                         current_client_id=current_client_id)

