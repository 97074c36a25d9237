"""PKCS#12 bundles are refused, fast and before anything is derived, when they ask for more
key derivation rounds than the bounds in imports.payload allow; bundles within them still open.

The hostile bundles are real ones (cryptography's builder, `openssl pkcs12`) whose iteration
counts are rewritten in the DER afterwards, and whose MAC is then computed again
(`_remac`), so that OpenSSL would accept them and go on to run the rounds they ask for:
computing 60,000,000 rounds to build them would take the time the refusal must save."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import shutil
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import RC2
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import (
    PrivateFormat,
    load_pem_private_key,
    pkcs12,
)

from audit.models import AuditEvent
from credentials import crypto
from imports import payload, pkcs12_costs, services
from imports.models import ImportSource, ImportState, PendingImport
from imports.payload import PayloadError
from tests.imports.helpers import PAYLOAD_PASSWORD, seal

MARKER = 54_321  # the builder's round count, found and rewritten in the DER
HUGE = 60_000_000


# --- A test-side DER codec (independent of imports.pkcs12_costs) -----------------------------


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _items(data: bytes) -> list[tuple[int, bytes]]:
    """The TLVs of a DER string, one level deep: [(tag, contents)]; raises unless exact."""
    items, pos = [], 0
    while pos < len(data):
        tag, first = data[pos], data[pos + 1]
        pos += 2
        length = first
        if first & 0x80:
            count = first & 0x7F
            if count == 0 or count > 4:
                raise ValueError("not DER")
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        if pos + length > len(data):
            raise ValueError("not DER")
        items.append((tag, data[pos:pos + length]))
        pos += length
    return items


def _integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _rewrite(data: bytes, change) -> bytes:
    """Re-encodes a DER string with every INTEGER passed through `change`, looking inside
    constructed values and inside OCTET STRINGs that hold DER themselves."""
    out = b""
    for tag, content in _items(data):
        if tag == 0x02:
            out += _integer(change(int.from_bytes(content, "big", signed=True)))
        elif tag & 0x20:
            out += _tlv(tag, _rewrite(content, change))
        elif tag == 0x04:
            try:
                inner = _rewrite(content, change) if content[:1] == b"\x30" else content
            except (ValueError, IndexError):
                inner = content
            out += _tlv(tag, inner)
        else:
            out += _tlv(tag, content)
    return out


def _pkcs12_mac_key(password: str, salt: bytes, iterations: int) -> bytes:
    """RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64), purpose 3 (the MAC key)."""
    v = 64
    bmp = (password + "\0").encode("utf-16-be")
    fill = lambda data: (data * v)[:v * -(-len(data) // v)]  # noqa: E731
    digest = hashlib.sha256(bytes([3]) * v + fill(salt) + fill(bmp)).digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha256(digest).digest()
    return digest


def _remac(bundle: bytes, password: str = PAYLOAD_PASSWORD) -> bytes:
    """The bundle with its HMAC-SHA256 MAC computed again over its (rewritten) contents."""
    ((_, pfx),) = _items(bundle)
    version, (auth_tag, auth_safe), (mac_tag, mac) = _items(pfx)
    _oid, (_, explicit) = _items(auth_safe)
    ((_, authenticated),) = _items(explicit)
    (digest_tag, digest_info), (_, salt), (_, iterations) = _items(mac)
    algorithm, _old = _items(digest_info)
    key = _pkcs12_mac_key(password, salt, int.from_bytes(iterations, "big"))
    value = hmac.new(key, authenticated, hashlib.sha256).digest()
    mac = (_tlv(digest_tag, _tlv(*algorithm) + _tlv(0x04, value)) + _tlv(0x04, salt)
           + _tlv(0x02, iterations))
    return _tlv(0x30, _tlv(*version) + _tlv(auth_tag, auth_safe) + _tlv(mac_tag, mac))


def _marker_to(data: bytes, rounds: int) -> bytes:
    return _rewrite(data, lambda value: rounds if value == MARKER else value)


def _with_rounds(bundle: bytes, rounds: int) -> bytes:
    return _remac(_marker_to(bundle, rounds))


def _with_mac_rounds(bundle: bytes, rounds: int) -> bytes:
    ((_, pfx),) = _items(bundle)
    version, auth_safe, (mac_tag, mac) = _items(pfx)
    digest, salt, _iterations = _items(mac)
    mac = _tlv(digest[0], digest[1]) + _tlv(salt[0], salt[1]) + _integer(rounds)
    return _tlv(0x30, _tlv(*version) + _tlv(*auth_safe) + _tlv(mac_tag, mac))


# --- Bundles -------------------------------------------------------------------------------------


def _key_and_certificate() -> tuple[str, str]:
    cert_pem, key_pem = crypto.generate_self_signed_certificate(
        "edi.partner.example", days=365, now=dt.datetime.now(dt.UTC))
    return cert_pem, key_pem


def _bundle(algorithm: pkcs12.PBES, rounds: int = MARKER,
            password: str = PAYLOAD_PASSWORD) -> bytes:
    cert_pem, key_pem = _key_and_certificate()
    encryption = (PrivateFormat.PKCS12.encryption_builder().kdf_rounds(rounds)
                  .key_cert_algorithm(algorithm).hmac_hash(hashes.SHA256())
                  .build(password.encode()))
    return pkcs12.serialize_key_and_certificates(
        b"as2", load_pem_private_key(key_pem.encode(), None),
        x509.load_pem_x509_certificate(cert_pem.encode()), None, encryption)


def _payload(bundle: bytes) -> bytes:
    return seal({"kind": "as2_certificate", "name": "EDI partner",
                 "material": {"pkcs12": base64.b64encode(bundle).decode()}})


def _refusal(data: bytes) -> tuple[PayloadError, float]:
    started = time.perf_counter()
    with pytest.raises(PayloadError) as caught:
        payload.open_payload(data, PAYLOAD_PASSWORD)
    return caught.value, time.perf_counter() - started


ALGORITHMS = [pkcs12.PBES.PBESv2SHA256AndAES256CBC, pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC]


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=["pbes2-aes", "pkcs12-3des"])
def test_it_refuses_a_bundle_made_with_60_million_rounds_in_well_under_a_second(algorithm):
    data = _payload(_with_rounds(_bundle(algorithm), HUGE))
    error, elapsed = _refusal(data)
    assert elapsed < 0.5, f"refused after {elapsed:.2f} s"
    assert (error.stage, error.field) == ("content", "pkcs12")
    assert "60,000,000 key derivation rounds" in error.message
    assert "at most 1,000,000" in error.message
    assert PAYLOAD_PASSWORD not in error.message


def test_it_refuses_a_mac_made_with_60_million_rounds_before_checking_it():
    bundle = _with_mac_rounds(_bundle(pkcs12.PBES.PBESv2SHA256AndAES256CBC), HUGE)
    error, elapsed = _refusal(_payload(bundle))
    assert elapsed < 0.5
    assert "60,000,000 key derivation rounds for its MAC" in error.message


def test_it_opens_bundles_within_the_bounds():
    for algorithm in ALGORITHMS:
        bundle = _bundle(algorithm, rounds=200_000)
        managed = payload.open_payload(_payload(bundle), PAYLOAD_PASSWORD)
        assert "PRIVATE KEY" in managed.material.secret


def test_it_accepts_exactly_the_limit_and_refuses_one_round_more():
    """The limit is on the count the file names: 1,000,000 is allowed and derived (the parts
    were encrypted with fewer rounds, so the bundle then does not open), one more is not."""
    bundle = _bundle(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
    at_limit, _ = _refusal(_payload(_with_rounds(bundle, payload.PKCS12_MAX_ROUNDS)))
    assert "could not be opened" in at_limit.message
    over, _ = _refusal(_payload(_with_rounds(bundle, payload.PKCS12_MAX_ROUNDS + 1)))
    assert "1,000,001 key derivation rounds" in over.message


def test_it_refuses_a_bundle_whose_parts_together_ask_too_much():
    """Each part within the per-part limit, three of them (the MAC and two keys) over the
    total."""
    bundle = _bundle(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
    ((_, pfx),) = _items(bundle)
    version, (auth_tag, auth_safe), mac = _items(pfx)
    oid, (explicit_tag, explicit) = _items(auth_safe)
    ((_, safes),) = _items(explicit)
    ((_, safe_list),) = _items(safes)
    rebuilt = b""
    for tag, info in _items(safe_list):
        info_oid, (info_tag, info_content) = _items(info)
        if info_oid[1] == bytes.fromhex("2a864886f70d010701"):  # data: the key bag, twice
            ((_, bags),) = _items(info_content)
            ((_, bag_list),) = _items(bags)
            bag_list = _marker_to(bag_list, 990_000)
            doubled = _tlv(0x04, _tlv(0x30, bag_list + bag_list))
            info = _tlv(*info_oid) + _tlv(info_tag, doubled)
        rebuilt += _tlv(tag, info)
    auth_safe = _tlv(*oid) + _tlv(explicit_tag, _tlv(0x04, _tlv(0x30, rebuilt)))
    bundle = _tlv(0x30, _tlv(*version) + _tlv(auth_tag, auth_safe) + _tlv(*mac))
    spent: list[tuple[str, int]] = []
    pkcs12_costs.pkcs12_check_costs(bundle, PAYLOAD_PASSWORD,
                                    lambda part, rounds: spent.append((part, rounds)))
    assert spent == [("its MAC", 2048), ("an encrypted part", MARKER),
                     ("a private key", 990_000), ("a private key", 990_000)]
    error, elapsed = _refusal(_payload(_with_mac_rounds(bundle, 990_000)))
    assert "more than 3,000,000 key derivation rounds in all" in error.message
    assert elapsed < 1.0


def _pbes2_encrypt(plaintext: bytes, password: str) -> bytes:
    """An EncryptedData's encryptedContentInfo: PBES2 (PBKDF2-SHA256, AES-256-CBC)."""
    salt, iv = b"s" * 16, b"i" * 16
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, 2048).derive(password.encode())
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plaintext) + padder.finalize())
    ciphertext += encryptor.finalize()
    oid = lambda dotted_hex: _tlv(0x06, bytes.fromhex(dotted_hex))  # noqa: E731
    pbkdf2 = _tlv(0x30, oid("2a864886f70d01050c") + _tlv(0x30, _tlv(0x04, salt) + _integer(2048)
                  + _tlv(0x30, oid("2a864886f70d0209") + b"\x05\x00")))
    aes = _tlv(0x30, oid("60864801650304012a") + _tlv(0x04, iv))
    algorithm = _tlv(0x30, oid("2a864886f70d01050d") + _tlv(0x30, pbkdf2 + aes))
    return _tlv(0x30, oid("2a864886f70d010701") + algorithm + _tlv(0x80, ciphertext))


