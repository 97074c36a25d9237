"""Portal pages for API keys: owners (Manage API keys) create, list and revoke them."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.reauthentication import reauthentication_required
from organizations.access import client_ip, get_organization, require_org_perm
from organizations.models import Organization
from organizations.roles import Perm

from .forms import ApiKeyForm
from .models import ApiKey
from .services import ApiKeyError, api_key_create, api_key_revoke


def _organization_for_keys(request: HttpRequest, org_slug: str) -> Organization:
    organization = get_organization(request, org_slug)
    require_org_perm(request, organization, Perm.MANAGE_API_KEYS)
    return organization


def _get_api_key(request: HttpRequest, org_slug: str,
                 pk: uuid.UUID) -> tuple[Organization, ApiKey]:
    """The key in the URL within the organization (404), then the permission (403)."""
    organization = get_organization(request, org_slug)
    api_key = get_object_or_404(organization.api_keys, pk=pk)
    require_org_perm(request, organization, Perm.MANAGE_API_KEYS)
    return organization, api_key


@login_required
@require_http_methods(["GET", "POST"])
@reauthentication_required  # creating a key (POST)
def api_key_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = _organization_for_keys(request, org_slug)
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            api_key, plaintext = api_key_create(
                organization=organization, name=form.cleaned_data["name"], actor=request.user,
                source_ip=client_ip(request), now=timezone.now(),
            )
        except ApiKeyError as exc:
            form.add_error("name", str(exc))
        else:
            # Shown in this answer only: never stored, redirected through or cached.
            response = render(request, "api/api_key_created.html", {
                "organization": organization, "api_key": api_key, "plaintext": plaintext,
            })
            response["Cache-Control"] = "no-store"
            return response
    keys = organization.api_keys.select_related("created_by", "revoked_by")
    return render(request, "api/api_key_list.html", {
        "organization": organization, "form": form, "api_keys": keys,
    })


@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke_confirm(request: HttpRequest, org_slug: str, pk: uuid.UUID) -> HttpResponse:
    organization, api_key = _get_api_key(request, org_slug, pk)
    if request.method == "POST":
        if api_key_revoke(api_key=api_key, actor=request.user, source_ip=client_ip(request),
                          now=timezone.now()):
            messages.success(request, f"The API key “{api_key.name}” is revoked; requests "
                             "made with it are refused from now on.")
        else:
            messages.info(request, f"The API key “{api_key.name}” was already revoked.")
        return redirect("api_key_list", org_slug=organization.slug)
    return render(request, "api/api_key_revoke.html", {
        "organization": organization, "api_key": api_key,
    })
