"""Routes of the API app: the JSON API (its table is api/routes.py, each route served by
api.http.endpoint) and the portal pages for API keys."""

from django.urls import path

from . import portal
from .http import endpoint
from .routes import ROUTES

urlpatterns = [
    *(endpoint(route) for route in ROUTES),
    path("o/<slug:org_slug>/api-keys/", portal.api_key_list, name="api_key_list"),
    path("o/<slug:org_slug>/api-keys/<uuid:pk>/revoke/", portal.api_key_revoke_confirm,
         name="api_key_revoke"),
]
