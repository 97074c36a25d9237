"""The errors credentials' rules raise, and how a failure is told to people and to the log.

Messages of these errors are written to be shown; any other exception's text may quote
anything (a secret included), so it is named, never quoted."""

from __future__ import annotations

import logging
import traceback

from django.db import DatabaseError

from .crypto import KeyRingError, MaterialError

# What a page says when the database refused a change (the change rolled back whole).
SAVE_FAILED = "The change could not be saved, so nothing was changed. Please try again."


class CredentialError(Exception):
    """A request the rules refuse; the message is safe to show to the user."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RotationError(CredentialError):
    """A rotation the rules refuse, or one that failed (its reason is on the History tab)."""


class RotationStepError(Exception):
    """A step of a rotation failed; the message is the readable reason shown to people."""


class UnknownKind(LookupError):
    """A kind of credential that credentials.kinds does not register: a bad key in code or a
    row no release of Keyturn wrote. Nothing falls back to another kind's rules."""

    def __init__(self, key: object) -> None:
        super().__init__(f"Unknown kind of credential {str(key)[:40]!r}: credentials.kinds "
                         "registers no such kind.")
        self.key = key


def readable_reason(exc: Exception) -> str:
    """A reason people can act on."""
    if isinstance(exc, RotationStepError | CredentialError | UnknownKind):
        return str(exc)
    if isinstance(exc, MaterialError):
        return f"The new material was refused: {exc.message}"
    if isinstance(exc, KeyRingError):
        return "The new secret could not be decrypted (check KEYTURN_ENCRYPTION_KEYS)."
    if isinstance(exc, DatabaseError):
        return "The database refused the switch; nothing was changed."
    return f"Unexpected error ({type(exc).__name__}); nothing was changed."


def log_failure(log: logging.Logger, message: str, exc: Exception) -> None:
    """Logs where an exception came from but not its text, which may quote a secret."""
    if isinstance(exc, RotationStepError | MaterialError | CredentialError):
        log.warning(message)
        return
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s [%s]\n%s", message, type(exc).__name__, stack)
