"""The JSON side of HTTP: the requests handlers get, error answers, request bodies, and the
per-route method dispatch that keeps every answer of the API JSON (404 and 405 included)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from config.lean import lean
from credentials.errors import CredentialError, RotationError
from credentials.material import json_text_refusal

from .models import ApiKey
from .schema import ValidationFailed

MAX_BODY_BYTES = 64 * 1024
JSON_TYPES = ("application/json",)

Handler = Callable[..., HttpResponse]


class ApiRequest(HttpRequest):
    """A request as `endpoint` hands it to a handler. A type only (Django builds the request
    and `endpoint` sets what is declared here), as healthchecks' hc.api.decorators does."""

    # When the request arrived: the one `now` of every decision the request leads to (which
    # version works, when an old secret stops), however long it waits for a lock.
    arrived_at: datetime


class ApiKeyRequest(ApiRequest):
    """A request that api.decorators.api_key_required let through."""

    api_key: ApiKey  # the key it was made with: not revoked, of the organization it acts in


class ApiError(Exception):
    """An answer other than success, raised anywhere below a view."""

    def __init__(self, status: int, error: str, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> JsonResponse:
        return json_error(self.status, self.error, self.message, self.headers)


def json_error(status: int, error: str, message: str,
               headers: Mapping[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"error": error, "message": message}, status=status,
                        headers=dict(headers or {}))


def validation_error(errors: dict[str, list[str]]) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=400)


def iso(moment: datetime | None) -> str | None:
    """UTC, to the second, with a Z: 2026-06-01T00:00:00Z."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:  # times read from the database are in UTC already
        moment = moment.astimezone(UTC)
    # As isoformat(timespec="seconds") with Z for +00:00, in half its time (a page of 50 rows
    # writes 100 of them).
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031 (faster than an f-string)
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def body_bytes(request: HttpRequest) -> bytes:
    """The raw body, refused with 413 past MAX_BODY_BYTES before Django reads it."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large",
                       f"Request bodies may have at most {MAX_BODY_BYTES} bytes.")
    body = request.body
    if len(body) > MAX_BODY_BYTES:  # a body sent without a (truthful) length
        raise ApiError(413, "payload_too_large",
                       f"Request bodies may have at most {MAX_BODY_BYTES} bytes.")
    return body


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def json_body(request: HttpRequest) -> Any:
    """The decoded JSON body: 413 too large, 415 not JSON, 400 malformed, or holding a string
    that cannot be kept (NUL, a lone surrogate: see credentials.material.text_refusal), named
    by its top-level field. Every body is parsed here, so no string that UTF-8 cannot encode
    reaches hashing, encryption or the database."""
    body = body_bytes(request)
    if request.content_type not in JSON_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       "Send the body as JSON with Content-Type: application/json.")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValidationFailed({"body": ["The body is not valid JSON."]}) from None
    refused = json_text_refusal(data)
    if refused is not None:
        field, message = refused
        raise ValidationFailed({field: [message]})
    return data


def respond(handler: Handler, request: HttpRequest, **kwargs: Any) -> HttpResponse:
    """Runs a handler, turning the errors it or the services raise into their JSON answers:
    the domain's errors know no HTTP, so their statuses are decided here, once.

    - a CredentialError naming a field refuses what was sent: 400 with that field's message;
    - a RotationError, or a CredentialError naming no field, is the credential's state
      refusing the change (deactivated, a rotation already scheduled) or a rotation that
      failed (recorded for a retry): 409;
    - PermissionDenied, which a view that looked the object up in the key's organization
      never meets: 403."""
    try:
        return handler(request, **kwargs)
    except ApiError as exc:
        return exc.response()
    except ValidationFailed as exc:
        return validation_error(exc.errors)
    except Http404:
        return json_error(404, "not_found", "No such object.")
    except CredentialError as exc:
        if exc.field is None or isinstance(exc, RotationError):
            return json_error(409, "conflict", str(exc))
        return validation_error({exc.field: [str(exc)]})
    except PermissionDenied:
        return json_error(403, "forbidden", "This API key may not do that.")


@dataclass(frozen=True)
class Route:
    """A route of the API: its path (Django syntax), URL name, and one handler per method.
    Handlers carry their OpenAPI operation (api.schema.documented)."""

    path: str
    name: str
    handlers: Mapping[str, Handler]


def endpoint(route: Route) -> URLPattern:
    """Serves a route: each method by its handler, JSON 405 for the others."""
    handlers = dict(route.handlers)
    allowed = ", ".join(sorted(handlers))

    @lean  # authenticated by headers, never by the session cookie
    @csrf_exempt
    def dispatch(request: ApiRequest, **kwargs: Any) -> HttpResponse:
        request.arrived_at = timezone.now()
        handler = handlers.get(request.method or "")
        if handler is None:
            response: HttpResponse = json_error(
                405, "method_not_allowed", f"This endpoint answers {allowed}.",
                {"Allow": allowed},
            )
        else:
            response = respond(handler, request, **kwargs)
        # Answers may hold secrets (tokens, new client secrets) and always hold live status.
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    # What the URL resolver serves, for the tests that compare it with the document.
    dispatch.handlers = handlers  # type: ignore[attr-defined]
    dispatch.__name__ = f"api_{route.name}"
    return path(route.path, dispatch, name=route.name)
