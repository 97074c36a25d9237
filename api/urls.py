"""Routes of the API app: the JSON API (each route an `endpoint` whose handlers carry their
OpenAPI operation) and the portal pages for API keys."""

from django.urls import path

from . import portal, views
from .http import endpoint

HEADLESS = "api/v1/headless"

urlpatterns = [
    endpoint("authentication/token", "api_token", POST=views.token),
    endpoint("api/credentials/new", "api_credentials_new", GET=views.credentials_new),
    endpoint("api/v1/whoami", "api_whoami", GET=views.whoami),
    endpoint("api/v1/openapi.json", "api_openapi", GET=views.openapi_json),
    endpoint(f"{HEADLESS}/sftp/credentials/", "api_sftp_credentials",
             GET=views.sftp_credentials_list, POST=views.sftp_credentials_create),
    endpoint(f"{HEADLESS}/sftp/credentials/<str:id>/", "api_sftp_credential",
             GET=views.sftp_credential_read, PUT=views.sftp_credential_update,
             DELETE=views.sftp_credential_delete),
    endpoint(f"{HEADLESS}/as2/certificates/", "api_as2_certificates",
             GET=views.as2_certificates_list),
    endpoint(f"{HEADLESS}/as2/certificates/<str:id>/", "api_as2_certificate",
             GET=views.as2_certificate_read),
    endpoint(f"{HEADLESS}/api/credentials/", "api_api_credentials",
             GET=views.api_credentials_list),
    endpoint(f"{HEADLESS}/api/credentials/<str:id>/", "api_api_credential",
             GET=views.api_credential_read),
    path("o/<slug:org_slug>/api-keys/", portal.api_key_list, name="api_key_list"),
    path("o/<slug:org_slug>/api-keys/<uuid:pk>/revoke/", portal.api_key_revoke_confirm,
         name="api_key_revoke"),
]
