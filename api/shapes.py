"""The shapes of the API's bodies and the functions that fill them, side by side so that what
the document promises and what the code sends are read (and changed) together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from credentials import network
from credentials.kinds import KINDS, Family, kinds_in_family
from credentials.material import MAX_CLIENT_ID_LENGTH, USERNAME_RE
from credentials.models import CredentialVersion
from credentials.status import Badge, credential_badges

from .http import MAX_BODY_BYTES, iso
from .schema import Field, Param, Response, Shape
from .selectors import HeadlessCredential

MAX_SECRET = 16_384
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"

# --- Common pieces -------------------------------------------------------------------------

ERROR = Shape("Error", {
    "error": Field("string", "A stable code: not_found, invalid_api_key, ...", required=True),
    "message": Field("string", "What went wrong, for people.", required=True),
}, "Every refusal other than invalid input.")
VALIDATION_ERROR = Shape("ValidationError", {
    "errors": Field(
        "object", "Messages per field; `body` for the body as a whole.", required=True,
        additional=Field("array", items=Field("string")),
    ),
}, "Invalid input: nothing was changed.")
OAUTH_ERROR = Shape("OAuthError", {
    "error": Field("string", "invalid_client, invalid_request or unsupported_grant_type.",
                   required=True),
    "error_description": Field("string", required=True),
}, "Token endpoint errors, as OAuth 2.0 (RFC 6749 5.2) words them.")

STATUS_FIELD = Field(
    "array", "Status badges: exactly one of active/inactive, at most one of "
    "expired/expiring_soon, and rotation_scheduled while a rotation is scheduled.",
    required=True, items=Field("string", enum=tuple(Badge.values)),
)
ID_PARAM = Param("id", "path", Field("string", "The credential's id.", format="uuid"))
LIST_PARAMS = (
    Param("status", "query", Field("string", "Only credentials showing this badge.",
                                   enum=tuple(Badge.values))),
    Param("business_unit", "query", Field(
        "string", "Only credentials of the business unit with this slug.", max_length=60,
        pattern=SLUG_PATTERN, pattern_message="Enter a business unit slug.",
    )),
    Param("page", "query", Field("integer", "Page number, from 1.", minimum=1, maximum=100_000)),
    Param("page_size", "query", Field("integer", "Rows per page (default 50).", minimum=1,
                                      maximum=100)),
)

UNAUTHORIZED_KEY = Response("No API key, an unknown key or a revoked key.", ERROR,
                            {"WWW-Authenticate": "Bearer realm=\"keyturn\""})
NOT_FOUND = Response("No such object in your organization (or not a UUID).", ERROR)
INVALID = Response("Invalid input, with messages per field; nothing was changed.",
                   VALIDATION_ERROR)
TOO_LARGE = Response(f"The body is larger than {MAX_BODY_BYTES} bytes.", ERROR)
NOT_JSON = Response("The body is not sent as application/json.", ERROR)


def page_shape(name: str, row: Shape) -> Shape:
    return Shape(name, {
        "count": Field("integer", "Rows matching the filters.", required=True),
        "page": Field("integer", required=True),
        "page_size": Field("integer", required=True),
        "next": Field("string", "URL of the next page.", required=True, nullable=True),
        "previous": Field("string", "URL of the previous page.", required=True, nullable=True),
        "results": Field("array", required=True, items=Field("object", shape=row)),
    })


def _kind_fields(credential: HeadlessCredential) -> dict[str, Any]:
    """The fields the credential's kind gives its resource (CredentialKind.api_fields)."""
    fields = KINDS[credential.kind].api_fields(credential.current)
    for name, value in fields.items():
        if isinstance(value, datetime):
            fields[name] = iso(value)
    return fields


def _shaped(shape: Shape, values: dict[str, Any]) -> dict[str, Any]:
    """`values` in the order `shape` documents them. A kind whose api_fields do not fill its
    family's resource exactly is a mistake in code, refused here rather than answered."""
    if tuple(values) == shape.names:  # the same names in the same order: nothing to do
        return values
    if values.keys() != shape.fields.keys():
        raise ValueError(f"{shape.name} takes {sorted(shape.fields)}, not {sorted(values)}")
    return {name: values[name] for name in shape.names}


