"""What opening a PKCS#12 bundle would cost, read before `cryptography` is asked to open it.

OpenSSL derives a key for the bundle's MAC and for every encrypted part, each with the
iteration count the file itself names: a bundle made with 60,000,000 rounds keeps a worker busy
for half a minute, and OpenSSL offers no limit. So this module reads the bundle's ASN.1 (a small
BER/DER reader, no dependency) and reports every password-based key derivation in it to
`spend` (which refuses, by raising, what costs too much) before any derivation runs: the MAC's,
each encrypted part's, and each shrouded private key's, including keys hidden inside an
encrypted part, which it decrypts to look (its own derivation reported first). It opens
nothing else: keys, certificates and the MAC are left to cryptography. imports.payload holds
the limits.

Nothing here logs or quotes the password; a Pkcs12Unreadable's message is safe to show.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

# spend(part, iterations): called once per key derivation, before it runs; raises to refuse.
Spend = Callable[[str, int], None]

MAX_DEPTH = 40  # ASN.1 nesting; a PKCS#12 bundle needs about 15
MAX_BAG_NESTING = 4  # safeContentsBag inside safeContentsBag

DATA = "1.2.840.113549.1.7.1"
ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
SAFE_CONTENTS_BAG = "1.2.840.113549.1.12.10.1.6"
PBES2 = "1.2.840.113549.1.5.13"
PBKDF2 = "1.2.840.113549.1.5.12"
PBMAC1 = "1.2.840.113549.1.5.14"
# PKCS#12's own password-based encryption (RFC 7292 appendix C): cipher and key length.
PKCS12_PBE = {
    "1.2.840.113549.1.12.1.1": ("RC4", 16),
    "1.2.840.113549.1.12.1.2": ("RC4", 5),
    "1.2.840.113549.1.12.1.3": ("3DES", 24),
    "1.2.840.113549.1.12.1.4": ("3DES", 16),
    "1.2.840.113549.1.12.1.5": ("RC2", 16),
    "1.2.840.113549.1.12.1.6": ("RC2", 5),
}
PBKDF2_PRF = {
    "1.2.840.113549.2.7": hashes.SHA1,
    "1.2.840.113549.2.8": hashes.SHA224,
    "1.2.840.113549.2.9": hashes.SHA256,
    "1.2.840.113549.2.10": hashes.SHA384,
    "1.2.840.113549.2.11": hashes.SHA512,
}
PBES2_CIPHER = {  # OID: (cipher, key length)
    "2.16.840.1.101.3.4.1.2": ("AES", 16),
    "2.16.840.1.101.3.4.1.22": ("AES", 24),
    "2.16.840.1.101.3.4.1.42": ("AES", 32),
    "1.2.840.113549.3.7": ("3DES", 24),
}


class Pkcs12Unreadable(ValueError):
    """The bundle cannot be read or opened; the message completes "The PKCS#12 bundle …"."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


NOT_OPENED = "could not be opened with the payload's password."


# --- A small BER/DER reader ------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    tag: int
    value: bytes = b""  # primitive contents
    children: tuple[_Node, ...] = ()  # constructed contents


def _malformed() -> Pkcs12Unreadable:
    return Pkcs12Unreadable("is not a well-formed PKCS#12 file.")


def _read(data: bytes, pos: int, depth: int) -> tuple[_Node, int]:
    if depth > MAX_DEPTH or pos + 2 > len(data):
        raise _malformed()
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if tag & 0x1F == 0x1F:  # high tag numbers: PKCS#12 has none
        raise _malformed()
    children: list[_Node] = []
    if first == 0x80:  # BER indefinite length (constructed only): children up to 00 00
        if not tag & 0x20:
            raise _malformed()
        while data[pos:pos + 2] != b"\x00\x00":
            child, pos = _read(data, pos, depth + 1)
            children.append(child)
        return _Node(tag, children=tuple(children)), pos + 2
    length = first
    if first & 0x80:
        count = first & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise _malformed()
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise _malformed()
    if not tag & 0x20:
        return _Node(tag, value=data[pos:end]), end
    while pos < end:
        child, pos = _read(data, pos, depth + 1)
        children.append(child)
    if pos != end:
        raise _malformed()
    return _Node(tag, children=tuple(children)), end


