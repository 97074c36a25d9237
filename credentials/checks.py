"""System checks of the secrets' keys, run at start: by every manage.py command (migrate,
qcluster, sftp_server) and by the WSGI application (config/wsgi.py), so a malformed key is
refused before the first request, not by the first request that needs it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from .crypto import KeyRing, KeyRingError

MIN_HMAC_KEY_LENGTH = 32


@checks.register(checks.Tags.security)
def check_secret_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors = []
    try:
        KeyRing(settings.KEYTURN_ENCRYPTION_KEYS)
    except KeyRingError as exc:
        errors.append(checks.Error(
            f"KEYTURN_ENCRYPTION_KEYS is malformed: {exc}.",
            hint="Write it as <id>:<base64 of 32 random bytes>, newest first, ids unique; "
                 "`manage.py new_encryption_key <id>` prints one.",
            id="keyturn.E001",
        ))
    if len(settings.KEYTURN_HMAC_KEY) < MIN_HMAC_KEY_LENGTH:
        errors.append(checks.Error(
            f"KEYTURN_HMAC_KEY is too short: use at least {MIN_HMAC_KEY_LENGTH} random "
            "characters.",
            hint="For example: python3 -c 'import secrets; print(secrets.token_urlsafe(40))'",
            id="keyturn.E002",
        ))
    return errors
