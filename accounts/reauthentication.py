"""Re-authentication before sensitive acts ("sudo mode"): the one place that decides it.

A *proof of identity* is any authentication allauth records in the session: signing in (a
password and then the second factor if the user has one, a passkey, or single sign-on) or
re-authenticating (password, a second factor, or a fresh single sign-on round trip). A view
decorated with `reauthentication_required` runs only while the latest proof is younger than
`settings.KEYTURN_REAUTHENTICATION_MINUTES`; every audit event it writes then records that
proof (`reauthenticated_with`, `reauthenticated_at`).

Without a recent proof the user is sent to re-authenticate and then brought back:
- a GET (a form about to be filled) comes back to the same address;
- a POST is kept and run again once the proof is given (allauth's suspended request), so that
  nothing typed is lost, except the fields the view marks with `sensitive_post_parameters`
  and uploaded files: Keyturn never keeps a secret in the session in the clear, so those are
  asked for again. Forms that take secrets or files therefore ask for the proof when they are
  opened (`on_get=True`), before anything is typed.

Which methods a user may re-authenticate with: `accounts.adapters.AccountAdapter`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.authentication import get_authentication_records
from allauth.account.internal.flows.reauthentication import STATE_SESSION_KEY
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.utils.http import urlencode

from audit.context import audit_context

# How the audit trail and the pages word each proof.
FACTOR_WORDS = {"totp": "authenticator app", "webauthn": "security key",
                "recovery_codes": "recovery code"}


@dataclass(frozen=True)
class Proof:
    method: str  # "password", "totp", "webauthn", "recovery_codes", "sso", "password_reset"
    at: datetime
    reauthenticated: bool  # False: the proof is the sign-in itself

    @property
    def words(self) -> str:
        if self.method == "sso":
            what = "single sign-on"
        elif self.method == "password_reset":
            what = "password reset"
        else:
            what = FACTOR_WORDS.get(self.method, self.method)
        return what if self.reauthenticated else f"{what} at sign-in"


def _proof_of(record: dict[str, Any]) -> Proof | None:
    try:
        at = datetime.fromtimestamp(float(record["at"]), tz=UTC)
    except (KeyError, TypeError, ValueError):
        return None
    method = record.get("method")
    if method == "mfa":
        method = "webauthn" if record.get("passwordless") else record.get("type", "mfa")
    elif method == "socialaccount":
        method = "sso"
    # A sign-in by single sign-on is a fresh round trip to the identity provider too.
    reauthenticated = bool(record.get("reauthenticated"))
    return Proof(method=str(method), at=at, reauthenticated=reauthenticated)


def latest_proof(request: HttpRequest) -> Proof | None:
    """The user's latest proof of identity in this session, if any."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    for record in reversed(get_authentication_records(request, user)):
        proof = _proof_of(record)
        if proof is not None:
            return proof
    return None


