"""The Change Credential wizard (API keys; Manage > Change Credential). Step 1 takes the new
name, Client ID, Key ID and PEM private key; step 2 shows what will change (public values
only), and Migrate Credential rotates and renames in one step.

The migration is Rotate Credential's immediate rotation
(credentials.rotation.requests.rotation_rotate_now), with the same checks, audit events and
record of a failure (History tab, retried there); the rename is done in its switch transaction,
so both happen or neither. Between the steps the key is sealed into the session
(credentials.sealed_session), never put in a hidden field or the HTML.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from accounts.reauthentication import reauthentication_required
from organizations.access import client_ip, get_organization, require_org_perm
from organizations.models import User

from .crypto import MaterialError
from .errors import SAVE_FAILED, CredentialError, log_failure
from .forms import ChangeCredentialForm
from .models import Credential, CredentialVersion, Kind
from .preview import material_headline, rotation_preview, version_public_values
from .rotation.requests import rotation_rotate_now
from .sealed_session import sealed_drop, sealed_get, sealed_put
from .services import credential_update, current_version
from .usage_views import stop_check

logger = logging.getLogger(__name__)

CHANGE_PURPOSE = "credential-change"
CHANGE_REASON = "Change Credential"


def _get_api_key_credential(request: HttpRequest, org_slug: str, pk: UUID) -> Credential:
    """The API key in the URL within the organization (404), then the permission (403)."""
    organization = get_organization(request, org_slug)
    credential = get_object_or_404(
        Credential.objects.for_user(request.user)
        .filter(business_unit__organization=organization, kind=Kind.API_KEY)
        .select_related("business_unit__organization"),
        pk=pk,
    )
    require_org_perm(request, organization, credential.manage_perm)
    return credential


def _client_id(current: CredentialVersion | None) -> str:
    """The id the credential may keep though no new id could have it (credentials.material)."""
    return current.client_id if current else ""


@login_required
@sensitive_post_parameters("private_key")
@reauthentication_required(on_get=True)  # the new private key is typed here
def credential_change(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    """Step 1: the new name, Client ID, Key ID and PEM private key."""
    credential = _get_api_key_credential(request, org_slug, pk)
    current = current_version(credential)
    if request.method == "POST":
        form = ChangeCredentialForm(request.POST, current_client_id=_client_id(current))
        if form.is_valid():
            sealed_put(request, purpose=CHANGE_PURPOSE, object_id=str(credential.pk),
                       values={name: form.cleaned_data[name]
                               for name in ("name", "client_id", "key_id", "private_key")})
            return redirect("credential_change_confirm", org_slug=org_slug, pk=credential.pk)
    else:
        form = ChangeCredentialForm(initial={
            "name": credential.name, "client_id": _client_id(current),
            "key_id": current.key_id if current else "",
        })
    return _change_form(request, credential, current, form)


def _change_form(request: HttpRequest, credential: Credential,
                 current: CredentialVersion | None,
                 form: ChangeCredentialForm, error: str = "") -> HttpResponse:
    return render(request, "credentials/change_form.html", {
        "credential": credential, "organization": credential.business_unit.organization,
        "current": current, "form": form, "error": error,
        "current_rows": version_public_values(current, credential.kind),
        "credential_url": reverse("credential_detail", kwargs={
            "org_slug": credential.business_unit.organization.slug, "pk": credential.pk}),
    }, status=400 if error else 200)


@login_required
@sensitive_post_parameters()
@sensitive_variables("values", "form")
@reauthentication_required
def credential_change_confirm(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    """Step 2: what will change (public values only), then Migrate Credential."""
    credential = _get_api_key_credential(request, org_slug, pk)
    current = current_version(credential)
    values = sealed_get(request, purpose=CHANGE_PURPOSE, object_id=str(credential.pk))
    if values is None:
        messages.warning(request, "Enter the new credential details (the earlier entry "
                                  "expired or was already used).")
        return redirect("credential_change", org_slug=org_slug, pk=credential.pk)
    form = ChangeCredentialForm(values, current_client_id=_client_id(current))
    if not form.is_valid():  # the rules changed between the steps
        sealed_drop(request, purpose=CHANGE_PURPOSE, object_id=str(credential.pk))
        return _change_form(request, credential, current, form)
    stop = stop_check(request, [current] if current else [])
    if request.method == "POST" and stop.allows:
        return _migrate(request, credential, current, form)
    return render(request, "credentials/change_confirm.html", {
        "credential": credential, "organization": credential.business_unit.organization,
        "stop": stop,
        "current": current, "rows": rotation_preview(
            credential=credential, name=form.cleaned_data["name"], material=form.material),
    })


@sensitive_variables("form")
def _migrate(request: HttpRequest, credential: Credential, current: CredentialVersion | None,
             form: ChangeCredentialForm) -> HttpResponse:
    """Migrate Credential: an immediate rotation that renames in its switch. Either way the
    sealed entry is gone, so the confirmation cannot be replayed."""
    sealed_drop(request, purpose=CHANGE_PURPOSE, object_id=str(credential.pk))
    source_ip = client_ip(request)
    try:
        rotation_rotate_now(
            credential=credential, material=form.material, actor=request.user,
            reason=CHANGE_REASON, source_ip=source_ip,
            with_switch=_renamed(form.cleaned_data["name"], actor=request.user,
                                 source_ip=source_ip),
        )
    except (CredentialError, MaterialError) as exc:
        error = getattr(exc, "message", None) or str(exc)
    except DatabaseError as exc:
        log_failure(logger, f"Change Credential of {credential.pk} failed", exc)
        error = SAVE_FAILED
    else:
        credential.refresh_from_db()
        messages.success(request, f"Credential “{credential.name}” migrated: version "
                                  f"{current_version(credential).number} is current "
                                  f"({material_headline(form.material)}).")
        return redirect("credential_change", org_slug=credential.business_unit.organization.slug,
                        pk=credential.pk)
    # Nothing changed. Start again from the form, with the key to paste once more.
    public = {name: form.data[name] for name in ("name", "client_id", "key_id")}
    return _change_form(request, credential, current, ChangeCredentialForm(initial=public),
                        error=f"The credential was not changed: {error}")


def _renamed(name: str, *, actor: User, source_ip: str | None) -> Callable[[Credential], None]:
    """The rename, for the rotation's switch transaction (called with the credential locked):
    it commits with the new key or not at all; if it fails, the rotation fails with it."""

    def rename(locked: Credential) -> None:
        credential_update(
            credential=locked, actor=actor, name=name, notes=locked.notes,
            rotation_policy=locked.rotation_policy, lifetime_days=locked.lifetime_days,
            source_ip=source_ip,
        )

    return rename
