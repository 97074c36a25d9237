"""Everything that touches `cryptography`: the key ring that encrypts secrets at rest, the
keyed hash that verifies API client secrets, and parsing of SSH keys and certificates.

Nothing else in Keyturn imports `cryptography`. Error messages never quote key material.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from django.conf import settings

TOKEN_PREFIX = "v1"
# Associated data of allauth's sealed second-factor seeds (credentials.second_factor_seeds):
# a seed copied into another table does not open.
MFA_SEED_AAD = "allauth-mfa-seed"
MIN_RSA_BITS = 2048


class KeyRingError(Exception):
    pass


class MaterialError(ValueError):
    """Key or certificate material that cannot be used. `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- Encryption at rest ------------------------------------------------------------------


class KeyRing:
    """AES-256-GCM keys, newest first. The newest encrypts; any key decrypts its own tokens.

    A token is `v1:<key id>:<base64url(nonce | ciphertext+tag)>`; the associated data binds
    it to the row it belongs to, so a ciphertext copied to another row does not decrypt.
    """

    def __init__(self, spec: str) -> None:
        self.keys: dict[str, AESGCM] = {}
        self.order: list[str] = []
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id.isalnum():
                raise KeyRingError("each key must be written as <id>:<base64 key>")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise KeyRingError(f"key {key_id!r} is not valid base64") from None
            if len(raw) != 32:
                raise KeyRingError(f"key {key_id!r} must be 32 bytes (256 bits)")
            if key_id in self.keys:
                raise KeyRingError(f"key id {key_id!r} appears twice")
            self.keys[key_id] = AESGCM(raw)
            self.order.append(key_id)
        if not self.order:
            raise KeyRingError("the key ring is empty")

    @property
    def current_key_id(self) -> str:
        return self.order[0]

    def encrypt(self, plaintext: str, *, aad: str) -> str:
        nonce = os.urandom(12)
        sealed = self.keys[self.current_key_id].encrypt(nonce, plaintext.encode(), aad.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{TOKEN_PREFIX}:{self.current_key_id}:{body}"

    def decrypt(self, token: str, *, aad: str) -> str:
        prefix, key_id, body = _split_token(token)
        if key_id not in self.keys:
            raise KeyRingError(f"no key {key_id!r} in the key ring")
        raw = base64.urlsafe_b64decode(body)
        try:
            return self.keys[key_id].decrypt(raw[:12], raw[12:], aad.encode()).decode()
        except InvalidTag:
            raise KeyRingError("a secret failed its integrity check") from None


def _split_token(token: str) -> tuple[str, str, str]:
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise KeyRingError("not a Keyturn secret token")
    return parts[0], parts[1], parts[2]


@lru_cache(maxsize=4)
def _key_ring_for(spec: str) -> KeyRing:
    return KeyRing(spec)


def key_ring() -> KeyRing:
    return _key_ring_for(settings.KEYTURN_ENCRYPTION_KEYS)


def new_key_spec_entry(key_id: str) -> str:
    """A fresh `<id>:<base64>` entry to put at the front of KEYTURN_ENCRYPTION_KEYS."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


# --- Keyed hash for high-entropy secrets ---------------------------------------------------


def secret_digest(secret: str) -> str:
    """HMAC-SHA256 of a random secret. Client secrets carry 256+ bits of entropy, so a keyed
    hash is enough; a slow password hasher would only slow every token request."""
    key = settings.KEYTURN_HMAC_KEY.encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def digests_match(expected: str, candidate_secret: str) -> bool:
    return hmac.compare_digest(expected, secret_digest(candidate_secret))


# --- SSH keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SshKeyInfo:
    public_key: str  # one OpenSSH line: "ssh-ed25519 AAAA..."
    fingerprint: str  # "SHA256:..." as `ssh-keygen -lf` prints it
    key_type: str  # ED25519, ECDSA or RSA
    bits: int


def _check_key_strength(key: object, field: str) -> tuple[str, int]:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ED25519", 256
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.name not in {"secp256r1", "secp384r1", "secp521r1"}:
            raise MaterialError(field, f"The elliptic curve {key.curve.name} is not supported.")
        return "ECDSA", key.curve.key_size
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise MaterialError(
                field, f"RSA keys must have at least {MIN_RSA_BITS} bits; this one has "
                f"{key.key_size}."
            )
        return "RSA", key.key_size
    raise MaterialError(field, "Only Ed25519, ECDSA and RSA keys are accepted.")


def _ssh_info(public_key: object, field: str) -> SshKeyInfo:
    key_type, bits = _check_key_strength(public_key, field)
    line = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    return SshKeyInfo(line, ssh_fingerprint(line), key_type, bits)


def ssh_fingerprint(public_key_line: str) -> str:
    blob = base64.b64decode(public_key_line.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _load_private_key(text: str, field: str) -> object:
    data = text.strip().encode() + b"\n"
    if not data.startswith(b"-----BEGIN "):
        raise MaterialError(field, "Paste the whole private key, from its -----BEGIN line.")
    loaders = (serialization.load_ssh_private_key, serialization.load_pem_private_key)
    for loader in loaders:
        try:
            return loader(data, password=None)
        except TypeError:
            raise MaterialError(
                field, "The private key is protected by a passphrase; remove it first."
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            continue
    raise MaterialError(field, "The private key could not be read as an OpenSSH or PEM key.")


def parse_ssh_private_key(text: str, field: str = "private_key") -> SshKeyInfo:
    key = _load_private_key(text, field)
    return _ssh_info(key.public_key(), field)  # type: ignore[attr-defined]


def parse_ssh_public_key(text: str, field: str = "public_key") -> SshKeyInfo:
    try:
        key = serialization.load_ssh_public_key(text.strip().encode())
    except (ValueError, UnsupportedAlgorithm):
        raise MaterialError(field, "The public key could not be read as an OpenSSH key.") from None
    return _ssh_info(key, field)


def generate_ssh_key() -> tuple[str, SshKeyInfo]:
    """A new Ed25519 key: (private key in OpenSSH format, its public information)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    return private, _ssh_info(key.public_key(), "private_key")


def ssh_private_key_openssh(text: str) -> tuple[str, str]:
    """(key type, the key re-encoded in OpenSSH format). paramiko reads OpenSSH keys of every
    type but not PKCS#8 PEM, which material validation accepts; used by sftpd."""
    key = _load_private_key(text, "private_key")
    key_type, _bits = _check_key_strength(key, "private_key")
    openssh = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    return key_type, openssh


def ssh_public_key_matches(private_key_text: str, public_key_line: str) -> bool:
    return parse_ssh_private_key(private_key_text).public_key.split()[:2] == (
        public_key_line.split()[:2]
    )


# --- Private keys for API keys -------------------------------------------------------------


def parse_pem_private_key(text: str, field: str = "private_key") -> tuple[str, int]:
    """Checks a PEM private key (PKCS#8 or traditional) and returns (key type, bits)."""
    data = text.strip().encode() + b"\n"
    if not data.startswith(b"-----BEGIN ") or b"PRIVATE KEY-----" not in data:
        raise MaterialError(field, "Paste a PEM private key, from its -----BEGIN line.")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise MaterialError(
            field, "The private key is protected by a passphrase; remove it first."
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise MaterialError(field, "The PEM private key could not be read.") from None
    return _check_key_strength(key, field)


def generate_pem_private_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# --- X.509 certificates --------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateInfo:
    pem: str
    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint: str  # SHA-256 of the DER encoding, colon-separated upper-case hex


# RFC 5280 caps a serial number at 20 octets (40 hexadecimal digits) and asks software to
# cope with longer ones: Keyturn keeps up to 100 characters (CredentialVersion.cert_serial's
# column) and refuses a certificate whose serial is longer still.
SERIAL_MAX_LENGTH = 100


def parse_certificate(data: str | bytes, field: str = "certificate") -> CertificateInfo:
    raw = data.encode() if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----BEGIN CERTIFICATE-----"):
            cert = x509.load_pem_x509_certificate(raw.strip() + b"\n")
        else:
            cert = x509.load_der_x509_certificate(raw)
        # Names are decoded when first read, not when the certificate loads: a malformed
        # one (a UTF8String that is not UTF-8) raises here.
        subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
    except ValueError:
        raise MaterialError(
            field, "The certificate could not be read as a PEM or DER X.509 certificate."
        ) from None
    try:
        cert.public_key()  # read when the private key is matched with it
    except (ValueError, UnsupportedAlgorithm):
        raise MaterialError(
            field, "The certificate's public key could not be read: Keyturn accepts "
            "Ed25519, ECDSA and RSA keys."
        ) from None
    serial = format(cert.serial_number, "X")
    if len(serial) > SERIAL_MAX_LENGTH:
        raise MaterialError(
            field, f"The certificate's serial number is too long: {len(serial.lstrip('-'))} "
            f"hexadecimal digits, where X.509 allows 40 (Keyturn keeps up to "
            f"{SERIAL_MAX_LENGTH})."
        )
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertificateInfo(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        subject=subject,
        issuer=issuer,
        serial=serial,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
    )


def certificate_common_name(certificate_pem: str) -> str:
    """The subject's common name, read from the certificate itself (the RFC 4514 string
    lists the name's parts in reverse order, so parsing that string is a trap)."""
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def check_key_matches_certificate(
    private_key_text: str, certificate_pem: str, field: str = "private_key"
) -> None:
    key = _load_private_key(private_key_text, field)
    _check_key_strength(key, field)
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = key.public_key().public_bytes(serialization.Encoding.DER, spki)  # type: ignore
    theirs = cert.public_key().public_bytes(serialization.Encoding.DER, spki)
    if ours != theirs:
        raise MaterialError(field, "The private key does not belong to this certificate.")


def generate_self_signed_certificate(
    common_name: str, *, days: int, now: dt.datetime
) -> tuple[str, str]:
    """A new key pair and a self-signed certificate: (certificate PEM, private key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem
