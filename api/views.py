"""The JSON endpoints. Thin: authenticate, check the input against its shape, call one
service or selector, answer. Each handler carries its OpenAPI operation; the errors services
raise become their answers in api.http.respond."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.http import HttpResponse, JsonResponse

from credentials.models import Connection, Credential
from credentials.usage import UseChannel, version_use_record
from organizations.access import client_ip
from organizations.models import BusinessUnit, Organization
from partners import selectors as partner_selectors
from partners.models import PartnerContact
from partners.services import (
    ContactFields,
    partner_contact_add,
    partner_contact_edit,
    partner_contact_remove,
)

from . import selectors, services
from . import shapes as s
from .authentication import (
    BASIC_CHALLENGE,
    BEARER_CHALLENGE,
    access_token_verify,
    basic_credentials,
    bearer_token,
    client_credentials,
    client_version_verify,
    token_body,
)
from .decorators import api_key_required
from .http import ApiError, ApiKeyRequest, ApiRequest, json_body, json_error
from .schema import Operation, Response, ValidationFailed, clean_query, documented
from .selectors import HeadlessCredential

DEFAULT_PAGE_SIZE = 50
API_KEY_AUTH = ("apiKeyHeader", "apiKeyBearer")

# --- Client credentials --------------------------------------------------------------------


def _oauth_error(status: int, error: str, description: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = BASIC_CHALLENGE
    return response


@documented(Operation(
    operation_id="token", summary="Get an access token with client credentials",
    tags=("Client credentials",), security=("clientBasic",), security_optional=True,
    description=(
        "Client credentials by HTTP Basic, or client_id and client_secret as JSON or form "
        "fields. The first successful use of a new (pending) secret activates it: the token "
        "is returned at once, the new secret becomes current and the old one stops working "
        "from the moment of that request. Tokens last 15 minutes."
    ),
    body=s.TOKEN_REQUEST,
    body_media_types=("application/json", "application/x-www-form-urlencoded"),
    responses={
        200: Response("A bearer token.", s.TOKEN),
        400: Response("A body that does not fit TokenRequest (error_description names the "
                      "field), or an unsupported grant_type.", s.OAUTH_ERROR),
        401: Response("Wrong, expired or missing client credentials (whatever the reason, "
                      "the same answer).", s.OAUTH_ERROR, {"WWW-Authenticate": BASIC_CHALLENGE}),
        413: Response("The body is too large.", s.OAUTH_ERROR),
        415: Response("The body is neither JSON nor a form.", s.OAUTH_ERROR),
    },
))
def token(request: ApiRequest) -> HttpResponse:
    now = request.arrived_at
    try:
        sent = token_body(request)
        grant_type = sent.get("grant_type")
        if isinstance(grant_type, str) and grant_type not in ("client_credentials", ""):
            return _oauth_error(400, "unsupported_grant_type",
                                "Use grant_type=client_credentials.")
        fields = s.TOKEN_REQUEST.clean(sent)
    except ApiError as exc:
        return _oauth_error(exc.status, "invalid_request", exc.message)
    except ValidationFailed as exc:
        return _oauth_error(400, "invalid_request", "; ".join(
            f"{name}: {' '.join(messages)}" for name, messages in exc.errors.items()
        ))
    issued = services.client_token_issue(
        credentials=client_credentials(request, fields), now=now, source_ip=client_ip(request)
    )
    if issued is None:
        return _oauth_error(401, "invalid_client", "Client authentication failed.")
    return JsonResponse({"access_token": issued.access_token, "token_type": "Bearer",
                         "expires_in": issued.expires_in}, headers={"Pragma": "no-cache"})


@documented(Operation(
    operation_id="whoami", summary="Check an access token", tags=("Client credentials",),
    security=("accessToken",),
    responses={
        200: Response("Whose token it is.", s.WHOAMI),
        401: Response("No token, or an invalid, expired or dead one.", s.ERROR,
                      {"WWW-Authenticate": BEARER_CHALLENGE}),
    },
))
def whoami(request: ApiRequest) -> HttpResponse:
    raw = bearer_token(request)
    holder = access_token_verify(raw, now=request.arrived_at) if raw else None
    if holder is None:
        return json_error(401, "invalid_token", "Send a valid access token as a Bearer token.",
                          {"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_token"'})
    return JsonResponse({
        "client_id": holder.version.client_id,
        "credential_id": str(holder.version.credential_id),
        "version": holder.version.number,
        "expires_at": s.iso(holder.expires_at),
    })


@documented(Operation(
    operation_id="credentialsNew", summary="Retrieve the new client secret of a rotation",
    tags=("Client credentials",), security=("clientBasic",),
    description=(
        "HTTP Basic with your current (active) client credentials; the new secret itself is "
        "not accepted here, and using this endpoint activates nothing. The new secret can be "
        "fetched again until it is activated. At most 10 requests per client an hour."
    ),
    responses={
        200: Response("The new credentials.", s.NEW_CREDENTIALS),
        401: Response("Wrong credentials (or the new secret).", s.ERROR,
                      {"WWW-Authenticate": BASIC_CHALLENGE}),
        404: Response("No new credentials yet: the rotation has not started.", s.ERROR),
        410: Response("The new credentials are already active: you are using them.", s.ERROR),
        429: Response("More than 10 requests in an hour.", s.ERROR,
                      {"Retry-After": "Seconds until a request is counted again."}),
    },
))
def credentials_new(request: ApiRequest) -> HttpResponse:
    now = request.arrived_at
    supplied = basic_credentials(request)
    version = client_version_verify(credentials=supplied, now=now, accept_pending=False)
    if version is None:
        return json_error(401, "invalid_client", "Authenticate with your current client id "
                          "and secret by HTTP Basic.", {"WWW-Authenticate": BASIC_CHALLENGE})
    version_use_record(version=version, channel=UseChannel.NEW_CREDENTIALS,
                       address=client_ip(request), now=now)
    result = services.new_credentials_retrieve(version=version, now=now,
                                               source_ip=client_ip(request))
    if result.outcome == "rate_limited":
        return json_error(429, "rate_limited", "At most 10 requests an hour; try again later.",
                          {"Retry-After": str(result.retry_after)})
    if result.outcome == "none":
        return json_error(404, "no_new_credentials",
                          "No new credentials yet: they are created 30 days before expiry.")
    if result.outcome == "already_active":
        return json_error(410, "already_active",
                          "The new credentials are already active: you are using them.")
    assert result.version is not None
    return JsonResponse(s.new_credentials_out(result.version, result.secret))


# --- Headless API: helpers -----------------------------------------------------------------


def _organization(request: ApiKeyRequest) -> Organization:
    return request.api_key.organization


def _unit(organization: Organization, slug: str | None, *, required: bool) -> BusinessUnit | None:
    if slug is None:
        unit = selectors.default_business_unit(organization) if required else None
        if required and unit is None:
            raise ValidationFailed({"business_unit": ["Your organization has no business unit."]})
        return unit
    unit = organization.business_units.filter(slug=slug).first()
    if unit is None:
        raise ValidationFailed({"business_unit": ["No business unit with this slug."]})
    return unit


def _list(request: ApiKeyRequest, kinds: tuple[str, ...],
          represent: Callable[[HeadlessCredential, datetime], dict[str, Any]]) -> JsonResponse:
    now = request.arrived_at
    params = clean_query(s.LIST_PARAMS, request.GET)
    organization = _organization(request)
    page, size = params.get("page", 1), params.get("page_size", DEFAULT_PAGE_SIZE)
    count, records = selectors.headless_list(
        organization=organization, kinds=kinds, now=now, offset=(page - 1) * size, limit=size,
        status=params.get("status"),
        business_unit=_unit(organization, params.get("business_unit"), required=False),
    )
    return _page_answer(request, page, size, count,
                        [represent(record, now) for record in records])


def _page(request: ApiKeyRequest, queryset: QuerySet, params: dict[str, Any],
          represent: Callable[[Any], dict[str, Any]]) -> JsonResponse:
    page = params.get("page", 1)
    size = params.get("page_size", DEFAULT_PAGE_SIZE)
    count = queryset.count()
    offset = (page - 1) * size
    rows = list(queryset[offset:offset + size]) if offset < count else []
    return _page_answer(request, page, size, count, [represent(row) for row in rows])


def _page_answer(request: ApiKeyRequest, page: int, size: int, count: int,
                 results: list[dict[str, Any]]) -> JsonResponse:
    def url(number: int) -> str:
        query = {**{k: v for k, v in request.GET.items() if k != "page"}, "page": number}
        return request.build_absolute_uri(f"{request.path}?{urlencode(query)}")

    last = max(1, -(-count // size))
    return JsonResponse({
        "count": count, "page": page, "page_size": size,
        "next": url(page + 1) if page < last else None,
        "previous": url(min(page - 1, last)) if page > 1 else None,
        "results": results,
    })


def _one(request: ApiKeyRequest, id: str, kinds: tuple[str, ...]) -> HeadlessCredential:
    """The credential a read names, as its resource shows it."""
    credential = selectors.headless_one(organization=_organization(request), kinds=kinds,
                                        pk=_uuid_or_404(id))
    if credential is None:
        raise ApiError(404, "not_found", "No such object.")
    return credential


def _credential(request: ApiKeyRequest, id: str, kinds: tuple[str, ...]) -> Credential:
    """The credential a change names."""
    credential = selectors.credential_for_api(organization=_organization(request), kinds=kinds,
                                              pk=_uuid_or_404(id))
    if credential is None:
        raise ApiError(404, "not_found", "No such object.")
    return credential


def _sftp_fields(cleaned: dict[str, Any]) -> services.SftpFields:
    return services.SftpFields(
        hostname=cleaned["hostname"], port=cleaned["port"], user=cleaned["user"],
        auth_type=cleaned["auth_type"], password=cleaned.get("password", ""),
        private_key=cleaned.get("private_key", ""),
    )


def _sftp_answer(request: ApiKeyRequest, credential: Credential,
                 status: int = 200) -> JsonResponse:
    fresh = _one(request, str(credential.pk), selectors.SFTP_KINDS)
    return JsonResponse(s.sftp_credential_out(fresh, request.arrived_at), status=status)


# --- Headless API: SFTP credentials --------------------------------------------------------

SFTP_TAGS = ("SFTP credentials",)


@documented(Operation(
    operation_id="sftpCredentialsList", summary="List SFTP credentials", tags=SFTP_TAGS,
    security=API_KEY_AUTH, parameters=s.LIST_PARAMS,
    responses={200: Response("A page of SFTP credentials, oldest first.", s.SFTP_PAGE),
               400: s.INVALID, 401: s.UNAUTHORIZED_KEY},
))
@api_key_required
def sftp_credentials_list(request: ApiKeyRequest) -> HttpResponse:
    return _list(request, selectors.SFTP_KINDS, s.sftp_credential_out)


@documented(Operation(
    operation_id="sftpCredentialsCreate", summary="Create an SFTP credential", tags=SFTP_TAGS,
    security=API_KEY_AUTH, body=s.SFTP_CREATE,
    description="Creates the credential and the outbound SFTP connection (hostname, port) "
    "that uses it, in one transaction.",
    responses={
        201: Response("Created.", s.SFTP_CREDENTIAL, {"Location": "The new credential's URL."}),
        400: s.INVALID, 401: s.UNAUTHORIZED_KEY, 413: s.TOO_LARGE, 415: s.NOT_JSON,
    },
))
@api_key_required
def sftp_credentials_create(request: ApiKeyRequest) -> HttpResponse:
    cleaned = s.SFTP_CREATE.clean(json_body(request))
    unit = _unit(_organization(request), cleaned.get("business_unit"), required=True)
    assert unit is not None
    credential = services.sftp_credential_create(
        business_unit=unit, fields=_sftp_fields(cleaned), api_key=request.api_key,
        source_ip=client_ip(request), now=request.arrived_at,
    )
    response = _sftp_answer(request, credential, status=201)
    response["Location"] = request.build_absolute_uri(f"{request.path}{credential.pk}/")
    return response


@documented(Operation(
    operation_id="sftpCredentialsRead", summary="Get an SFTP credential", tags=SFTP_TAGS,
    security=API_KEY_AUTH, parameters=(s.ID_PARAM,),
    responses={200: Response("The credential.", s.SFTP_CREDENTIAL), 401: s.UNAUTHORIZED_KEY,
               404: s.NOT_FOUND},
))
@api_key_required
def sftp_credential_read(request: ApiKeyRequest, id: str) -> HttpResponse:
    return JsonResponse(s.sftp_credential_out(
        _one(request, id, selectors.SFTP_KINDS), request.arrived_at
    ))


@documented(Operation(
    operation_id="sftpCredentialsUpdate", summary="Update an SFTP credential", tags=SFTP_TAGS,
    security=API_KEY_AUTH, parameters=(s.ID_PARAM,), body=s.SFTP_UPDATE,
    description="All of hostname, port, user and auth_type; an omitted or empty password or "
    "private_key keeps the existing one. A new password, key or user is a rotation (a new "
    "version; the old one stops working now). Switching auth_type needs the new type's secret.",
    responses={
        200: Response("Updated.", s.SFTP_CREDENTIAL), 400: s.INVALID, 401: s.UNAUTHORIZED_KEY,
        404: s.NOT_FOUND,
        409: Response("The secret cannot change now: the credential is deactivated or a "
                      "rotation is already scheduled. Nothing was changed.", s.ERROR),
        413: s.TOO_LARGE, 415: s.NOT_JSON,
    },
))
@api_key_required
def sftp_credential_update(request: ApiKeyRequest, id: str) -> HttpResponse:
    credential = _credential(request, id, selectors.SFTP_KINDS)
    cleaned = s.SFTP_UPDATE.clean(json_body(request))
    credential = services.sftp_credential_update(
        credential=credential, fields=_sftp_fields(cleaned), api_key=request.api_key,
        source_ip=client_ip(request), now=request.arrived_at,
    )
    return _sftp_answer(request, credential)


@documented(Operation(
    operation_id="sftpCredentialsDelete", summary="Deactivate an SFTP credential",
    tags=SFTP_TAGS, security=API_KEY_AUTH, parameters=(s.ID_PARAM,),
    description="Deactivates the credential and its connections: they stop working, and the "
    "versions and audit trail are kept (an owner can reactivate it in the portal). It stays "
    "readable with is_active false. Repeating it is harmless.",
    responses={204: Response("Deactivated."), 401: s.UNAUTHORIZED_KEY, 404: s.NOT_FOUND},
))
@api_key_required
def sftp_credential_delete(request: ApiKeyRequest, id: str) -> HttpResponse:
    credential = _credential(request, id, selectors.SFTP_KINDS)
    services.sftp_credential_deactivate(
        credential=credential, api_key=request.api_key, source_ip=client_ip(request),
    )
    return HttpResponse(status=204)


# --- Headless API: read-only AS2 certificates and API credentials --------------------------


@documented(Operation(
    operation_id="as2CertificatesList", summary="List AS2 certificates",
    tags=("AS2 certificates",), security=API_KEY_AUTH, parameters=s.LIST_PARAMS,
    responses={200: Response("A page of AS2 certificates.", s.AS2_PAGE), 400: s.INVALID,
               401: s.UNAUTHORIZED_KEY},
))
@api_key_required
def as2_certificates_list(request: ApiKeyRequest) -> HttpResponse:
    return _list(request, selectors.AS2_KINDS, s.as2_certificate_out)


@documented(Operation(
    operation_id="as2CertificatesRead", summary="Get an AS2 certificate",
    tags=("AS2 certificates",), security=API_KEY_AUTH, parameters=(s.ID_PARAM,),
    responses={200: Response("The certificate.", s.AS2_CERTIFICATE), 401: s.UNAUTHORIZED_KEY,
               404: s.NOT_FOUND},
))
@api_key_required
def as2_certificate_read(request: ApiKeyRequest, id: str) -> HttpResponse:
    return JsonResponse(s.as2_certificate_out(
        _one(request, id, selectors.AS2_KINDS), request.arrived_at
    ))


@documented(Operation(
    operation_id="apiCredentialsList", summary="List API credentials",
    tags=("API credentials",), security=API_KEY_AUTH, parameters=s.LIST_PARAMS,
    responses={200: Response("A page of API credentials.", s.API_PAGE), 400: s.INVALID,
               401: s.UNAUTHORIZED_KEY},
))
@api_key_required
def api_credentials_list(request: ApiKeyRequest) -> HttpResponse:
    return _list(request, selectors.API_KINDS, s.api_credential_out)


@documented(Operation(
    operation_id="apiCredentialsRead", summary="Get an API credential",
    tags=("API credentials",), security=API_KEY_AUTH, parameters=(s.ID_PARAM,),
    responses={200: Response("The API credential.", s.API_CREDENTIAL),
               401: s.UNAUTHORIZED_KEY, 404: s.NOT_FOUND},
))
@api_key_required
def api_credential_read(request: ApiKeyRequest, id: str) -> HttpResponse:
    return JsonResponse(s.api_credential_out(
        _one(request, id, selectors.API_KINDS), request.arrived_at
    ))


# --- Headless API: partner contacts ----------------------------------------------------------

CONTACT_TAGS = ("Partner contacts",)


def _uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "not_found", "No such object.") from None


def _uuid_field(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed({field: ["Enter a UUID."]}) from None


def _contact(request: ApiKeyRequest, id: str) -> PartnerContact:
    try:
        return partner_selectors.contact_in_organization(_organization(request),
                                                         _uuid_or_404(id))
    except PartnerContact.DoesNotExist:
        raise ApiError(404, "not_found", "No such object.") from None


def _contact_fields(cleaned: dict[str, Any]) -> ContactFields:
    return ContactFields(name=cleaned["name"], email=cleaned["email"],
                         note=cleaned.get("note", ""), time_zone=cleaned.get("time_zone", ""))


def _contact_owner(request: ApiKeyRequest, cleaned: dict[str, Any]) -> Connection | Credential:
    """The connection or credential named in the body, in the key's organization."""
    given = [name for name in ("connection", "credential") if cleaned.get(name)]
    if len(given) != 1:
        message = "Give exactly one of connection and credential."
        raise ValidationFailed({name: [message] for name in (given or ["connection"])})
    name = given[0]
    pk = _uuid_field(cleaned[name], name)
    organization = _organization(request)
    model = Connection if name == "connection" else Credential
    owner = model.objects.select_related("business_unit__organization").filter(
        pk=pk, business_unit__organization=organization).first()
    if owner is None:
        raise ValidationFailed({name: [f"No such {name} in your organization."]})
    return owner