def _parse(data: bytes) -> _Node:
    node, end = _read(data, 0, 0)
    if end != len(data):
        raise _malformed()
    return node


def _seq(node: _Node, minimum: int = 0) -> tuple[_Node, ...]:
    if node.tag != 0x30 or len(node.children) < minimum:
        raise _malformed()
    return node.children


def _explicit(node: _Node) -> _Node:
    """The content of a [0] EXPLICIT field."""
    if node.tag != 0xA0 or len(node.children) != 1:
        raise _malformed()
    return node.children[0]


def _octets(node: _Node) -> bytes:
    """An OCTET STRING, or [0] IMPLICIT OCTET STRING; BER may split it into pieces."""
    if node.tag in (0x04, 0x80):
        return node.value
    if node.tag in (0x24, 0xA0):
        return b"".join(_octets(child) for child in node.children)
    raise _malformed()


def _integer(node: _Node) -> int:
    if node.tag != 0x02 or not node.value:
        raise _malformed()
    return int.from_bytes(node.value, "big", signed=True)


def _oid(node: _Node) -> str:
    if node.tag != 0x06 or not node.value or node.value[-1] & 0x80:
        raise _malformed()
    arcs, value = [], 0
    for byte in node.value:
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    head = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (head, arcs[0] - 40 * head, *arcs[1:]))


def _content_info(node: _Node) -> tuple[str, _Node | None]:
    fields = _seq(node, 1)
    return _oid(fields[0]), _explicit(fields[1]) if len(fields) > 1 else None


# --- Password-based encryption schemes ---------------------------------------------------------


@dataclass(frozen=True)
class _Scheme:
    cipher: str  # "AES", "3DES", "RC2" or "RC4"
    key_length: int
    salt: bytes
    iterations: int
    prf: type[hashes.HashAlgorithm] | None = None  # PBES2; None: PKCS#12's own KDF
    iv: bytes = b""  # PBES2's; PKCS#12's KDF derives the IV


def _scheme(node: _Node, part: str, spend: Spend) -> _Scheme:
    """Reads an encryption AlgorithmIdentifier and reports its key derivation to `spend`."""
    fields = _seq(node, 1)
    algorithm = _oid(fields[0])
    if algorithm in PKCS12_PBE and len(fields) > 1:
        params = _seq(fields[1], 2)
        cipher, key_length = PKCS12_PBE[algorithm]
        scheme = _Scheme(cipher, key_length, _octets(params[0]), _integer(params[1]))
    elif algorithm == PBES2 and len(fields) > 1:
        kdf, encryption = _seq(fields[1], 2)[:2]
        kdf_fields = _seq(kdf, 1)
        if _oid(kdf_fields[0]) != PBKDF2 or len(kdf_fields) < 2:
            raise Pkcs12Unreadable(
                f"protects {part} with a key derivation other than PBKDF2, which Keyturn does "
                "not accept."
            )
        params = _seq(kdf_fields[1], 2)
        prf = hashes.SHA1
        for extra in params[2:]:  # keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier DEFAULT
            if extra.tag == 0x30:
                prf_oid = _oid(_seq(extra, 1)[0])
                if prf_oid not in PBKDF2_PRF:
                    raise Pkcs12Unreadable(f"protects {part} with an unknown PBKDF2 hash.")
                prf = PBKDF2_PRF[prf_oid]
        cipher_fields = _seq(encryption, 2)
        cipher_oid = _oid(cipher_fields[0])
        if cipher_oid not in PBES2_CIPHER:
            raise Pkcs12Unreadable(f"encrypts {part} with a cipher Keyturn does not accept.")
        cipher, key_length = PBES2_CIPHER[cipher_oid]
        scheme = _Scheme(cipher, key_length, _octets(params[0]), _integer(params[1]), prf=prf,
                         iv=_octets(cipher_fields[1]))
    else:
        raise Pkcs12Unreadable(
            f"encrypts {part} with an algorithm Keyturn does not accept (use PBES2 with AES, "
            "or PKCS#12's triple DES, RC2 or RC4)."
        )
    spend(part, scheme.iterations)
    return scheme


def _bmp_password(password: str) -> bytes:
    """PKCS#12's KDF takes the password as big-endian UTF-16 with a terminating zero."""
    return (password + "\0").encode("utf-16-be")


