"""Decorators of the API's handlers: they authenticate the caller and attach it to the request
(typed by api.http.ApiKeyRequest), as healthchecks' hc/api/decorators.py does."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.http import HttpResponse

from organizations.access import client_ip

from .authentication import API_KEY_HEADER, BEARER_CHALLENGE, api_key_check, api_key_from_request
from .http import ApiKeyRequest, Handler, json_error, respond
from .models import ApiKey
from .services import api_key_record_use, api_key_use_is_recorded


def api_key_required(view: Handler) -> Handler:
    """Authenticates by API key (401 otherwise), sets request.api_key, and records the key's
    use (audit event, last_used_at) with the answer's status as api_key_record_use decides:
    every change and refusal, successful reads once a minute. A read within the minute costs
    no write and no transaction."""

    @wraps(view)
    def wrapper(request: ApiKeyRequest, **kwargs: Any) -> HttpResponse:
        api_key = api_key_check(api_key_from_request(request))
        challenge = {"WWW-Authenticate": BEARER_CHALLENGE}
        if api_key is None:
            return json_error(401, "invalid_api_key",
                              f"Send a valid API key in the {API_KEY_HEADER} header.", challenge)
        if api_key.is_revoked:
            response: HttpResponse = json_error(401, "revoked_api_key",
                                                "This API key has been revoked.", challenge)
        else:
            request.api_key = api_key
            try:
                response = respond(view, request, **kwargs)
            except Exception:
                _record_use(request, api_key, status=500)
                raise
        _record_use(request, api_key, status=response.status_code)
        return response

    return wrapper


def _record_use(request: ApiKeyRequest, api_key: ApiKey, *, status: int) -> None:
    method = request.method or ""
    if not api_key_use_is_recorded(api_key=api_key, method=method, status=status,
                                   now=request.arrived_at):
        return
    api_key_record_use(
        api_key=api_key, method=method, path=request.path, status=status,
        source_ip=client_ip(request), now=request.arrived_at,
    )
