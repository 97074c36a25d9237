"""Helpers for the imports tests: payload contents and sealed payloads (the keys and the
failure injection are tests.credentials.helpers')."""

from __future__ import annotations

from imports import payload

PAYLOAD_PASSWORD = "mdm-payload-passphrase-7731"
FAST_KDF = {"n": 2**14, "r": 8, "p": 1}  # the floor the format accepts: quick tests


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
