"""Two small parts of every request: dating a session's activity for the sessions list, and
leading a member of an organization that requires a second factor to set one up."""

from __future__ import annotations

import time
from collections.abc import Callable

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from organizations.access import SecondFactorRequired

SEEN_SESSION_KEY = "keyturn_seen_at"


class SessionActivityMiddleware:
    """Keeps each signed-in session's address, browser and last activity (allauth's
    UserSession) for the profile's sessions list, at most once every
    KEYTURN_SESSION_ACTIVITY_SECONDS per session rather than on every request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if user is None or session is None or not user.is_authenticated:
            return response
        now = time.time()
        seen = session.get(SEEN_SESSION_KEY)
        if not isinstance(seen, int | float) or not 0 <= now - seen < (
                settings.KEYTURN_SESSION_ACTIVITY_SECONDS):
            UserSession.objects.create_from_request(request, user=user, session=session)
            session[SEEN_SESSION_KEY] = now
        return response


class SecondFactorPolicyMiddleware:
    """Turns organizations.access.SecondFactorRequired into the page where the member sets
    up a second factor, with the organization's reason."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, SecondFactorRequired):
            return None
        messages.warning(request, f"{exception.organization.name} requires a second factor: "
                                  "set one up below to see its pages.")
        return redirect("profile_second_factors")
