"""Who is calling: API clients (client id and secret), their access tokens, and API keys.

- Client secrets are verified with credentials.crypto.digests_match (HMAC-SHA256 keyed,
  constant time); CredentialVersion.works_at(now), with `now` the request's arrival time,
  decides whether a matching version authenticates. A wrong client id and a wrong secret take
  the same path (one query, at least one HMAC) and get the same answer. HTTP Basic user and
  password are form-url-decoded (RFC 6749 section 2.3.1); see basic_credentials.
- Access tokens are signed with django.core.signing (SECRET_KEY, a salt of their own): they
  carry the version id and their expiry and cost no write to issue. They last 15 minutes and
  die early only with their credential (deactivated or deleted).
- API keys read `kt_<12 hex prefix>_<secret>`: the prefix finds the row, the keyed hash of
  the whole key decides.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from django.core import signing
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from credentials import crypto
from credentials.material import MAX_CLIENT_ID_LENGTH, text_refusal
from credentials.models import CredentialVersion, VersionState

from . import selectors
from .http import ApiError, body_bytes, json_body
from .models import ApiKey
from .schema import ValidationFailed
from .shapes import TOKEN_REQUEST

BASIC_CHALLENGE = 'Basic realm="keyturn"'
BEARER_CHALLENGE = 'Bearer realm="keyturn"'
API_KEY_HEADER = "X-Keyturn-Key"
ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
_TOKEN_SALT = "keyturn.api.access-token"
# Compared against when no candidate exists, so an unknown client id or key prefix still
# costs an HMAC like a known one.
_NO_DIGEST = "0" * 64
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
API_KEY_RE = re.compile(r"kt_([0-9a-f]{12})_[A-Za-z0-9_-]{20,100}")


# --- Client credentials ----------------------------------------------------------------


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    # HTTP Basic only: the secret exactly as sent, when form-url-decoding changed it. RFC 6749
    # asks clients to encode, many do not (curl -u, requests), and an entered secret may hold
    # "+" or "%": such clients keep working.
    secret_as_sent: str | None = None

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret=***)"

    def secrets(self) -> tuple[str, ...]:
        """The secrets to try, decoded first."""
        if self.secret_as_sent is None:
            return (self.client_secret,)
        return (self.client_secret, self.secret_as_sent)


def _authorization(request: HttpRequest, scheme: str) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    given, _, value = header.partition(" ")
    return value.strip() if given.lower() == scheme else None


def basic_credentials(request: HttpRequest) -> ClientCredentials | None:
    """HTTP Basic credentials, or None when absent or unreadable. As RFC 6749 section 2.3.1
    says, the client id and secret are form-url-encoded before they become the Basic user and
    password, so a client id holding ":" (allowed before credentials.material.CLIENT_ID_RE
    refused it) authenticates when sent as %3A; Basic itself splits at the first colon."""
    value = _authorization(request, "basic")
    if value is None:
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        client_id = unquote_plus(user, errors="strict")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not sep:
        return None
    try:
        secret = unquote_plus(password, errors="strict")
    except UnicodeDecodeError:  # not encoded: a secret holding "%FF" sent as it is
        secret = password
    return ClientCredentials(client_id, secret, password if password != secret else None)


def client_credentials(
    request: HttpRequest, fields: dict[str, Any]
) -> ClientCredentials | None:
    """Client credentials of a token request: HTTP Basic if sent, otherwise client_id and
    client_secret from the body's `fields` (see token_body)."""
    basic = basic_credentials(request)
    if basic is not None:
        return basic
    client_id, secret = fields.get("client_id"), fields.get("client_secret")
    if isinstance(client_id, str) and isinstance(secret, str):
        return ClientCredentials(client_id, secret)
    return None


def token_body(request: HttpRequest) -> dict[str, Any]:
    """The fields of a token request's body (JSON object or form), {} when there is none,
    for api.shapes.TOKEN_REQUEST to check. Raises ApiError for a body too large (413),
    malformed (400) or of another type (415), ValidationFailed for text that cannot be kept
    or a form parameter sent twice (400)."""
    body = body_bytes(request)
    if not body:
        return {}
    if request.content_type == "application/json":
        data = json_body(request)
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_request", "Send a JSON object.")
    elif request.content_type in FORM_TYPES:
        data = _form_fields(request)
    else:
        raise ApiError(415, "unsupported_media_type",
                       "Send client credentials by HTTP Basic, as JSON or as a form.")
    return data


