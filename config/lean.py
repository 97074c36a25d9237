"""Views that need no session, signed-in user, messages, CSRF check or static files: the
health check and the JSON API (authenticated by its headers, never by the session cookie).
config.middleware.LeanPathMiddleware serves them without the middleware providing those."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_LEAN = "keyturn_lean"


def lean(view: Callable[..., Any]) -> Callable[..., Any]:
    setattr(view, _LEAN, True)
    return view


def is_lean(view: Callable[..., Any]) -> bool:
    return getattr(view, _LEAN, False) is True
