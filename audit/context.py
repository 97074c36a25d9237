"""Details every audit event written in a block carries, whoever writes it.

The one user: `accounts.reauthentication`, whose decorator records the proof of identity a
sensitive act was allowed on ("Re-authenticated with password at 09:12"). The services that
write the events need not know HTTP or sessions: `audit_record` adds these details to the
ones they pass (theirs win on a clash).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_DETAILS: ContextVar[dict[str, Any] | None] = ContextVar("keyturn_audit_context", default=None)


@contextmanager
def audit_context(**details: Any) -> Iterator[None]:
    token = _DETAILS.set({**(_DETAILS.get() or {}), **details})
    try:
        yield
    finally:
        _DETAILS.reset(token)


def context_details() -> dict[str, Any]:
    return dict(_DETAILS.get() or {})
