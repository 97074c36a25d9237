"""The JSON API's routes in one table: api/urls.py serves them (api.http.endpoint) and
api/openapi.py documents them. The handler of the document itself lives here, beside the
table it describes, so that no module has to import another from inside a function."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.http import HttpResponse, JsonResponse

from . import shapes as s
from . import views
from .http import ApiRequest, Route
from .openapi import openapi_document
from .schema import Operation, Response, documented

HEADLESS = "api/v1/headless"


@documented(Operation(
    operation_id="openapi", summary="This OpenAPI document", tags=("Meta",),
    responses={200: Response("The OpenAPI 3 document of this API.", s.OPENAPI_DOCUMENT)},
))
def openapi_json(request: ApiRequest) -> HttpResponse:
    return JsonResponse(_document())


ROUTES: tuple[Route, ...] = (
    Route("authentication/token", "api_token", {"POST": views.token}),
    Route("api/credentials/new", "api_credentials_new", {"GET": views.credentials_new}),
    Route("api/v1/whoami", "api_whoami", {"GET": views.whoami}),
    Route("api/v1/openapi.json", "api_openapi", {"GET": openapi_json}),
    Route(f"{HEADLESS}/sftp/credentials/", "api_sftp_credentials",
          {"GET": views.sftp_credentials_list, "POST": views.sftp_credentials_create}),
    Route(f"{HEADLESS}/sftp/credentials/<str:id>/", "api_sftp_credential",
          {"GET": views.sftp_credential_read, "PUT": views.sftp_credential_update,
           "DELETE": views.sftp_credential_delete}),
    Route(f"{HEADLESS}/as2/certificates/", "api_as2_certificates",
          {"GET": views.as2_certificates_list}),
    Route(f"{HEADLESS}/as2/certificates/<str:id>/", "api_as2_certificate",
          {"GET": views.as2_certificate_read}),
    Route(f"{HEADLESS}/api/credentials/", "api_api_credentials",
          {"GET": views.api_credentials_list}),
    Route(f"{HEADLESS}/api/credentials/<str:id>/", "api_api_credential",
          {"GET": views.api_credential_read}),
    Route(f"{HEADLESS}/partner-contacts/", "api_partner_contacts",
          {"GET": views.partner_contacts_list, "POST": views.partner_contacts_create}),
    Route(f"{HEADLESS}/partner-contacts/<str:id>/", "api_partner_contact",
          {"GET": views.partner_contact_read, "PUT": views.partner_contact_update,
           "DELETE": views.partner_contact_delete}),
)


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    return openapi_document(ROUTES)
