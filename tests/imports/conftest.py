"""Helpers for the imports tests: API key credentials, keys of every sort, payloads, and a
log capture that works with `-p no:logging` (which removes pytest's caplog)."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from credentials.models import Kind
from imports import payload
from tests.factories import make_connection, make_credential

PAYLOAD_PASSWORD = "mdm-payload-passphrase-7731"
FAST_KDF = {"n": 2**14, "r": 8, "p": 1}  # the floor the format accepts: quick tests


def pem(key: object) -> str:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def ec_pem() -> str:
    return pem(ec.generate_private_key(ec.SECP256R1()))


def ed25519_pem() -> str:
    return pem(ed25519.Ed25519PrivateKey.generate())


def rsa_pem(bits: int = 2048) -> str:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def api_key_content(private_key: str, **overrides: object) -> dict[str, object]:
    content: dict[str, object] = {
        "kind": "api_key", "name": "Carrier API (managed)", "business_unit": "warehouse",
        "material": {"client_id": "carrier-client", "key_id": "carrier-key-2",
                     "private_key": private_key},
    }
    content.update(overrides)
    return content


def seal(content: dict[str, object], password: str = PAYLOAD_PASSWORD) -> bytes:
    return payload.seal(content, password, **FAST_KDF)


@pytest.fixture
def carrier_api(unit, alice):
    """An API key credential with a connection, as the wizard and imports find them."""
    credential = make_credential(unit, Kind.API_KEY, name="Carrier API", actor=alice,
                                 client_id="carrier-client", key_id="carrier-key-1")
    make_connection(credential, alice)
    return credential


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # includes formatted tracebacks

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def captured_logs():
    """Every log record at DEBUG and above, formatted with its traceback, like caplog.text.
    (The suite runs with `-p no:logging`, so caplog itself is not available.)"""
    collector = _Collector()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
        root.setLevel(previous)