def _form_fields(request: HttpRequest) -> dict[str, str]:
    """A form's parameters as RFC 6749 section 3.2 reads them: one sent without a value
    counts as not sent, and a parameter of the request may not be sent twice."""
    try:
        sent = {key: values for key, values in request.POST.lists()}
    except (MultiPartParserError, TooManyFieldsSent, UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_request", "The form body could not be read.") from None
    repeated = {key: ["Send this parameter once."] for key, values in sent.items()
                if key in TOKEN_REQUEST.fields and len(values) > 1}
    if repeated:
        raise ValidationFailed(repeated)
    return {key: values[-1] for key, values in sent.items() if values[-1] != ""}


def client_version_verify(
    *, credentials: ClientCredentials | None, now: datetime, accept_pending: bool
) -> CredentialVersion | None:
    """The version the credentials authenticate for a request that arrived at `now`, or None.

    Every candidate's digest is checked (constant time each), and when there is no candidate
    a dummy digest is, so that an unknown client id and a wrong secret take the same path."""
    client_id = credentials.client_id if credentials else ""
    secrets = credentials.secrets() if credentials else ("",)
    candidates: list[CredentialVersion] = []
    if client_id and len(client_id) <= MAX_CLIENT_ID_LENGTH and not text_refusal(client_id):
        candidates = list(selectors.client_versions(client_id=client_id, now=now))
    matched = None
    tried: list[CredentialVersion | None] = [*candidates] or [None]
    for version in tried:
        digest = version.secret_digest if version is not None else _NO_DIGEST
        # Every form of the secret is compared (no short cut), each in constant time.
        matches = [crypto.digests_match(digest or _NO_DIGEST, secret) for secret in secrets]
        if (
            any(matches)
            and version is not None
            and version.works_at(now)
            and (accept_pending or version.state != VersionState.PENDING)
        ):
            matched = version
    return matched


# --- Access tokens -------------------------------------------------------------------------


def access_token_issue(*, version: CredentialVersion, now: datetime) -> tuple[str, int]:
    """A signed bearer token for the client of `version`: (token, lifetime in seconds)."""
    expires_at = now + ACCESS_TOKEN_LIFETIME
    token = signing.Signer(salt=_TOKEN_SALT).sign_object(
        {"v": str(version.pk), "e": int(expires_at.timestamp())}
    )
    return token, int(ACCESS_TOKEN_LIFETIME.total_seconds())


@dataclass(frozen=True)
class TokenHolder:
    version: CredentialVersion
    expires_at: datetime


def access_token_verify(token: str, *, now: datetime) -> TokenHolder | None:
    try:
        payload = signing.Signer(salt=_TOKEN_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    version_id, expires = payload.get("v"), payload.get("e")
    if not isinstance(version_id, str) or not isinstance(expires, int):
        return None
    expires_at = datetime.fromtimestamp(expires, tz=UTC)
    if expires_at <= now:
        return None
    version = selectors.token_version(version_id)
    if version is None or not version.credential.is_active:
        return None
    return TokenHolder(version, expires_at)


def bearer_token(request: HttpRequest) -> str | None:
    return _authorization(request, "bearer") or None


# --- API keys ------------------------------------------------------------------------------


def api_key_from_request(request: HttpRequest) -> str | None:
    """The key of the X-Keyturn-Key header, or of `Authorization: Bearer kt_...`."""
    return request.META.get("HTTP_X_KEYTURN_KEY") or bearer_token(request)


def api_key_check(raw_key: str | None) -> ApiKey | None:
    """The API key (revoked or not) whose keyed hash matches, or None."""
    match = API_KEY_RE.fullmatch(raw_key or "")
    api_key = selectors.api_key_by_prefix(match.group(1)) if match else None
    digest = api_key.key_digest if api_key is not None else _NO_DIGEST
    matches = crypto.digests_match(digest, raw_key or "")
    return api_key if matches and api_key is not None else None