def _pkcs12_kdf(password: bytes, salt: bytes, purpose: int, iterations: int,
                length: int) -> bytes:
    """RFC 7292 appendix B.2 with SHA-1 (u = 20, v = 64); purpose 1 is the key, 2 the IV."""
    v = 64

    def stretch(data: bytes) -> bytes:  # copies of data filling whole v-byte blocks
        size = v * -(-len(data) // v)
        return (data * (size // len(data) + 1))[:size] if data else b""

    block = stretch(salt) + stretch(password)
    out = b""
    while len(out) < length:
        digest = hashlib.sha1(bytes([purpose]) * v + block).digest()  # noqa: S324 (the standard's)
        for _ in range(iterations - 1):
            digest = hashlib.sha1(digest).digest()  # noqa: S324
        out += digest
        increment = int.from_bytes((digest * 4)[:v], "big") + 1
        block = b"".join(
            ((int.from_bytes(block[i:i + v], "big") + increment) % (1 << 8 * v)).to_bytes(v, "big")
            for i in range(0, len(block), v)
        )
    return out[:length]


def _decrypt(scheme: _Scheme, password: str, ciphertext: bytes) -> bytes:
    if scheme.prf is not None:
        key = PBKDF2HMAC(scheme.prf(), scheme.key_length, scheme.salt,
                         scheme.iterations).derive(password.encode("utf-8"))
        iv = scheme.iv
    else:
        bmp = _bmp_password(password)
        key = _pkcs12_kdf(bmp, scheme.salt, 1, scheme.iterations, scheme.key_length)
        if scheme.cipher == "RC4":
            return Cipher(ARC4(key), mode=None).decryptor().update(ciphertext)
        iv = _pkcs12_kdf(bmp, scheme.salt, 2, scheme.iterations, 8)
    if scheme.cipher == "RC2":
        plaintext = _rc2_cbc_decrypt(key, len(key) * 8, iv, ciphertext)
        block_bits = 64
    else:
        algorithm = algorithms.AES(key) if scheme.cipher == "AES" else TripleDES(key)
        if len(iv) * 8 != algorithm.block_size or len(ciphertext) % len(iv):
            raise Pkcs12Unreadable(NOT_OPENED)
        decryptor = Cipher(algorithm, modes.CBC(iv)).decryptor()
        plaintext = decryptor.update(ciphertext) + decryptor.finalize()
        block_bits = algorithm.block_size
    unpadder = padding.PKCS7(block_bits).unpadder()
    try:
        return unpadder.update(plaintext) + unpadder.finalize()
    except ValueError:  # a wrong password: the padding does not come out right
        raise Pkcs12Unreadable(NOT_OPENED) from None


# RC2 (RFC 2268): cryptography offers it only with 128-bit keys, and PKCS#12 files made by
# OpenSSL 1.x, Java 8 and `openssl pkcs12 -legacy` encrypt their certificates with 40-bit RC2.
_PITABLE = bytes.fromhex(
    "d978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2"
    "179a59f587b34f1361456d8d09817d32bd8f40eb86b77b0bf09521225c6b4e82"
    "54d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626"
    "6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed7"
    "08e8eade8052eef784aa72ac354d6a2a961ad2715a1549744b9fd05e0418a4ec"
    "c2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731"
    "2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a9"
    "0d38341bab33ffb0bb480c5fb9b1cd2ec5f3db47e5a59c770aa62068fe7fc1ad"
)


def _rc2_expand(key: bytes, effective_bits: int) -> list[int]:
    expanded = bytearray(128)
    expanded[:len(key)] = key
    for i in range(len(key), 128):
        expanded[i] = _PITABLE[(expanded[i - 1] + expanded[i - len(key)]) & 0xFF]
    t8 = (effective_bits + 7) // 8
    tm = 0xFF % (1 << (8 + effective_bits - 8 * t8))
    expanded[128 - t8] = _PITABLE[expanded[128 - t8] & tm]
    for i in range(127 - t8, -1, -1):
        expanded[i] = _PITABLE[expanded[i + 1] ^ expanded[i + t8]]
    return [expanded[2 * i] | expanded[2 * i + 1] << 8 for i in range(64)]


def _rc2_decrypt_block(k: list[int], block: bytes) -> bytes:
    r = [block[2 * i] | block[2 * i + 1] << 8 for i in range(4)]
    shifts = (1, 2, 3, 5)
    j = 63
    for rounds, mash in ((5, True), (6, True), (5, False)):
        for _ in range(rounds):
            for i in (3, 2, 1, 0):
                r[i] = (r[i] >> shifts[i] | r[i] << (16 - shifts[i])) & 0xFFFF
                r[i] = (r[i] - k[j] - (r[i - 1] & r[i - 2]) - (~r[i - 1] & r[i - 3])) & 0xFFFF
                j -= 1
        if mash:
            for i in (3, 2, 1, 0):
                r[i] = (r[i] - k[r[i - 1] & 63]) & 0xFFFF
    return b"".join(word.to_bytes(2, "little") for word in r)


def _rc2_cbc_decrypt(key: bytes, effective_bits: int, iv: bytes, data: bytes) -> bytes:
    if len(iv) != 8 or len(data) % 8:
        raise Pkcs12Unreadable(NOT_OPENED)
    k = _rc2_expand(key, effective_bits)
    out, previous = bytearray(), iv
    for pos in range(0, len(data), 8):
        block = data[pos:pos + 8]
        out += bytes(a ^ b for a, b in zip(_rc2_decrypt_block(k, block), previous, strict=True))
        previous = block
    return bytes(out)


# --- The bundle --------------------------------------------------------------------------------


def _check_bags(safe_contents: _Node, password: str, spend: Spend, nesting: int) -> None:
    if nesting > MAX_BAG_NESTING:
        raise _malformed()
    for bag in _seq(safe_contents):
        fields = _seq(bag, 2)
        kind = _oid(fields[0])
        if kind == SHROUDED_KEY_BAG:  # EncryptedPrivateKeyInfo: its algorithm comes first
            _scheme(_seq(_explicit(fields[1]), 2)[0], "a private key", spend)
        elif kind == SAFE_CONTENTS_BAG:
            _check_bags(_explicit(fields[1]), password, spend, nesting + 1)
        # Other bags (certificates, CRLs, secrets, plain keys) derive no key.


def _check_mac(mac_data: _Node, spend: Spend) -> None:
    fields = _seq(mac_data, 2)
    algorithm = _seq(_seq(fields[0], 2)[0], 1)
    if _oid(algorithm[0]) == PBMAC1 and len(algorithm) > 1:  # RFC 9579: PBKDF2 decides
        kdf = _seq(_seq(algorithm[1], 2)[0], 2)
        if _oid(kdf[0]) != PBKDF2:
            raise Pkcs12Unreadable("protects its MAC with a key derivation other than PBKDF2.")
        spend("its MAC", _integer(_seq(kdf[1], 2)[1]))
        return
    spend("its MAC", _integer(fields[2]) if len(fields) > 2 else 1)  # DEFAULT 1


def pkcs12_check_costs(raw: bytes, password: str, spend: Spend) -> None:
    """Reports every key derivation that opening `raw` with `password` would run to `spend`,
    each before anything derives it; raises Pkcs12Unreadable for a bundle it cannot read
    (which cryptography would refuse as well) or one that hides its costs from it."""
    pfx = _seq(_parse(raw), 2)
    if _integer(pfx[0]) != 3:
        raise Pkcs12Unreadable("is not a PKCS#12 file of version 3.")
    if len(pfx) > 2:
        _check_mac(pfx[2], spend)
    kind, content = _content_info(pfx[1])
    if kind != DATA or content is None:
        raise Pkcs12Unreadable("is not protected by a password (public-key mode is not "
                               "supported).")
    for info in _seq(_parse(_octets(content))):
        kind, content = _content_info(info)
        if content is None:
            continue
        if kind == DATA:
            _check_bags(_parse(_octets(content)), password, spend, 0)
        elif kind == ENCRYPTED_DATA:
            encrypted = _seq(_seq(content, 2)[1], 2)  # EncryptedData.encryptedContentInfo
            scheme = _scheme(encrypted[1], "an encrypted part", spend)
            if len(encrypted) > 2:
                plaintext = _decrypt(scheme, password, _octets(encrypted[2]))
                try:
                    bags = _parse(plaintext)
                except Pkcs12Unreadable:  # decrypted with another password: noise
                    raise Pkcs12Unreadable(NOT_OPENED) from None
                _check_bags(bags, password, spend, 0)
        # OpenSSL skips other kinds (enveloped data), so they derive nothing.
