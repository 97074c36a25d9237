"""The managed import pages: the list with its upload, then for each pending import Add as
new credential or Update Existing Credential, the password, the preview and the migration.

Between steps the payload password is sealed into the session with the key ring
(credentials.sealed_session), never put in a hidden field or the HTML; the payload is
decrypted again on each step rather than kept decrypted.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from accounts.reauthentication import reauthentication_required
from credentials.crypto import MaterialError
from credentials.errors import SAVE_FAILED, CredentialError, log_failure
from credentials.kinds import kind_for
from credentials.models import Credential
from credentials.preview import creation_preview, material_headline, rotation_preview
from credentials.sealed_session import sealed_drop, sealed_get, sealed_put
from organizations.access import client_ip, get_organization
from organizations.models import Organization

from . import payload, services
from .forms import (
    ImportAddForm,
    ImportChooseForm,
    ImportPasswordForm,
    ImportUploadForm,
    manageable_credentials,
)
from .models import ImportAction, ImportSource, ImportState, PendingImport

logger = logging.getLogger(__name__)

IMPORT_PURPOSE = "import"


# --- Access --------------------------------------------------------------------------------


def _import_admin_org(request: HttpRequest, org_slug: str) -> Organization:
    organization = get_organization(request, org_slug)
    if not services.is_import_admin(request.user, organization):
        raise PermissionDenied
    return organization


def _get_pending(request: HttpRequest, org_slug: str,
                 pk: object) -> tuple[Organization, PendingImport]:
    """The waiting import in the URL within the organization (404), then the permission
    (403)."""
    organization = get_organization(request, org_slug)
    pending = get_object_or_404(
        PendingImport.objects.filter(organization=organization, state=ImportState.PENDING),
        pk=pk,
    )
    if not services.is_import_admin(request.user, organization):
        raise PermissionDenied
    return organization, pending


# --- Managed imports --------------------------------------------------------------------


@login_required
def import_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = _import_admin_org(request, org_slug)
    return _render_list(request, organization, ImportUploadForm())


def _render_list(request: HttpRequest, organization: Organization,
                 upload_form: ImportUploadForm) -> HttpResponse:
    imports = PendingImport.objects.filter(organization=organization).select_related(
        "uploaded_by", "decided_by", "credential").defer("payload")
    return render(request, "imports/list.html", {
        "organization": organization,
        "pending": list(imports.filter(state=ImportState.PENDING)),
        "handled": list(imports.exclude(state=ImportState.PENDING)[:20]),
        "upload_form": upload_form,
    }, status=400 if upload_form.errors else 200)


@login_required
@require_POST
@reauthentication_required
def import_upload(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = _import_admin_org(request, org_slug)
    form = ImportUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            pending = services.pending_import_receive(
                organization=organization, data=form.payload_bytes,
                file_name=form.cleaned_data["file"].name, source=ImportSource.UPLOAD,
                actor=request.user, source_ip=client_ip(request),
            )
        except (payload.PayloadError, services.ImportRefused) as exc:
            form.add_error("file", getattr(exc, "message", None) or str(exc))
        else:
            messages.success(request, f"“{pending.file_name}” is waiting: add it as a new "
                                      "credential or update an existing one.")
            return redirect("import_list", org_slug=org_slug)
    return _render_list(request, organization, form)


@login_required
@reauthentication_required(on_get=True)
def import_choose(request: HttpRequest, org_slug: str, pk: object) -> HttpResponse:
    """Update Existing Credential, step 1: which credential the payload replaces."""
    organization, pending = _get_pending(request, org_slug, pk)
    form = ImportChooseForm(user=request.user, organization=organization)
    return render(request, "imports/choose.html", {
        "organization": organization, "pending": pending, "form": form,
    })


def _flow_target(request: HttpRequest, organization: Organization
                 ) -> tuple[str, Credential | None]:
    """The action (add or update) and, for an update, the credential to replace, from the
    query string or the posted form."""
    source = request.POST if request.method == "POST" else request.GET
    action = source.get("action", "")
    if action not in ImportAction.values:
        raise Http404("Choose Add as new credential or Update Existing Credential.")
    if action == ImportAction.ADD:
        return action, None
    try:
        credential = manageable_credentials(request.user, organization).get(
            pk=source.get("credential", ""))
    except (Credential.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such credential.") from None
    return action, credential


@login_required
@sensitive_post_parameters("password")
@sensitive_variables("password")
@reauthentication_required(on_get=True)  # the payload's password is typed here
def import_password(request: HttpRequest, org_slug: str, pk: object) -> HttpResponse:
    """The password that decrypts the payload; checked here, then kept sealed in the session
    until the migration is confirmed."""
    organization, pending = _get_pending(request, org_slug, pk)
    action, credential = _flow_target(request, organization)
    form = ImportPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password = form.cleaned_data["password"]
        try:
            managed = services.import_open(
                organization=organization, data=pending.payload_bytes, password=password,
                actor=request.user, file_name=pending.file_name, pending=pending,
                source_ip=client_ip(request), replacing=credential,
            )
            if credential is not None:
                services.check_replace_target(managed=managed, credential=credential,
                                              organization=organization)
        except payload.PayloadError as exc:
            if exc.stage == "content":
                messages.error(request, f"“{pending.file_name}” cannot be imported: "
                                        f"{exc.message}")
                return redirect("import_list", org_slug=org_slug)
            form.add_error("password", exc.message)
        except services.ImportRefused as exc:
            form.add_error(None, str(exc))
        else:
            sealed_put(request, purpose=IMPORT_PURPOSE, object_id=str(pending.pk), values={
                "password": password, "action": action,
                "credential": str(credential.pk) if credential else "",
            })
            return redirect("import_preview", org_slug=org_slug, pk=pending.pk)
    return render(request, "imports/password.html", {
        "organization": organization, "pending": pending, "form": form, "action": action,
        "credential": credential,
    }, status=400 if form.errors else 200)


@login_required
@sensitive_variables("sealed", "managed")
@reauthentication_required
def import_preview(request: HttpRequest, org_slug: str, pk: object) -> HttpResponse:
    """What the migration will change (public values only), then the migration itself."""
    organization, pending = _get_pending(request, org_slug, pk)
    sealed = sealed_get(request, purpose=IMPORT_PURPOSE, object_id=str(pending.pk))
    if sealed is None:
        messages.warning(request, "Enter the payload's password again (the earlier entry "
                                  "expired or was already used).")
        return redirect("import_list", org_slug=org_slug)
    credential = _sealed_target(request, organization, sealed)
    try:
        managed = payload.open_payload(
            pending.payload_bytes, sealed["password"],
            current_client_id=services.client_id_kept_by(credential),
        )
    except payload.PayloadError as exc:  # only if the rules changed since the password step
        sealed_drop(request, purpose=IMPORT_PURPOSE, object_id=str(pending.pk))
        messages.error(request, exc.message)
        return redirect("import_list", org_slug=org_slug)
    add_form = _add_form(request, organization, managed) if credential is None else None
    error = ""
    if request.method == "POST" and (add_form is None or add_form.is_valid()):
        error = _apply(request, organization, pending, sealed["password"], credential, add_form)
        if not error:
            sealed_drop(request, purpose=IMPORT_PURPOSE, object_id=str(pending.pk))
            pending.refresh_from_db()
            messages.success(request, f"{pending.result_note} "
                                      f"({material_headline(managed.material)})")
            return redirect("import_list", org_slug=org_slug)
    return _render_preview(request, organization, pending, managed, credential, add_form, error)


def _sealed_target(request: HttpRequest, organization: Organization,
                   sealed: dict[str, str]) -> Credential | None:
    """The credential an update replaces, as chosen before the password step, if the user
    may still manage it (404 otherwise); None to add a new credential."""
    if sealed["action"] != ImportAction.UPDATE:
        return None
    credential = manageable_credentials(request.user, organization).filter(
        pk=sealed["credential"]).first()
    if credential is None:
        raise Http404("No such credential.")
    return credential


def _add_form(request: HttpRequest, organization: Organization,
              managed: payload.ManagedCredential) -> ImportAddForm:
    """Add as new credential: its name and unit, the payload's unless changed."""
    unit = organization.business_units.filter(slug=managed.business_unit).first()
    return ImportAddForm(request.POST if request.method == "POST" else None,
                         organization=organization,
                         initial={"name": managed.name, "business_unit": unit})


