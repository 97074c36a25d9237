"""The profile page (details, time zone, password, second factors, sessions, email
preferences), signing out other sessions, and re-authenticating by single sign-on. The
sign-in, second-factor, reset and re-authentication pages themselves are allauth's, in
Keyturn's templates."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

from allauth.account.adapter import get_adapter
from allauth.usersessions.forms import ManageUserSessionsForm
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from organizations.access import client_ip

from .adapters import sso_enabled
from .forms import ProfileForm, time_zone_names
from .reauthentication import RETURN_SESSION_KEY, proof_recorded, require_recent_proof
from .selectors import organizations_of, second_factors_of, sessions_of, sso_account_of
from .services import AccountError, account_event_record, profile_update


def _zones_now() -> list[tuple[str, str]]:
    """Each zone with the time it is there now, for the zone list."""
    now = datetime.now(tz=UTC)
    return [(name, f"now {now.astimezone(zoneinfo.ZoneInfo(name)):%H:%M}")
            for name in time_zone_names()]


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    initial = {"first_name": user.first_name, "last_name": user.last_name,
               "email": user.email, "time_zone": user.time_zone}
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        if values["email"].strip().lower() != (user.email or "").lower():
            # Where password resets go: changing it needs a recent proof of identity.
            response = require_recent_proof(request)
            if response is not None:
                return response
        try:
            with proof_recorded(request):
                changed = profile_update(user=user, source_ip=client_ip(request), **values)
        except AccountError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(request, "Your details are saved." if changed else
                             "Nothing changed.")
            return redirect("profile")
    return render(request, "accounts/profile.html", {
        "form": form,
        "zones": _zones_now(),
        "factors": second_factors_of(user),
        "sessions": sessions_of(user, request.session.session_key),
        "sso_account": sso_account_of(user),
        "sso_enabled": sso_enabled(),
        "organizations": organizations_of(user),
        "has_password": user.has_usable_password(),
    })


@login_required
def second_factors(request: HttpRequest) -> HttpResponse:
    """allauth's "two-factor authentication" page is the profile's section."""
    return redirect(reverse("profile") + "#second-factors")


@login_required
def sessions(request: HttpRequest) -> HttpResponse:
    """GET: the profile's sessions section. POST: signs out every other session."""
    if request.method != "POST":
        return redirect(reverse("profile") + "#sessions")
    before = len(sessions_of(request.user, request.session.session_key))
    ManageUserSessionsForm(request.POST, request=request).save(request)
    account_event_record(user=request.user, action="user.sessions_end",
                         source_ip=client_ip(request),
                         details={"sessions_ended": max(before - 1, 0)})
    messages.success(request, "Every other session is signed out.")
    return redirect(reverse("profile") + "#sessions")


@login_required
def reauthenticate_sso(request: HttpRequest) -> HttpResponse:
    """Re-authentication by a fresh round trip to the identity provider, which is asked to
    sign the user in again (prompt=login). Signing in again starts a new session, so a form
    sent before cannot be run again: the user comes back to the page it was on."""
    back = request.session.get(RETURN_SESSION_KEY) or request.GET.get("next") or "/"
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    query = urlencode({"process": "login", "next": back, "auth_params": "prompt=login"})
    return render(request, "accounts/reauthenticate_sso.html", {
        "action": f"{reverse('openid_connect_login', args=['sso'])}?{query}",
        "provider_name": settings.KEYTURN_OIDC_NAME,
        "alternatives": [m for m in get_adapter(request).get_reauthentication_methods(
            request.user) if m["id"] != "sso"],
        "next": request.GET.get("next", ""),
    })