def _common(credential: HeadlessCredential, now: datetime) -> dict[str, Any]:
    return {
        "id": str(credential.id),
        "name": credential.name,
        "business_unit": credential.business_unit_slug,
        "is_active": credential.is_active,
        "status": [badge.value for badge in credential_badges(credential, now)],
        "valid_until": iso(credential.expires_at),
    }


COMMON_FIELDS = {
    "id": Field("string", format="uuid", required=True),
    "name": Field("string", required=True),
    "business_unit": Field("string", "Slug of its business unit.", required=True),
    "is_active": Field("boolean", "False once deactivated (DELETE).", required=True),
    "status": STATUS_FIELD,
    "valid_until": Field("string", "When the current version expires.", format="date-time",
                         required=True, nullable=True),
}

# --- SFTP credentials ----------------------------------------------------------------------

# The auth_type of each SFTP kind the API writes (CredentialKind.api_auth_type).
AUTH_TYPES = tuple(KINDS[kind].api_auth_type for kind in kinds_in_family(Family.SFTP)
                   if KINDS[kind].api_auth_type)

_SFTP_BODY = {
    "hostname": Field("string", "The partner's SFTP server.", required=True,
                      max_length=network.HOSTNAME_MAX_LENGTH, pattern=network.HOSTNAME_PATTERN,
                      example="sftp.example.com", pattern_message=network.HOSTNAME_MESSAGE),
    "port": Field("integer", required=True, minimum=network.PORT_MIN, maximum=network.PORT_MAX,
                  example=22),
    "user": Field("string", "The user name on that server.", required=True, max_length=64,
                  pattern=USERNAME_RE.pattern, example="sftpuser",
                  pattern_message="Enter 1 to 64 letters, digits, dots, dashes, _ or @."),
    "auth_type": Field("string", required=True, enum=AUTH_TYPES, example="PASSWORD"),
    "password": Field(
        "string", "For PASSWORD. On update, omit it or send an empty string to keep the "
        "existing password. Ignored for KEY.", max_length=MAX_SECRET, write_only=True,
        example="new-secure-password-123",
    ),
    "private_key": Field(
        "string", "For KEY: an unencrypted OpenSSH or PEM private key (Ed25519, ECDSA, RSA of "
        "2048 bits or more). On update, omit it or send an empty string to keep the existing "
        "key. Ignored for PASSWORD.", max_length=MAX_SECRET, write_only=True,
    ),
}
SFTP_CREATE = Shape("SftpCredentialCreate", {
    **_SFTP_BODY,
    "business_unit": Field(
        "string", "Slug of the business unit to create it in; default: the organization's "
        "first business unit.", max_length=60, pattern=SLUG_PATTERN,
        pattern_message="Enter a business unit slug.", example="warehouse",
    ),
})
SFTP_UPDATE = Shape("SftpCredentialUpdate", _SFTP_BODY)
SFTP_CREDENTIAL = Shape("SftpCredential", {
    **COMMON_FIELDS,
    "hostname": Field("string", required=True, nullable=True),
    "port": Field("integer", required=True, nullable=True),
    "user": Field("string", required=True, nullable=True),
    "auth_type": Field("string", required=True, enum=AUTH_TYPES),
    "key_fingerprint": Field("string", "SHA256:... for keys, null for passwords.",
                             required=True, nullable=True),
}, "An SFTP credential and the outbound SFTP connection that uses it. Never a secret.")
SFTP_PAGE = page_shape("SftpCredentialPage", SFTP_CREDENTIAL)


def sftp_credential_out(credential: HeadlessCredential, now: datetime) -> dict[str, Any]:
    values = _common(credential, now)
    values["hostname"] = credential.hostname or None
    values["port"] = credential.port
    values.update(_kind_fields(credential))
    return _shaped(SFTP_CREDENTIAL, values)


# --- AS2 certificates and API credentials (read-only) --------------------------------------