def test_it_finds_a_key_hidden_inside_an_encrypted_part():
    """OpenSSL decrypts shrouded keys it finds inside an encrypted part too; the check decrypts
    the part (within bounds) to count them before OpenSSL is asked."""
    bundle = _bundle(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
    ((_, pfx),) = _items(bundle)
    version, (auth_tag, auth_safe), mac = _items(pfx)
    oid, (explicit_tag, explicit) = _items(auth_safe)
    ((_, safes),) = _items(explicit)
    ((_, safe_list),) = _items(safes)
    key_bags = next(
        _items(_items(content)[0][1])[0][1]
        for _, info in _items(safe_list)
        for (info_oid, (_, content)) in [tuple(_items(info))]
        if info_oid[1] == bytes.fromhex("2a864886f70d010701")
    )
    hidden = _marker_to(_tlv(0x30, key_bags), HUGE)
    encrypted = _tlv(0x30, _tlv(0x06, bytes.fromhex("2a864886f70d010706"))
                     + _tlv(0xA0, _tlv(0x30, _integer(0)
                                      + _pbes2_encrypt(hidden, PAYLOAD_PASSWORD))))
    auth_safe = _tlv(*oid) + _tlv(explicit_tag, _tlv(0x04, _tlv(0x30, encrypted)))
    bundle = _remac(_tlv(0x30, _tlv(*version) + _tlv(auth_tag, auth_safe) + _tlv(*mac)))
    error, elapsed = _refusal(_payload(bundle))
    assert "60,000,000 key derivation rounds for a private key" in error.message
    assert elapsed < 0.5


def test_it_refuses_an_encryption_it_does_not_know():
    pbes2 = bytes.fromhex("2a864886f70d01050d")
    md5_des = bytes.fromhex("2a864886f70d010503")  # PBES1 with MD5 and DES, same length
    bundle = _bundle(pkcs12.PBES.PBESv2SHA256AndAES256CBC).replace(pbes2, md5_des)
    error, _ = _refusal(_payload(bundle))
    assert "with an algorithm Keyturn does not accept" in error.message


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_it_opens_a_legacy_bundle_with_40_bit_rc2_certificates(tmp_path):
    """`openssl pkcs12 -legacy` (like OpenSSL 1.x and Java 8 by default) encrypts the
    certificates with 40-bit RC2, which the check decrypts itself."""
    cert_pem, key_pem = _key_and_certificate()
    (tmp_path / "cert.pem").write_text(cert_pem)
    (tmp_path / "key.pem").write_text(key_pem)
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-legacy", "-in", tmp_path / "cert.pem", "-inkey",
         tmp_path / "key.pem", "-out", tmp_path / "bundle.p12", "-passout", "env:P12_PASSWORD"],
        check=True, env={"P12_PASSWORD": PAYLOAD_PASSWORD, "PATH": "/usr/bin:/bin"},
        capture_output=True,
    )
    bundle = (tmp_path / "bundle.p12").read_bytes()
    assert bytes.fromhex("2a864886f70d010c0106") in bundle  # pbeWithSHA1And40BitRC2-CBC
    managed = payload.open_payload(_payload(bundle), PAYLOAD_PASSWORD)
    assert managed.material.certificate.subject.endswith("edi.partner.example")
    # Sealed in a payload under another password, its RC2 part does not decrypt.
    other = "another password entirely"
    sealed = seal({"kind": "as2_certificate", "name": "EDI partner",
                   "material": {"pkcs12": base64.b64encode(bundle).decode()}}, other)
    with pytest.raises(PayloadError, match="could not be opened with the payload's password"):
        payload.open_payload(sealed, other)