@documented(Operation(
    operation_id="partnerContactsList", summary="List partner contacts", tags=CONTACT_TAGS,
    security=API_KEY_AUTH, parameters=s.CONTACT_LIST_PARAMS,
    responses={200: Response("A page of partner contacts, oldest first.", s.CONTACT_PAGE),
               400: s.INVALID, 401: s.UNAUTHORIZED_KEY},
))
@api_key_required
def partner_contacts_list(request: ApiKeyRequest) -> HttpResponse:
    params = clean_query(s.CONTACT_LIST_PARAMS, request.GET)
    contacts = partner_selectors.contacts_in_organization(_organization(request))
    if "connection" in params:
        contacts = contacts.filter(connection_id=_uuid_field(params["connection"], "connection"))
    if "credential" in params:
        pk = _uuid_field(params["credential"], "credential")
        contacts = contacts.filter(Q(credential_id=pk) | Q(connection__credential_id=pk))
    return _page(request, contacts, params, s.contact_out)


@documented(Operation(
    operation_id="partnerContactsCreate", summary="Add a partner contact", tags=CONTACT_TAGS,
    security=API_KEY_AUTH, body=s.CONTACT_CREATE,
    description="To a connection, or to an API client credential (kind api_client_secret): "
    "exactly one of the two. Audited.",
    responses={
        201: Response("Added.", s.CONTACT, {"Location": "The new contact's URL."}),
        400: s.INVALID, 401: s.UNAUTHORIZED_KEY, 413: s.TOO_LARGE, 415: s.NOT_JSON,
    },
))
@api_key_required
def partner_contacts_create(request: ApiKeyRequest) -> HttpResponse:
    cleaned = s.CONTACT_CREATE.clean(json_body(request))
    contact = partner_contact_add(
        owner=_contact_owner(request, cleaned), fields=_contact_fields(cleaned),
        actor=request.api_key.actor, source_ip=client_ip(request))
    response = JsonResponse(s.contact_out(_contact(request, str(contact.pk))), status=201)
    response["Location"] = request.build_absolute_uri(f"{request.path}{contact.pk}/")
    return response


