"""Error pages in the portal's look: header, who is signed in, a way back to their
organization, a short plain explanation. They never say whether the object asked for exists
(in another organization or anywhere), and pass through the same middleware as every page,
so they carry the same security headers."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import get_template
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token

from config.lean import lean

logger = logging.getLogger(__name__)

PAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request",
          "Keyturn could not understand this request. If you followed a link or used a "
          "bookmark, go back and try again from the page it came from."),
    403: ("Not allowed",
          "Your role does not allow this. An owner of the organization can give you a role "
          "that does."),
    404: ("Page not found",
          "There is no page at this address that you can see. Check the address, or start "
          "again from your overview."),
    413: ("Too large",
          "What you sent is larger than Keyturn accepts (at most {limit}), so none of it was "
          "read. Certificates and keys are a few kilobytes; import payloads at most 256 KiB."),
    500: ("Something went wrong",
          "Keyturn could not finish this request, and nothing you asked for was changed by "
          "the failure. Try again in a minute; if it keeps happening, tell your "
          "administrator the time it happened."),
}
CSRF_FAILURE = ("Form expired",
                "This form could not be sent because its security token is missing or out of "
                "date: the page may have been open a long time, or you signed in or out in "
                "another tab. Go back, reload the page and send it again.")


def _render(request: HttpRequest, status: int, title: str, explanation: str) -> HttpResponse:
    return render(request, "errors/error.html",
                  {"status": status, "title": title, "explanation": explanation},
                  status=status)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(request, 400, *PAGES[400])


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(request, 403, *PAGES[403])


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(request, 404, *PAGES[404])


def request_too_large(request: HttpRequest) -> HttpResponse:
    title, explanation = PAGES[413]
    limit = f"{settings.KEYTURN_MAX_REQUEST_BYTES // 1024} KiB"
    return _render(request, 413, title, explanation.format(limit=limit))


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """The layout with the user's name needs the database; when the failure is the database,
    the same page is rendered without anything that reads it."""
    try:
        return _render(request, 500, *PAGES[500])
    except Exception:
        logger.warning("the 500 page could not be rendered with its context; plain page used")
        title, explanation = PAGES[500]
        html = get_template("errors/plain.html").render(
            {"status": 500, "title": title, "explanation": explanation,
             "stylesheet": _static_or_empty("keyturn/keyturn.css"),
             "icon": _static_or_empty("keyturn/favicon.svg")}
        )
        return HttpResponse(html, status=500)


def _static_or_empty(path: str) -> str:
    """A static file's URL, or "" when even that fails (no collected files yet)."""
    try:
        return static(path)
    except Exception:
        return ""


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _render(request, 403, *CSRF_FAILURE)


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and tools that ask for /favicon.ico get the portal's icon (a temporary
    redirect: the icon's address changes with its content)."""
    return redirect(static("keyturn/favicon.svg"))


@lean
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and monitors: the web process answers and reaches its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
