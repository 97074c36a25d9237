"""Second factors for the tests: a TOTP code computed here from the key (RFC 6238, as an
authenticator app computes it), and a user with an authenticator app set up through allauth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP

KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # base32, as apps take it


def totp_code(key: str = KEY, at: float | None = None) -> str:
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(base64.b32decode(key), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def give_totp(user: object, key: str = KEY) -> list[str]:
    """Sets up an authenticator app with `key` for the user, and recovery codes; returns the
    recovery codes."""
    TOTP.activate(user, key)
    return RecoveryCodes.activate(user).get_unused_codes()
