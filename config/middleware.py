from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

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


class RequestSizeLimitMiddleware:
    """Refuses a request whose declared body is larger than KEYTURN_MAX_REQUEST_BYTES with
    413, before anything reads the body: no upload is parsed, kept in memory or written to
    disk first. (A body sent without a length is read as empty by Django.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        limit = settings.KEYTURN_MAX_REQUEST_BYTES
        if declared <= limit:
            return self.get_response(request)
        if request.path.startswith(JSON_PATH_PREFIXES):
            return JsonResponse({"error": "payload_too_large",
                                 "message": f"Request bodies may have at most {limit} bytes."},
                                status=413, headers={"Cache-Control": "no-store"})
        return request_too_large(request)