AS2_CERTIFICATE = Shape("As2Certificate", {
    **COMMON_FIELDS,
    "subject": Field("string", required=True, nullable=True),
    "issuer": Field("string", required=True, nullable=True),
    "serial": Field("string", "Hexadecimal.", required=True, nullable=True),
    "fingerprint": Field("string", "SHA-256 of the certificate.", required=True, nullable=True),
    "valid_from": Field("string", format="date-time", required=True, nullable=True),
    "new_version_pending": Field("boolean", "A new certificate waits to take over.",
                                 required=True),
}, "An AS2 certificate's public facts and status.")
AS2_PAGE = page_shape("As2CertificatePage", AS2_CERTIFICATE)


def as2_certificate_out(credential: HeadlessCredential, now: datetime) -> dict[str, Any]:
    return _shaped(AS2_CERTIFICATE, {
        **_common(credential, now),
        **_kind_fields(credential),
        "new_version_pending": credential.pending,
    })


API_CREDENTIAL = Shape("ApiCredential", {
    **COMMON_FIELDS,
    "kind": Field("string", required=True, enum=kinds_in_family(Family.API)),
    "client_id": Field("string", required=True, nullable=True),
    "key_id": Field("string", "For API keys (kind api_key).", required=True, nullable=True),
    "rotation_policy": Field("string", required=True, enum=("reminders", "automatic")),
    "valid_from": Field("string", format="date-time", required=True, nullable=True),
    "new_version_pending": Field(
        "boolean", "A new secret is ready and activates on its first use.", required=True,
    ),
    "new_version_valid_from": Field("string", format="date-time", required=True,
                                    nullable=True),
}, "An API credential's public facts and status.")
API_PAGE = page_shape("ApiCredentialPage", API_CREDENTIAL)


def api_credential_out(credential: HeadlessCredential, now: datetime) -> dict[str, Any]:
    return _shaped(API_CREDENTIAL, {
        **_common(credential, now),
        **_kind_fields(credential),
        "rotation_policy": credential.rotation_policy,
        "new_version_pending": credential.pending,
        "new_version_valid_from": iso(credential.pending_valid_from),
    })


# --- Client credentials: token, whoami, new credentials ------------------------------------

TOKEN_REQUEST = Shape("TokenRequest", {
    # "" because a parameter sent without a value counts as not sent (RFC 6749 section 3.2).
    "grant_type": Field("string", "Optional; if sent, client_credentials (empty counts as "
                        "not sent).", enum=("client_credentials", "")),
    "client_id": Field("string", max_length=MAX_CLIENT_ID_LENGTH),
    "client_secret": Field("string", max_length=1024, write_only=True),
}, "Client credentials in the body, when not sent by HTTP Basic. Other parameters (scope, "
   "audience, ...) are ignored, as OAuth 2.0 requires (RFC 6749 section 3.2). In a form, a "
   "parameter sent without a value counts as not sent, and one sent twice is refused.",
   ignore_unknown=True)
TOKEN = Shape("AccessToken", {
    "access_token": Field("string", required=True),
    "token_type": Field("string", required=True, enum=("Bearer",)),
    "expires_in": Field("integer", "Seconds.", required=True, example=900),
})
WHOAMI = Shape("Whoami", {
    "client_id": Field("string", required=True),
    "credential_id": Field("string", format="uuid", required=True),
    "version": Field("integer", "The version whose secret obtained the token.", required=True),
    "expires_at": Field("string", "When the token expires.", format="date-time",
                        required=True),
})
NEW_CREDENTIALS = Shape("NewCredentials", {
    "clientId": Field("string", required=True),
    "clientSecret": Field("string", "The new secret. Store it securely.", required=True),
    "credentialId": Field("string", "The credential's id (it keeps it across rotations).",
                          format="uuid", required=True),
    "version": Field("integer", "Null: a version gets its number when it goes live (on "
                     "its first use), so a rotation that is cancelled uses up none.",
                     required=True, nullable=True),
    "validFrom": Field("string", format="date-time", required=True),
    "validUntil": Field("string", format="date-time", required=True, nullable=True),
    "isActive": Field("boolean", "Always false: it activates on first use.", required=True),
    "message": Field("string", required=True),
})
NEW_CREDENTIALS_MESSAGE = (
    "Update your application with the new clientSecret. It activates automatically on its "
    "first successful authentication at POST /authentication/token; the old secret stops "
    "working then."
)