@documented(Operation(
    operation_id="partnerContactsRead", summary="Get a partner contact", tags=CONTACT_TAGS,
    security=API_KEY_AUTH, parameters=(s.CONTACT_ID_PARAM,),
    responses={200: Response("The contact.", s.CONTACT), 401: s.UNAUTHORIZED_KEY,
               404: s.NOT_FOUND},
))
@api_key_required
def partner_contact_read(request: ApiKeyRequest, id: str) -> HttpResponse:
    return JsonResponse(s.contact_out(_contact(request, id)))


@documented(Operation(
    operation_id="partnerContactsUpdate", summary="Change a partner contact", tags=CONTACT_TAGS,
    security=API_KEY_AUTH, parameters=(s.CONTACT_ID_PARAM,), body=s.CONTACT_UPDATE,
    description="A new email address receives emails again (the opt-out was the old "
    "address's). Audited.",
    responses={200: Response("Changed.", s.CONTACT), 400: s.INVALID, 401: s.UNAUTHORIZED_KEY,
               404: s.NOT_FOUND, 413: s.TOO_LARGE, 415: s.NOT_JSON},
))
@api_key_required
def partner_contact_update(request: ApiKeyRequest, id: str) -> HttpResponse:
    contact = _contact(request, id)
    cleaned = s.CONTACT_UPDATE.clean(json_body(request))
    partner_contact_edit(contact=contact, fields=_contact_fields(cleaned),
                         actor=request.api_key.actor, source_ip=client_ip(request))
    return JsonResponse(s.contact_out(_contact(request, id)))


@documented(Operation(
    operation_id="partnerContactsDelete", summary="Remove a partner contact", tags=CONTACT_TAGS,
    security=API_KEY_AUTH, parameters=(s.CONTACT_ID_PARAM,),
    responses={204: Response("Removed: no more emails to them."), 401: s.UNAUTHORIZED_KEY,
               404: s.NOT_FOUND},
))
@api_key_required
def partner_contact_delete(request: ApiKeyRequest, id: str) -> HttpResponse:
    partner_contact_remove(contact=_contact(request, id), actor=request.api_key.actor,
                           source_ip=client_ip(request))
    return HttpResponse(status=204)
