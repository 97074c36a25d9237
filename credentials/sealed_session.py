"""Keeping a secret between two steps of a flow without keeping it in plain text.

The Change Credential wizard (the private key between the form and the confirmation) and the
managed import pages of the imports app (the payload password between the password step and
the confirmation) need a secret on the next request. Hidden form fields would send it back to
the browser and into the HTML; instead it is sealed with the key ring (credentials.crypto) into
the session. The associated data names the purpose, the session, the user and the object, so a
sealed value copied to another session, user or credential does not open, and it expires after
a while.
"""

from __future__ import annotations

import json
import time

from django.http import HttpRequest

from . import crypto

SESSION_PREFIX = "keyturn.sealed"
DEFAULT_TTL_SECONDS = 15 * 60


def _aad(request: HttpRequest, purpose: str, object_id: str) -> str:
    return f"sealed-session:{purpose}:{request.session.session_key}:{request.user.pk}:{object_id}"


def _key(purpose: str, object_id: str) -> str:
    return f"{SESSION_PREFIX}.{purpose}.{object_id}"


def sealed_put(request: HttpRequest, *, purpose: str, object_id: str, values: dict[str, str],
               ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
    if request.session.session_key is None:
        request.session.save()  # the session key is part of the associated data
    plaintext = json.dumps({"expires": time.time() + ttl_seconds, "values": values})
    request.session[_key(purpose, object_id)] = crypto.key_ring().encrypt(
        plaintext, aad=_aad(request, purpose, object_id)
    )


def sealed_get(request: HttpRequest, *, purpose: str, object_id: str) -> dict[str, str] | None:
    """The sealed values, or None when there are none, they expired or do not open here."""
    token = request.session.get(_key(purpose, object_id))
    if not token:
        return None
    try:
        sealed = json.loads(
            crypto.key_ring().decrypt(token, aad=_aad(request, purpose, object_id))
        )
    except (crypto.KeyRingError, ValueError):
        sealed_drop(request, purpose=purpose, object_id=object_id)
        return None
    if sealed["expires"] < time.time():
        sealed_drop(request, purpose=purpose, object_id=object_id)
        return None
    return sealed["values"]


def sealed_drop(request: HttpRequest, *, purpose: str, object_id: str) -> None:
    request.session.pop(_key(purpose, object_id), None)