def new_credentials_out(version: CredentialVersion, secret: str) -> dict[str, Any]:
    return {
        "clientId": version.client_id,
        "clientSecret": secret,
        "credentialId": str(version.credential_id),
        "version": version.number,
        "validFrom": iso(version.valid_from),
        "validUntil": iso(version.valid_until),
        "isActive": False,
        "message": NEW_CREDENTIALS_MESSAGE,
    }


OPENAPI_DOCUMENT = Shape("OpenApiDocument", {
    "openapi": Field("string", required=True),
    "info": Field("object", required=True, additional=Field("string")),
    "paths": Field("object", required=True, additional=Field("object")),
    "components": Field("object", required=True, additional=Field("object")),
}, "This document.")


# --- Partner contacts ------------------------------------------------------------------------

_CONTACT_BODY = {
    "name": Field("string", required=True, min_length=1, max_length=200, example="Dana Weber"),
    "email": Field("string", required=True, max_length=254, format="email",
                   example="dana@partner.example"),
    "note": Field("string", "For your colleagues; never emailed. Default: empty.",
                  max_length=500),
    "time_zone": Field("string", "IANA time zone (Europe/Berlin): emails say their times in "
                       "it and in UTC. Empty or omitted: UTC only.", max_length=64,
                       example="Europe/Berlin"),
}
CONTACT_CREATE = Shape("PartnerContactCreate", {
    **_CONTACT_BODY,
    "connection": Field("string", "The connection the contact belongs to (give this or "
                        "credential).", format="uuid"),
    "credential": Field("string", "The API client credential (kind api_client_secret) the "
                        "contact belongs to (give this or connection).", format="uuid"),
})
CONTACT_UPDATE = Shape("PartnerContactUpdate", _CONTACT_BODY,
                       "All fields; an omitted note or time_zone becomes empty.")
CONTACT = Shape("PartnerContact", {
    "id": Field("string", format="uuid", required=True),
    "name": Field("string", required=True),
    "email": Field("string", required=True),
    "note": Field("string", required=True),
    "time_zone": Field("string", required=True, nullable=True),
    "connection": Field("string", format="uuid", required=True, nullable=True),
    "credential": Field("string", format="uuid", required=True, nullable=True),
    "opted_out_at": Field("string", "When the contact stopped emails with an email's opt-out "
                          "link; null while they receive them.", format="date-time",
                          required=True, nullable=True),
    "created_at": Field("string", format="date-time", required=True),
    "updated_at": Field("string", format="date-time", required=True),
}, "A partner contact: gets the reminder and rotation emails of its connection or API client "
   "credential, never a secret.")
CONTACT_PAGE = page_shape("PartnerContactPage", CONTACT)
CONTACT_ID_PARAM = Param("id", "path", Field("string", "The contact's id.", format="uuid"))
CONTACT_LIST_PARAMS = (
    Param("connection", "query", Field("string", "Only the contacts of this connection.",
                                       format="uuid", max_length=36)),
    Param("credential", "query", Field(
        "string", "Only the contacts of this credential: its own and those of the "
        "connections that use it.", format="uuid", max_length=36)),
    *(param for param in LIST_PARAMS if param.name in ("page", "page_size")),
)


def contact_out(contact: Any) -> dict[str, Any]:
    return _shaped(CONTACT, {
        "id": str(contact.pk), "name": contact.name, "email": contact.email,
        "note": contact.note, "time_zone": contact.time_zone or None,
        "connection": str(contact.connection_id) if contact.connection_id else None,
        "credential": str(contact.credential_id) if contact.credential_id else None,
        "opted_out_at": iso(contact.opted_out_at), "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
    })