@sensitive_variables("password", "common")
def _apply(request: HttpRequest, organization: Organization, pending: PendingImport,
           password: str, credential: Credential | None,
           add_form: ImportAddForm | None) -> str:
    """Adds the payload as a new credential or applies it to `credential`; the reason it was
    refused or failed, "" when it was done."""
    common = {"organization": organization, "data": pending.payload_bytes,
              "password": password, "actor": request.user, "pending": pending,
              "file_name": pending.file_name, "source_ip": client_ip(request)}
    try:
        if credential is None:
            services.import_add(business_unit=add_form.cleaned_data["business_unit"],
                                name=add_form.cleaned_data["name"], **common)
        else:
            services.import_replace(credential=credential, **common)
    except (CredentialError, MaterialError, payload.PayloadError) as exc:
        return getattr(exc, "message", None) or str(exc)
    except DatabaseError as exc:
        log_failure(logger, f"import {pending.pk} failed", exc)
        return SAVE_FAILED
    return ""


@sensitive_variables("managed")
def _render_preview(request: HttpRequest, organization: Organization, pending: PendingImport,
                    managed: payload.ManagedCredential, credential: Credential | None,
                    add_form: ImportAddForm | None, error: str) -> HttpResponse:
    if credential is not None:
        rows = rotation_preview(credential=credential, name=credential.name,
                                material=managed.material)
    else:
        rows = creation_preview(name=managed.name, material=managed.material,
                                valid_until=managed.valid_until)
    return render(request, "imports/preview.html", {
        "organization": organization, "pending": pending, "managed": managed,
        "kind_label": kind_for(managed.kind).label, "credential": credential, "rows": rows,
        "add_form": add_form, "error": error,
        "rotation_open": credential is not None and credential.rotations.open().exists(),
        "connection_count": credential.connections.count() if credential else 0,
    }, status=400 if error else 200)


@login_required
@require_POST
@reauthentication_required
def import_discard(request: HttpRequest, org_slug: str, pk: object) -> HttpResponse:
    organization, pending = _get_pending(request, org_slug, pk)
    try:
        services.pending_import_discard(pending=pending, actor=request.user,
                                        source_ip=client_ip(request))
    except services.ImportRefused as exc:
        messages.error(request, str(exc))
    else:
        sealed_drop(request, purpose=IMPORT_PURPOSE, object_id=str(pending.pk))
        messages.success(request, f"“{pending.file_name}” discarded.")
    return redirect("import_list", org_slug=org_slug)
