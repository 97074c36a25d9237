"""The payload format on its own: round trips, and every refusal with a clear message."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from credentials import crypto
from credentials.models import Kind
from imports import payload
from imports.payload import PayloadError
from tests.credentials.helpers import ec_pem, rsa_pem
from tests.imports.helpers import PAYLOAD_PASSWORD, api_key_content, seal


def _document(data: bytes) -> dict:
    return json.loads(data)


def _encode(document: dict) -> bytes:
    return json.dumps(document).encode()


def _refusal(data: bytes, password: str = PAYLOAD_PASSWORD) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        payload.open_payload(data, password)
    assert PAYLOAD_PASSWORD not in str(caught.value)
    return caught.value


def test_it_round_trips_an_api_key():
    key = ec_pem()
    managed = payload.open_payload(seal(api_key_content(key)), PAYLOAD_PASSWORD)
    assert managed.kind == Kind.API_KEY
    assert managed.name == "Carrier API (managed)"
    assert managed.business_unit == "warehouse"
    assert managed.material.key_id == "carrier-key-2"
    assert managed.material.secret == key.strip() + "\n"
    assert key not in repr(managed)


def test_it_writes_the_documented_envelope():
    document = _document(payload.seal(api_key_content(ec_pem()), PAYLOAD_PASSWORD))
    assert set(document) == {"format", "version", "kdf", "cipher", "nonce", "ciphertext"}
    assert document["format"] == "keyturn-managed-credential"
    assert document["version"] == 1
    assert document["cipher"] == "AES-256-GCM"
    assert document["kdf"]["name"] == "scrypt"
    assert (document["kdf"]["n"], document["kdf"]["r"], document["kdf"]["p"]) == (2**15, 8, 1)
    assert len(base64.b64decode(document["kdf"]["salt"])) == 16
    assert len(base64.b64decode(document["nonce"])) == 12


def test_it_refuses_the_wrong_password_without_quoting_it():
    error = _refusal(seal(api_key_content(ec_pem())), password="not-the-password-123")
    assert error.stage == "decrypt"
    assert "password is wrong" in error.message
    assert "not-the-password-123" not in error.message


def test_it_refuses_a_changed_ciphertext_byte():
    document = _document(seal(api_key_content(ec_pem())))
    raw = bytearray(base64.b64decode(document["ciphertext"]))
    raw[len(raw) // 2] ^= 0x01
    document["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    assert _refusal(_encode(document)).stage == "decrypt"


@pytest.mark.parametrize("change", [
    lambda kdf: kdf.update(n=2**15),   # a weaker or stronger KDF than the one used
    lambda kdf: kdf.update(r=9),
    lambda kdf: kdf.update(salt=base64.b64encode(b"s" * 16).decode()),
])
def test_it_refuses_a_changed_header_because_the_header_is_authenticated(change):
    document = _document(seal(api_key_content(ec_pem())))
    change(document["kdf"])
    assert _refusal(_encode(document)).stage == "decrypt"


def test_it_refuses_a_truncated_file():
    data = seal(api_key_content(ec_pem()))
    error = _refusal(data[: len(data) // 2])
    assert error.stage == "envelope"
    assert "truncated" in error.message


def test_it_refuses_a_truncated_ciphertext_inside_valid_json():
    document = _document(seal(api_key_content(ec_pem())))
    document["ciphertext"] = base64.b64encode(base64.b64decode(document["ciphertext"])[:40]
                                              ).decode()
    assert _refusal(_encode(document)).stage == "decrypt"


@pytest.mark.parametrize("version", [2, 0, "1", 1.0, None])
def test_it_refuses_an_unknown_version(version):
    document = _document(seal(api_key_content(ec_pem())))
    document["version"] = version
    error = _refusal(_encode(document))
    assert "Unsupported payload version" in error.message
    assert "reads version 1" in error.message


def test_it_refuses_an_unknown_format():
    document = _document(seal(api_key_content(ec_pem())))
    document["format"] = "someone-elses-format"
    assert "not a Keyturn managed credential payload" in _refusal(_encode(document)).message


@pytest.mark.parametrize(("kdf", "words"), [
    ({"n": 2**30}, "parameter n"),
    ({"n": 2**20}, "parameter n"),
    ({"n": 2**14 + 1}, "power of two"),
    ({"n": 2**10}, "parameter n"),            # too weak to accept
    ({"r": 1000}, "parameter r"),
    ({"p": 64}, "parameter p"),
    ({"p": True}, "parameter p"),
    ({"n": 2**16, "r": 16}, "MiB of memory"),
    ({"name": "argon2id"}, "must be scrypt"),
    ({"salt": base64.b64encode(b"x").decode()}, "salt"),
])
def test_it_refuses_hostile_kdf_parameters_before_deriving_anything(kdf, words, monkeypatch):
    derived = []
    monkeypatch.setattr(payload, "_derive", lambda *a: derived.append(a) or b"k" * 32)
    document = _document(seal(api_key_content(ec_pem())))
    derived.clear()
    document["kdf"].update(kdf)
    error = _refusal(_encode(document))
    assert error.stage == "envelope"
    assert words in error.message
    assert derived == []  # refused before any key derivation ran


def test_it_refuses_an_oversized_file_before_parsing_it():
    data = b'{"format": "keyturn-managed-credential", "pad": "' + b"x" * 300_000 + b'"}'
    error = _refusal(data)
    assert "larger than 256 KiB" in error.message


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff\xfe", b"[1, 2]", b"[" * 100_000,
                                     b'{"format": 1}'])
def test_it_refuses_garbage_with_a_clear_message(garbage):
    assert _refusal(garbage).stage == "envelope"


def test_it_refuses_unexpected_envelope_fields():
    document = _document(seal(api_key_content(ec_pem())))
    document["comment"] = "not authenticated, so not accepted"
    assert "unexpected fields" in _refusal(_encode(document)).message


@pytest.mark.parametrize(("content", "words"), [
    (lambda key: api_key_content(key, kind="ftp_password"), "kind must be one of"),
    (lambda key: api_key_content(key, name=""), "no credential name"),
    (lambda key: api_key_content(key, material={"client_id": "carrier-client",
                                                "private_key": key}), "material.key_id"),
    (lambda key: api_key_content(key, material={"client_id": "c!", "key_id": "k",
                                                "private_key": key}), "client id"),
    (lambda key: api_key_content(key, material={"client_id": "carrier", "key_id": "bad key id",
                                                "private_key": key}), "key id"),
    (lambda key: api_key_content("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"),
     "could not be read"),
    (lambda key: api_key_content(rsa_pem(1024)), "at least 2048 bits"),
    (lambda key: api_key_content(key + ec_pem()), "holds 2 PEM blocks"),
    (lambda key: api_key_content(key, extra="field"), "unexpected fields"),
    (lambda key: api_key_content(key, valid_until="next tuesday"), "ISO 8601"),
    # Written as ISO 8601 writes times, but no calendar has them.
    (lambda key: api_key_content(key, valid_until="2030-02-30T10:00:00Z"), "ISO 8601"),
    (lambda key: api_key_content(key, valid_until="2030-06-01T24:00:00Z"), "ISO 8601"),
    (lambda key: api_key_content(key, valid_until="2030-06-01T10:00:00+25:00"), "ISO 8601"),
    (lambda key: api_key_content(key, valid_until="9999-12-31T23:59:59-23:59"), "out of range"),
    (lambda key: api_key_content(key, valid_until="0001-01-01T00:00:00+14:00"), "out of range"),
    (lambda key: {**api_key_content(key), "material": "a string"}, "no material"),
])
def test_it_refuses_bad_content_through_the_material_checks(content, words):
    key = ec_pem()
    error = _refusal(seal(content(key)))
    assert error.stage == "content"
    assert words in error.message
    assert "BEGIN" not in error.message


def test_it_refuses_a_decrypted_body_that_is_not_an_object():
    document = _document(seal(api_key_content(ec_pem())))
    salt = base64.b64decode(document["kdf"]["salt"])
    key = payload._derive(PAYLOAD_PASSWORD, salt, 2**14, 8, 1)
    nonce = base64.b64decode(document["nonce"])
    envelope = payload.read_envelope(_encode(document))
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    document["ciphertext"] = base64.b64encode(
        AESGCM(key).encrypt(nonce, b"[]", envelope.aad)).decode()
    assert "not a JSON object" in _refusal(_encode(document)).message


def test_it_refuses_to_seal_with_a_short_password():
    with pytest.raises(PayloadError, match="at least 12 characters"):
        payload.seal(api_key_content(ec_pem()), "short")


def _pkcs12(password: bytes, *, days: int = 365) -> tuple[bytes, str]:
    now = dt.datetime.now(dt.UTC)
    cert_pem, key_pem = crypto.generate_self_signed_certificate("edi.partner.example",
                                                                days=days, now=now)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    key = load_pem_private_key(key_pem.encode(), None)
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    bundle = pkcs12.serialize_key_and_certificates(
        b"as2", key, cert, None, BestAvailableEncryption(password))
    return bundle, cert.fingerprint(hashes.SHA256()).hex().upper()


def test_it_reads_an_as2_certificate_from_a_pkcs12_bundle_under_the_same_password():
    bundle, fingerprint = _pkcs12(PAYLOAD_PASSWORD.encode())
    content = {"kind": "as2_certificate", "name": "EDI partner",
               "material": {"pkcs12": base64.b64encode(bundle).decode()}}
    managed = payload.open_payload(seal(content), PAYLOAD_PASSWORD)
    assert managed.material.certificate.fingerprint.replace(":", "") == fingerprint
    assert "PRIVATE KEY" in managed.material.secret


def test_it_refuses_a_pkcs12_bundle_under_another_password():
    bundle, _ = _pkcs12(b"another-password-entirely")
    content = {"kind": "as2_certificate", "name": "EDI partner",
               "material": {"pkcs12": base64.b64encode(bundle).decode()}}
    error = _refusal(seal(content))
    assert error.field == "pkcs12"
    assert "could not be opened" in error.message


def test_it_reads_payloads_made_by_the_documented_recipe():
    from pathlib import Path

    from django.conf import settings

    document = (Path(settings.BASE_DIR) / "docs" / "import-format.md").read_text()
    recipe = document.split("## Making a payload elsewhere (Python)")[1]
    code = recipe.split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(compile(code, "import-format.md", "exec"), namespace)  # noqa: S102
    key = ec_pem()
    data = namespace["seal"](api_key_content(key), PAYLOAD_PASSWORD)
    assert payload.open_payload(data, PAYLOAD_PASSWORD).material.secret == key.strip() + "\n"