RC2_VECTORS = [  # RFC 2268 section 5: key, effective bits, plaintext, ciphertext
    ("0000000000000000", 63, "0000000000000000", "ebb773f993278eff"),
    ("ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"),
    ("3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"),
    ("88", 64, "0000000000000000", "61a8a244adacccf0"),
    ("88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"),
]


@pytest.mark.parametrize(("key", "bits", "plaintext", "ciphertext"), RC2_VECTORS)
def test_its_rc2_matches_the_rfc(key, bits, plaintext, ciphertext):
    expanded = pkcs12_costs._rc2_expand(bytes.fromhex(key), bits)
    assert pkcs12_costs._rc2_decrypt_block(expanded, bytes.fromhex(ciphertext)).hex() == plaintext


def test_its_rc2_cbc_matches_cryptography_for_128_bit_keys():
    key, iv, data = bytes(range(16)), b"initvect", bytes(range(64))
    encryptor = Cipher(RC2(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(data) + encryptor.finalize()
    assert pkcs12_costs._rc2_cbc_decrypt(key, 128, iv, ciphertext) == data


@pytest.mark.parametrize("garbage", [b"", b"\x30", b"\x30\x80\x02\x01\x03", b"\x30\x84\xff\xff"
                                     b"\xff\xff", b"\x04\x02ab", b"\x30" + b"\x30\x80" * 200])
def test_it_refuses_garbage_as_not_a_bundle(garbage):
    with pytest.raises(pkcs12_costs.Pkcs12Unreadable, match="well-formed"):
        pkcs12_costs.pkcs12_check_costs(garbage, PAYLOAD_PASSWORD, lambda part, rounds: None)


# --- Through the pages: the import is marked failed, so a retry does not do it again ----------


def test_the_import_page_refuses_it_fast_and_marks_the_import_failed(client, bob, acme):
    data = _payload(_with_rounds(_bundle(pkcs12.PBES.PBESv2SHA256AndAES256CBC), HUGE))
    pending = services.pending_import_receive(
        organization=acme, data=data, file_name="edi.json", source=ImportSource.UPLOAD,
        actor=bob)
    client.force_login(bob)
    url = f"/o/acme/imports/{pending.pk}/password/?action=add"
    started = time.perf_counter()
    response = client.post(url, {"action": "add", "password": PAYLOAD_PASSWORD}, follow=True)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"answered after {elapsed:.2f} s"
    assert "60,000,000 key derivation rounds" in response.content.decode()
    pending = PendingImport.objects.get(pk=pending.pk)
    assert pending.state == ImportState.FAILED
    assert "60,000,000" in pending.result_note
    refusal = AuditEvent.objects.get(action="import.refuse")
    assert refusal.details["stage"] == "content"
    # A retry (another tab, the back button) finds nothing pending: nothing is derived again.
    again = client.post(url, {"action": "add", "password": PAYLOAD_PASSWORD})
    assert again.status_code == 404