def signed_in_with_sso(request: HttpRequest) -> bool:
    """Whether this session began with single sign-on (its first recorded proof)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    records = get_authentication_records(request, user)
    return bool(records) and records[0].get("method") == "socialaccount"


def recent_proof(request: HttpRequest, now: datetime | None = None) -> Proof | None:
    """The latest proof, while it is younger than KEYTURN_REAUTHENTICATION_MINUTES."""
    proof = latest_proof(request)
    now = now or datetime.now(tz=UTC)
    if proof is None:
        return None
    age = (now - proof.at).total_seconds()
    if age < 0 or age >= settings.KEYTURN_REAUTHENTICATION_MINUTES * 60:
        return None
    return proof


def _kept_post(request: HttpRequest) -> QueryDict:
    """The POST to run again after the proof, without what the view marked as secret."""
    sensitive = getattr(request, "sensitive_post_parameters", None) or []
    kept = request.POST.copy()
    if sensitive == "__ALL__":
        kept = QueryDict(mutable=True)
    else:
        for name in sensitive:
            kept.pop(name, None)
    return kept


# What a request run again needs of its environment besides its headers: how it reached the
# server. Not the rest: a server may give each request its whole process environment
# (runserver does, SECRET_KEY and the key ring with it), which no session may keep.
REQUEST_META = frozenset({
    "CONTENT_LENGTH", "CONTENT_TYPE", "CSRF_COOKIE", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR",
    "REMOTE_HOST", "REQUEST_METHOD", "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT",
    "SERVER_PROTOCOL",
})
UNKEPT_HEADERS = frozenset({"HTTP_COOKIE", "HTTP_AUTHORIZATION"})


def _kept_meta(request: HttpRequest) -> dict[str, str]:
    """The environment to run the request again with: its headers, but not its cookie or
    credentials, and how it reached the server."""
    return {key: value for key, value in request.META.items()
            if isinstance(value, str) and key not in UNKEPT_HEADERS
            and (key.startswith("HTTP_") or key in REQUEST_META)}


def _suspend(request: HttpRequest) -> HttpResponseRedirect:
    """Sends the user to re-authenticate, keeping a POST to run once they have (the form
    allauth's re-authentication pages resume: `resume_request`)."""
    methods = get_adapter(request).get_reauthentication_methods(request.user)
    if not methods:
        raise PermissionDenied("No way to re-authenticate: ask an administrator.")
    path = request.get_full_path()
    if request.method == "POST":
        request.session[STATE_SESSION_KEY] = {"request": json.dumps({
            "path": request.path,
            "path_info": request.path_info,
            "META": _kept_meta(request),
            "GET": request.GET.urlencode(),
            "POST": _kept_post(request).urlencode(),
            "method": "POST",
            "scheme": request.scheme,
        })}
        # Single sign-on signs in again (a new session): the POST cannot survive that, so it
        # brings the user back to the page the form was on.
        request.session[RETURN_SESSION_KEY] = _same_site_referer(request) or path
    else:
        request.session.pop(STATE_SESSION_KEY, None)
        request.session[RETURN_SESSION_KEY] = path
    return HttpResponseRedirect(f"{methods[0]['url']}?{urlencode({REDIRECT_FIELD_NAME: path})}")


RETURN_SESSION_KEY = "keyturn_reauthentication_return"


def _same_site_referer(request: HttpRequest) -> str | None:
    referer = request.headers.get("Referer", "")
    origin = f"{request.scheme}://{request.get_host()}"
    if referer.startswith(origin + "/"):
        return referer[len(origin):]
    return None


def require_recent_proof(request: HttpRequest) -> HttpResponse | None:
    """For views that need the proof only sometimes (the profile's email change): None when
    the request may go on, else the answer that sends the user to re-authenticate."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if recent_proof(request) is None:
        return _suspend(request)
    return None


def proof_recorded(request: HttpRequest) -> AbstractContextManager[None]:
    """The audit events written in the block record the recent proof (for a view that
    called `require_recent_proof`)."""
    proof = recent_proof(request)
    if proof is None:
        return nullcontext()
    return audit_context(reauthenticated_with=proof.words, reauthenticated_at=proof.at)


def reauthentication_required(
    view: Callable[..., HttpResponse] | None = None, *, on_get: bool = False,
) -> Any:
    """Lets the view run only with a recent proof of identity, and records the proof in
    every audit event the view writes. GET and HEAD pass unless `on_get` (forms that take
    secrets or files: the proof comes before anything is typed). Put it under
    `login_required`."""

    def decorator(view_func: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view_func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method in ("GET", "HEAD") and not on_get:
                return view_func(request, *args, **kwargs)
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if recent_proof(request) is None:
                return _suspend(request)
            with proof_recorded(request):
                return view_func(request, *args, **kwargs)

        wrapper.keyturn_reauthentication = "on_get" if on_get else "on_post"  # type: ignore[attr-defined]
        return wrapper

    if view is not None:
        return decorator(view)
    return decorator
