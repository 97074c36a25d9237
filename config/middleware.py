from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

from config.lean import is_lean
from config.views import request_too_large

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def content_security_policy() -> str:
    """The policy; with single sign-on, forms may also lead to the identity provider (the
    sign-in form's answer redirects there, and form-action covers redirects)."""
    issuer = urlsplit(settings.KEYTURN_OIDC_ISSUER)
    if not issuer.scheme:
        return CONTENT_SECURITY_POLICY
    origin = f"{issuer.scheme}://{issuer.netloc}"
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


class SecurityHeadersMiddleware:
    """Headers Django does not set itself: a strict CSP and a permissions policy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        return response


# Paths whose answers are JSON, errors included (the APIs).
JSON_PATH_PREFIXES = ("/api/", "/authentication/")


class LeanPathMiddleware:
    """Serves the views marked config.lean.lean straight after the security middleware: a token
    request or a health check does not pay for loading a session, a user, messages, a time
    zone or allauth's state it never reads (together a third of a token request's time).

    The answer is the same as through the whole chain: the security headers (this comes
    after SecurityHeadersMiddleware and SecurityMiddleware, which add them and redirect to
    HTTPS), the request size limit, X-Frame-Options and Content-Length. A path that does not
    resolve to a lean view (unknown paths, redirects to an added slash, pages) takes the
    whole chain."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if not is_lean(match.func):
            return self.get_response(request)
        request.resolver_match = match
        response = too_large(request) or match.func(request, *match.args, **match.kwargs)
        response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        if not response.streaming and "Content-Length" not in response.headers:
            response.headers["Content-Length"] = str(len(response.content))
        return response


def too_large(request: HttpRequest) -> HttpResponse | None:
    """The 413 answer to a request whose declared body is larger than
    KEYTURN_MAX_REQUEST_BYTES, None for any other."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    limit = settings.KEYTURN_MAX_REQUEST_BYTES
    if declared <= limit:
        return None
    if request.path.startswith(JSON_PATH_PREFIXES):
        return JsonResponse({"error": "payload_too_large",
                             "message": f"Request bodies may have at most {limit} bytes."},
                            status=413, headers={"Cache-Control": "no-store"})
    return request_too_large(request)


class RequestSizeLimitMiddleware:
    """Refuses a request whose declared body is larger than KEYTURN_MAX_REQUEST_BYTES with
    413, before anything reads the body: no upload is parsed, kept in memory or written to
    disk first. (A body sent without a length is read as empty by Django.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return too_large(request) or self.get_response(request)
