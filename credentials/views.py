"""Credential pages: lists, the detail page with Reveal and the Manage menu, create and edit,
rotation, and connections. Each view: access check, form, one service call, redirect or
render. Another organization's objects answer 404; a missing permission answers 403."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.reauthentication import reauthentication_required
from audit.selectors import recent_changes, recent_reveals
from organizations.access import client_ip, get_organization, require_org_perm
from organizations.models import Organization
from organizations.roles import Perm

from . import crypto, selectors, usage
from .crypto import MaterialError
from .errors import CredentialError, RotationError
from .forms import (
    METHOD_SWAP,
    TIMING_IMMEDIATE,
    AttachForm,
    ConnectionForm,
    CredentialDetailsForm,
    CredentialEditForm,
    CredentialFilterForm,
    RotatePlanForm,
    SwapForm,
)
from .hooks import CONNECTION_SECTIONS, DETAIL_SECTIONS, HISTORY_SECTIONS, MANAGE_ACTIONS
from .kinds import FAMILIES, KINDS, Family, families_managed_by, kind_for, kinds_managed_by
from .lifecycle import old_version_stops_at
from .list_rows import FilterGroup, FilterLink, filter_groups_html, rows_html
from .models import (
    CONNECTION_FAMILY,
    OPEN_ROTATION_STATES,
    Connection,
    ConnectionKind,
    Credential,
    Rotation,
    RotationMode,
    RotationPolicy,
    RotationState,
    VersionState,
    connection_kinds_for,
)
from .rotation.requests import (
    rotation_cancel,
    rotation_retry,
    rotation_rotate_now,
    rotation_schedule,
)
from .services import (
    connection_save,
    credential_create,
    credential_set_active,
    credential_update,
    secret_reveal,
)
from .status import Badge, credential_badges
from .templatetags.keyturn import format_dual, query_string
from .usage_views import stop_check

PER_PAGE = 50
OVERVIEW_CUTOVERS = 20


# --- Access helpers ----------------------------------------------------------------------


def _get_credential(
    request: HttpRequest, org_slug: str, pk: UUID, perm: str | None = None
) -> tuple[Organization, Credential]:
    """The credential in the URL, with its badge facts, if it belongs to the organization
    the user is a member of (404 otherwise); 403 without `perm` ("manage" means the
    permission of the credential's family)."""
    organization = get_organization(request, org_slug)
    try:
        credential = selectors.credential_for_detail(
            user=request.user, organization=organization, pk=pk
        )
    except Credential.DoesNotExist:
        raise Http404("No such credential.") from None
    kind_for(credential.kind)  # every page of a kind no release registers fails, none guesses
    if perm is not None:
        require_org_perm(request, organization,
                         credential.manage_perm if perm == "manage" else perm)
    return organization, credential


def _get_rotation(request: HttpRequest, org_slug: str, pk: UUID,
                  rotation_pk: UUID) -> tuple[Organization, Credential, Rotation]:
    """A rotation of the credential in the URL (404 for any other), then the permission of
    the credential's family (403)."""
    organization, credential = _get_credential(request, org_slug, pk)
    rotation = get_object_or_404(
        credential.rotations.select_related("requested_by", "replacement", "to_version"),
        pk=rotation_pk,
    )
    require_org_perm(request, organization, credential.manage_perm)
    return organization, credential, rotation


def _connection_perm(kind: str) -> str:
    return FAMILIES[CONNECTION_FAMILY[kind]].manage_perm


def _get_connection(request: HttpRequest, org_slug: str, pk: UUID) -> tuple[Organization,
                                                                            Connection]:
    organization = get_organization(request, org_slug)
    connection = get_object_or_404(
        Connection.objects.for_user(request.user).select_related(
            "business_unit__organization", "credential"),
        pk=pk, business_unit__organization=organization,
    )
    require_org_perm(request, organization, _connection_perm(connection.kind))
    return organization, connection


def _detail_url(credential: Credential, tab: str = "") -> str:
    url = reverse("credential_detail", args=[credential.business_unit.organization.slug,
                                             credential.pk])
    return f"{url}?tab={tab}" if tab else url


def _detail_urls(organization: Organization) -> Callable[[UUID], str]:
    """Each row's detail page address from one reverse() per page rather than one per row."""
    marker = UUID(int=0)
    prefix, suffix = reverse("credential_detail", args=[organization.slug, marker]).split(
        str(marker))
    return lambda pk: f"{prefix}{pk}{suffix}"


@cache
def badges_html(badges: tuple[Badge, ...]) -> str:
    """The badges' HTML (credentials/_badges.html), rendered once per process and combination
    (a dozen at most): it depends on the badges alone."""
    return render_to_string("credentials/_badges.html", {"badges": badges})


def _with_row_facts(credentials: list[Any], organization: Organization,
                    now: datetime) -> list[Any]:
    """Decides once, in the view, what each row of a list shows: its badges and its
    address."""
    url_of = _detail_urls(organization)
    for credential in credentials:
        credential.badges_html = badges_html(tuple(credential_badges(credential, now)))
        credential.url = url_of(credential.pk)
    return credentials


def _filter_group(title: str, params: QueryDict, name: str, options: Iterable[tuple[str, str]],
                  current: str, *, clears: tuple[str, ...] = (),
                  element_id: str = "") -> FilterGroup:
    """A group of the filter sidebar: All, then each option, each link keeping the page's
    other parameters (and removing `clears`), the current one selected."""
    cleared = dict.fromkeys(clears, "")
    return FilterGroup(title, [
        FilterLink("All", query_string(params, {name: "", **cleared}), not current),
        *(FilterLink(label, query_string(params, {name: value, **cleared}), current == value)
          for value, label in options),
    ], element_id)


def _filter_groups(params: QueryDict, filters: selectors.CredentialFilters,
                   kinds: list[tuple[str, str]], units: list[Any], *, family: str | None,
                   in_unit: bool, usage_filter: str) -> list[FilterGroup]:
    """The list's filter sidebar, its links written once in the view (forty `{% query %}`
    tags cost more than the rest of the page's own template)."""
    groups = [_filter_group("By status", params, "status", Badge.choices, filters.status)]
    if not in_unit:
        groups.append(_filter_group("By kind family", params, "family", Family.choices,
                                    family or "", clears=("kind",)))
    groups.append(_filter_group("By kind", params, "kind", kinds, filters.kind))
    if not in_unit:
        groups.append(_filter_group("By business unit", params, "unit",
                                    [(u.slug, u.name) for u in units],
                                    filters.unit.slug if filters.unit else ""))
    groups.append(_filter_group("By use", params, "usage",
                                [(usage.OLD_IN_USE, "Old version still in use")], usage_filter,
                                element_id="usage-filter"))
    return groups


def _add_service_error(forms: list[Any], exc: CredentialError | MaterialError) -> None:
    """A refusal from a service becomes the error of the field it names (or of the form)."""
    message = exc.message if isinstance(exc, MaterialError) else str(exc)
    for form in forms:
        if exc.field and exc.field in form.fields:
            form.add_error(exc.field, message)
            return
    forms[0].add_error(None, message)


# --- Overview and units -------------------------------------------------------------------


@login_required
def organization_overview(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    now = timezone.now()
    user = request.user
    counts = selectors.status_counts(user=user, organization=organization, now=now)
    expiring = list(selectors.credentials_expiring(user=user, organization=organization, now=now))
    expired = list(selectors.credentials_expired(user=user, organization=organization, now=now))
    _with_row_facts(expiring + expired, organization, now)
    scheduled = list(selectors.rotations_scheduled(user=user, organization=organization))
    url_of = _detail_urls(organization)
    for rotation in scheduled:
        rotation.credential.url = url_of(rotation.credential_id)
    can_view_audit = user.has_org_perm(organization, Perm.VIEW_AUDIT)
    return render(request, "credentials/overview.html", {
        "organization": organization,
        "total": counts["total"],
        "stats": [(badge, counts[badge.value]) for badge in Badge],
        "expiring": expiring,
        "expired": expired,
        "scheduled": scheduled,
        "cutovers": usage.cutovers(selectors.organization_credentials(user, organization), now,
                                   limit=OVERVIEW_CUTOVERS),
        "can_view_audit": can_view_audit,
        "reveals": list(recent_reveals(organization)) if can_view_audit else [],
        "changes": list(recent_changes(organization)) if can_view_audit else [],
        "now": now,
    })


@login_required
def unit_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    return render(request, "credentials/unit_list.html", {
        "organization": organization,
        "units": selectors.units_with_counts(request.user, organization),
    })


# --- Lists -------------------------------------------------------------------------------


@login_required
def credential_list(
    request: HttpRequest, org_slug: str, unit_slug: str | None = None, family: str | None = None
) -> HttpResponse:
    organization = get_organization(request, org_slug)
    units = selectors.organization_units(organization)
    unit = None
    if unit_slug:
        unit = next((u for u in units if u.slug == unit_slug), None)
        if unit is None:
            raise Http404("No such business unit.")
    if unit is not None and family is None:
        family = Family.SFTP
    if family is not None and family not in Family.values:
        raise Http404("No such kind of credential.")
    form = CredentialFilterForm(request.GET, units=units)
    values = form.values()
    if unit is None and values.get("family"):
        family = values["family"]
    kind = values.get("kind", "")
    if family and kind and kind_for(kind).family != family:
        kind = ""
    usage_filter = usage.list_filter(request.GET.get("usage"))
    filters = selectors.CredentialFilters(
        status=values.get("status", ""), kind=kind, family=family or "",
        unit=unit or form.units.get(values.get("unit", "")), q=values.get("q", ""),
        sort=values.get("sort") or "name", old_in_use=bool(usage_filter),
    )
    now = timezone.now()
    page = Paginator(selectors.CredentialPage(
        user=request.user, organization=organization, filters=filters, now=now,
    ), PER_PAGE).get_page(request.GET.get("page"))
    rows = _with_row_facts(page.object_list, organization, now)
    kinds = [(k.key, k.label) for k in KINDS.values() if not family or k.family == family]
    return render(request, "credentials/credential_list.html", {
        "organization": organization,
        "unit": unit,
        "family": family,
        "family_label": Family(family).label if family else "",
        "families": Family.choices,
        "filters": filters,
        "page": page,
        "rows": rows,
        "rows_html": rows_html(rows, with_unit=unit is None),
        "filter_groups_html": filter_groups_html(_filter_groups(
            request.GET, filters, kinds, units, family=family, in_unit=unit is not None,
            usage_filter=usage_filter)),
        "can_create": bool(set(families_managed_by(request.user, organization))
                           & set([family] if family else Family.values)),
        "now": now,
    })


# --- Detail and Reveal -------------------------------------------------------------------


def _manage_actions(credential: Credential, *, can_manage: bool, scheduled: Rotation | None,
                    has_open_rotation: bool, failed: Rotation | None,
                    outbound: list[Connection]) -> list[dict[str, str]]:
    """The Manage menu: only what this user may do to this credential now."""
    if not can_manage:
        return []
    org, pk = credential.business_unit.organization.slug, credential.pk
    actions = []
    # The engine refuses to rotate a deactivated credential or one with an open rotation.
    if credential.is_active and not has_open_rotation:
        actions.append({"label": "Rotate Credential",
                        "url": reverse("credential_rotate", args=[org, pk])})
        wizard = credential.kind_spec.change_wizard_url
        if wizard:
            actions.append({"label": "Change Credential", "url": reverse(wizard, args=[org, pk])})
        if failed is not None:
            actions.append({"label": "Retry Failed Rotation",
                            "url": reverse("rotation_retry", args=[org, pk, failed.pk])})
    if scheduled is not None:
        actions.append({"label": "Cancel Scheduled Rotation",
                        "url": reverse("rotation_cancel", args=[org, pk, scheduled.pk])})
    for connection in outbound:
        actions.append({"label": f"Test connection “{connection.name}”",
                        "url": reverse("connection_test", args=[org, connection.pk])})
    actions.append({"label": "Edit", "url": reverse("credential_edit", args=[org, pk])})
    if credential.is_active:
        actions.append({"label": "Deactivate",
                        "url": reverse("credential_deactivate", args=[org, pk])})
    else:
        actions.append({"label": "Reactivate",
                        "url": reverse("credential_reactivate", args=[org, pk])})
    return actions


@login_required
def credential_detail(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    organization, credential = _get_credential(request, org_slug, pk)
    spec = credential.kind_spec
    now = timezone.now()
    tabs = {"details": "Details", "usage": spec.family_info.usage_tab, "history": "History"}
    tab = request.GET.get("tab", "details")
    if tab not in tabs:
        tab = "details"
    versions = selectors.credential_versions(credential)
    rotations = selectors.credential_rotations(credential)
    scheduled = next((r for r in rotations if r.state == RotationState.SCHEDULED), None)
    open_rotation = next((r for r in rotations if r.state in OPEN_ROTATION_STATES), None)
    # The newest rotation failed and nothing replaced it: the owner sees why, and may retry.
    failed = rotations[0] if rotations and rotations[0].state == RotationState.FAILED else None
    connections = selectors.credential_connections(credential)
    user = request.user
    can_manage = user.has_org_perm(organization, credential.manage_perm)
    can_view_audit = user.has_org_perm(organization, Perm.VIEW_AUDIT)
    context = {
        "organization": organization,
        "credential": credential,
        "usage": spec.family_info,
        "badges_html": badges_html(tuple(credential_badges(credential, now))),
        "tabs": tabs,
        "tab": tab,
        "versions": versions,
        "current": versions.current,
        "rotations": rotations,
        "scheduled": scheduled,
        "open_rotation": open_rotation,
        "last_rotated": next((r.finished_at for r in rotations
                              if r.state == RotationState.COMPLETED), None),
        "connections": connections,
        "hosts": sorted({c.hostname for c in connections if c.hostname}),
        "secret_label": spec.secret_label,
        "noun": spec.secret_noun,
        "can_reveal": user.has_org_perm(organization, Perm.REVEAL),
        "can_manage": can_manage,
        "can_view_audit": can_view_audit,
        "failed_rotation": failed,
        "manage_actions": _manage_actions(
            credential, can_manage=can_manage, scheduled=scheduled,
            has_open_rotation=open_rotation is not None, failed=failed,
            outbound=[c for c in connections
                      if c.kind == ConnectionKind.OUTBOUND_SFTP and c.is_active],
        ) + [entry for make in MANAGE_ACTIONS for entry in make(credential, user)],
        "now": now,
    }
    if tab == "details":
        context["detail_sections"] = [
            render_to_string(section.template_name, section.context)
            for section in (make(credential, user) for make in DETAIL_SECTIONS) if section
        ]
    if tab == "history":
        context.update(_history(credential, versions, rotations, can_view_audit=can_view_audit))
    return render(request, "credentials/credential_detail.html", context)


def _history(credential: Credential, versions: selectors.VersionSet,
             rotations: list[Rotation], *, can_view_audit: bool) -> dict[str, Any]:
    """The History tab: versions, the sections upper apps add, and who revealed it."""
    # A version that never went live is shown with what stopped it: its rotation.
    rotation_to = {r.to_version_id: r for r in rotations if r.to_version_id}
    return {
        "version_rows": [
            (version, rotation_to.get(version.pk) if version.state == VersionState.UNUSED
             else None) for version in versions.all
        ],
        "history_sections": [
            render_to_string(section.template_name, section.context)
            for section in (make(credential) for make in HISTORY_SECTIONS)
        ],
        "reveals": list(selectors.credential_reveals(credential)) if can_view_audit else None,
    }


@never_cache
@login_required
@require_POST
@reauthentication_required
def credential_reveal(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    """The current secret, once, on a page no cache keeps; the service audits the reveal."""
    organization, credential = _get_credential(request, org_slug, pk, Perm.REVEAL)
    pending = request.POST.get("version") == "pending"
    try:
        secret = secret_reveal(credential=credential, actor=request.user,
                               source_ip=client_ip(request), pending=pending)
    except CredentialError as exc:
        messages.error(request, str(exc))
        return redirect(_detail_url(credential))
    return render(request, "credentials/credential_reveal.html", {
        "organization": organization,
        "credential": credential,
        "secret": secret,
        "pending": pending,
        "secret_label": credential.kind_spec.secret_label,
        "multiline": "\n" in secret.strip(),
    })


# --- Create and edit ---------------------------------------------------------------------


@login_required
def credential_new(request: HttpRequest, org_slug: str) -> HttpResponse:
    """Choose the kind of credential to create (only kinds the user may manage)."""
    organization = get_organization(request, org_slug)
    kinds = [(kind, KINDS[kind].label) for kind in kinds_managed_by(request.user, organization)]
    if not kinds:
        raise PermissionDenied
    return render(request, "credentials/credential_new.html", {
        "organization": organization, "kinds": kinds, "unit_slug": request.GET.get("unit", ""),
    })


@sensitive_post_parameters("password", "private_key", "client_secret")
@login_required
def credential_create_view(request: HttpRequest, org_slug: str, kind: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    if kind not in KINDS:
        raise Http404("No such kind of credential.")
    spec = KINDS[kind]
    require_org_perm(request, organization, spec.manage_perm)
    data = request.POST if request.method == "POST" else None
    initial = {"business_unit": request.GET.get("unit") or None,
               "rotation_policy": RotationPolicy.AUTOMATIC if spec.automatic_by_default
               else RotationPolicy.REMINDERS}
    details = CredentialDetailsForm(data, organization=organization, kind=kind, initial=initial)
    material_form = spec.form_class(data, request.FILES if data else None)
    if data is not None and details.is_valid() and material_form.is_valid():
        cleaned = details.cleaned_data
        try:
            credential = credential_create(
                business_unit=cleaned["business_unit"], kind=kind, name=cleaned["name"],
                material=material_form.material, valid_until=cleaned.get("valid_until"),
                actor=request.user, notes=cleaned["notes"],
                rotation_policy=cleaned["rotation_policy"],
                lifetime_days=cleaned["lifetime_days"], source_ip=client_ip(request),
            )
        except CredentialError as exc:
            _add_service_error([details, material_form], exc)
        else:
            messages.success(request, _created_message(credential, material_form))
            return redirect(_detail_url(credential))
    return render(request, "credentials/credential_form.html", {
        "organization": organization,
        "kind_label": spec.label,
        "details": details,
        "material_form": material_form,
        "multipart": spec.multipart,
    })


def _created_message(credential: Credential, material_form: Any) -> str:
    text = f"Created “{credential.name}”."
    fingerprint = material_form.material.fingerprint
    if fingerprint:
        text += f" Fingerprint {fingerprint}."
    if material_form.generated():
        text += f" The {credential.kind_spec.secret_noun} was generated: use Reveal to copy it."
    return text


@login_required
def credential_edit(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    organization, credential = _get_credential(request, org_slug, pk, "manage")
    initial = {name: getattr(credential, name)
               for name in ("name", "notes", "rotation_policy", "lifetime_days")}
    form = CredentialEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            credential_update(credential=credential, actor=request.user,
                              source_ip=client_ip(request), **form.cleaned_data)
        except CredentialError as exc:
            _add_service_error([form], exc)
        else:
            messages.success(request, f"Saved “{credential.name}”.")
            return redirect(_detail_url(credential))
    return render(request, "credentials/credential_edit.html", {
        "organization": organization, "credential": credential,
        "form": form,
    })


def _set_active(request: HttpRequest, org_slug: str, pk: UUID, active: bool) -> HttpResponse:
    organization, credential = _get_credential(request, org_slug, pk, "manage")
    stop = None if active else stop_check(request, usage.versions_working(credential))
    if request.method == "POST" and (stop is None or stop.allows):
        credential_set_active(credential=credential, active=active, actor=request.user,
                              source_ip=client_ip(request))
        state = "active again" if active else "deactivated"
        messages.success(request, f"“{credential.name}” is {state}.")
        return redirect(_detail_url(credential))
    active_connections = [c for c in selectors.credential_connections(credential) if c.is_active]
    return render(request, "credentials/credential_confirm_active.html", {
        "organization": organization, "credential": credential,
        "active": active, "active_connections": active_connections,
        "noun": credential.kind_spec.secret_noun, "stop": stop,
    })


@login_required
def credential_deactivate(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    return _set_active(request, org_slug, pk, active=False)


@login_required
def credential_reactivate(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    return _set_active(request, org_slug, pk, active=True)


# --- Rotation ----------------------------------------------------------------------------


def rotation_consequences(credential: Credential, plan: dict[str, Any],
                          replacement: Credential | None = None) -> list[str]:
    """Plain words for when the new material starts and the old stops working."""
    noun = credential.kind_spec.secret_noun
    starts_at, until = plan.get("starts_at"), plan.get("overlap_ends_at")
    stop = old_version_stops_at(
        mode=RotationMode.IMMEDIATE if plan["timing"] == TIMING_IMMEDIATE
        else RotationMode.SCHEDULED, starts_at=starts_at or timezone.now(),
        overlap_ends_at=until, valid_until=None)
    if plan["timing"] == TIMING_IMMEDIATE:
        lines = [f"The new {noun} works immediately."]
        lines.append(
            f"The current {noun} keeps working until {format_dual(until)}, then stops working."
            if until else f"The current {noun} stops working immediately."
        )
    else:
        target = f"“{replacement.name}”" if replacement else "the credential you choose"
        lines = [
            f"At {format_dual(starts_at)} the connections that use this credential switch to "
            f"{target}." if plan["method"] == METHOD_SWAP
            else f"The new {noun} starts working at {format_dual(starts_at)}."
        ]
        lines.append(
            f"The current {noun} keeps working until {format_dual(until)}, then stops working."
            if until else f"The current {noun} stops working at {format_dual(starts_at)}."
        )
    if plan.get("test_before_switch"):
        lines.append(f"First the new {noun} is tried on the active outbound connections; if a "
                     f"test fails, the rotation fails and the current {noun} keeps working.")
    expires_at = getattr(credential, "expires_at", None)
    if expires_at is not None and timezone.now() < expires_at < stop:
        lines.append(f"Note: the current {noun} expires earlier, at {format_dual(expires_at)}.")
    return lines


@sensitive_post_parameters("password", "private_key", "client_secret")
@login_required
@reauthentication_required(on_get=True)  # the new secret is typed here
def credential_rotate(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    """Step 1 chooses what and when (no secrets); step 2 shows in plain words when the old
    credential stops working, takes the new material (or the credential to swap in) and is
    the confirmation: nothing changes before it is submitted."""
    organization, credential = _get_credential(request, org_slug, pk, "manage")
    spec = credential.kind_spec
    versions = selectors.credential_versions(credential)
    current = versions.current
    step = request.POST.get("step", "1") if request.method == "POST" else "1"
    plan = RotatePlanForm(request.POST if request.method == "POST" else None,
                          kind=credential.kind)
    context: dict[str, Any] = {
        "organization": organization, "credential": credential,
        "plan": plan, "noun": spec.secret_noun, "current": current,
    }
    if request.method != "POST" or "back" in request.POST or not plan.is_valid():
        return render(request, "credentials/rotate_plan.html", context)
    cleaned = plan.cleaned_data
    swap = cleaned["method"] == METHOD_SWAP
    data = request.POST if step == "2" else None
    if swap:
        second = SwapForm(data, candidates=selectors.swap_candidates(credential, request.user))
    else:
        second = spec.form_class(
            data, request.FILES if data else None, initial=_material_initial(current),
            current_client_id=current.client_id if current else "",
        )
    stop = stop_check(request, usage.versions_stopped_by(
        versions.all, immediate=cleaned["timing"] == TIMING_IMMEDIATE,
        starts_at=cleaned.get("starts_at"), overlap_ends_at=cleaned.get("overlap_ends_at"),
        now=timezone.now()), submitted=step == "2")
    if step == "2" and second.is_valid() and stop.allows:
        try:
            rotation = _rotate(request, credential, cleaned, second)
        except (CredentialError, MaterialError) as exc:
            _add_service_error([second, plan], exc)
            if exc.field in plan.fields:
                return render(request, "credentials/rotate_plan.html", context)
        else:
            messages.success(request, _rotated_message(credential, rotation, second, swap))
            return redirect(_detail_url(credential))
    replacement = second.cleaned_data.get("replacement") if swap and second.is_valid() else None
    context.update({
        "second": second, "swap": swap, "multipart": spec.multipart,
        "consequences": rotation_consequences(credential, cleaned, replacement),
        "scheduled": cleaned["timing"] != TIMING_IMMEDIATE, "stop": stop,
    })
    return render(request, "credentials/rotate_confirm.html", context)


def _material_initial(current: Any) -> dict[str, str]:
    if current is None:
        return {}
    common_name = (crypto.certificate_common_name(current.certificate_pem)
                   if current.certificate_pem else "")
    return {"username": current.username, "client_id": current.client_id,
            "key_id": current.key_id, "common_name": common_name}


def _rotate(request: HttpRequest, credential: Credential, plan: dict[str, Any],
            second: Any) -> Rotation:
    common = {"credential": credential, "actor": request.user, "reason": plan["reason"],
              "overlap_ends_at": plan["overlap_ends_at"], "source_ip": client_ip(request),
              "test_before_switch": plan["test_before_switch"]}
    if plan["timing"] == TIMING_IMMEDIATE:
        return rotation_rotate_now(material=second.material, **common)
    if plan["method"] == METHOD_SWAP:
        return rotation_schedule(starts_at=plan["starts_at"],
                                 replacement=second.cleaned_data["replacement"], **common)
    return rotation_schedule(starts_at=plan["starts_at"], material=second.material, **common)


def _rotated_message(credential: Credential, rotation: Rotation, second: Any,
                     swap: bool) -> str:
    noun = credential.kind_spec.secret_noun
    if rotation.mode == RotationMode.IMMEDIATE:
        text = f"Rotated “{credential.name}”: the new {noun} works now."
    else:
        text = f"Rotation scheduled for {format_dual(rotation.starts_at)}."
    if not swap and second.generated() and rotation.mode == RotationMode.IMMEDIATE:
        text += f" The new {noun} was generated: use Reveal to copy it."
    return text


@login_required
@reauthentication_required
def rotation_cancel_view(request: HttpRequest, org_slug: str, pk: UUID,
                         rotation_pk: UUID) -> HttpResponse:
    organization, credential, rotation = _get_rotation(request, org_slug, pk, rotation_pk)
    if request.method == "POST":
        try:
            rotation_cancel(rotation=rotation, actor=request.user, source_ip=client_ip(request))
        except RotationError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Cancelled the rotation scheduled for "
                                      f"{format_dual(rotation.starts_at)}. Nothing changed.")
        return redirect(_detail_url(credential))
    if rotation.state != RotationState.SCHEDULED:
        messages.error(request, "This rotation is no longer scheduled, so it cannot be cancelled.")
        return redirect(_detail_url(credential))
    return render(request, "credentials/rotation_cancel.html", {
        "organization": organization, "credential": credential,
        "rotation": rotation, "noun": credential.kind_spec.secret_noun,
    })


@login_required
@reauthentication_required
def rotation_retry_view(request: HttpRequest, org_slug: str, pk: UUID,
                        rotation_pk: UUID) -> HttpResponse:
    """Confirms, then runs a failed rotation again with the material it kept."""
    organization, credential, rotation = _get_rotation(request, org_slug, pk, rotation_pk)
    if rotation.state != RotationState.FAILED:
        messages.error(request, "Only a failed rotation can be retried.")
        return redirect(_detail_url(credential))
    if request.method == "POST":
        try:
            result = rotation_retry(rotation=rotation, actor=request.user,
                                    source_ip=client_ip(request))
        except RotationError as exc:
            messages.error(request, str(exc))
        else:
            if result.state == RotationState.COMPLETED:
                messages.success(request, "The rotation completed on this retry.")
            else:
                messages.error(request, f"The rotation failed again: {result.failure_reason}")
        return redirect(_detail_url(credential, "history"))
    return render(request, "credentials/rotation_retry.html", {
        "organization": organization, "credential": credential,
        "rotation": rotation, "noun": credential.kind_spec.secret_noun,
    })


# --- Connections -------------------------------------------------------------------------


@login_required
def connection_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    connections = selectors.organization_connections(request.user, organization)
    page = Paginator(connections, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "credentials/connection_list.html", {
        "organization": organization, "page": page,
        "can_create": bool(families_managed_by(request.user, organization)),
    })


def _connection_form_credentials(request: HttpRequest, organization: Organization) -> Any:
    return selectors.organization_credentials(request.user, organization).select_related(
        "business_unit").order_by("name")


def _needs_confirmation(form: ConnectionForm, original: dict[str, Any] | None) -> list[str]:
    """What a saved connection change would break, to confirm before saving."""
    if original is None:
        return []
    warnings = []
    new_credential = form.cleaned_data.get("credential")
    if original["credential"] is not None and original["credential"] != new_credential:
        warnings.append(
            f"“{form.instance.name}” stops using “{original['credential'].name}”"
            + (f" and uses “{new_credential.name}” instead." if new_credential else ".")
        )
    if original["is_active"] and not form.cleaned_data.get("is_active"):
        warnings.append(f"“{form.instance.name}” will be inactive.")
    return warnings


@login_required
def connection_edit(request: HttpRequest, org_slug: str, pk: UUID | None = None) -> HttpResponse:
    organization = get_organization(request, org_slug)
    original = None
    if pk is not None:
        organization, connection = _get_connection(request, org_slug, pk)
        original = {"credential": connection.credential, "is_active": connection.is_active}
    else:
        if not families_managed_by(request.user, organization):
            raise PermissionDenied
        connection = Connection()
    initial = {}
    if pk is None:
        credential_id = request.GET.get("credential")
        credential = selectors.organization_credentials(request.user, organization).filter(
            pk=credential_id).select_related("business_unit").first() if _is_uuid(
            credential_id) else None
        if credential is not None:
            initial = {"credential": credential, "business_unit": credential.business_unit,
                       "kind": connection_kinds_for(credential.family)[0]}
    form = ConnectionForm(request.POST or None, instance=connection, initial=initial,
                          organization=organization,
                          credentials=_connection_form_credentials(request, organization))
    warnings: list[str] = []
    if request.method == "POST" and form.is_valid():
        require_org_perm(request, organization, _connection_perm(form.instance.kind))
        warnings = _needs_confirmation(form, original)
        if not warnings or "confirmed" in request.POST:
            try:
                connection_save(connection=form.instance, actor=request.user,
                                source_ip=client_ip(request))
            except CredentialError as exc:
                _add_service_error([form], exc)
                warnings = []
            else:
                messages.success(request, f"Saved “{form.instance.name}”.")
                return redirect("connection_list", org_slug=organization.slug)
    return render(request, "credentials/connection_form.html", {
        "organization": organization, "form": form, "connection": connection if pk else None,
        "warnings": warnings,
        "sections": [render_to_string(section.template_name, section.context)
                     for section in (make(connection, request.user)
                                     for make in CONNECTION_SECTIONS) if section] if pk else [],
    })


def _is_uuid(value: str | None) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


@login_required
def connection_detach(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    organization, connection = _get_connection(request, org_slug, pk)
    credential = connection.credential
    if credential is None:
        messages.info(request, f"“{connection.name}” uses no credential.")
        return redirect("connection_list", org_slug=organization.slug)
    require_org_perm(request, organization, credential.manage_perm)
    if request.method == "POST":
        connection.credential = None
        connection_save(connection=connection, actor=request.user, source_ip=client_ip(request))
        messages.success(request, f"Detached “{credential.name}” from “{connection.name}”.")
        return redirect(_detail_url(credential, "usage"))
    return render(request, "credentials/connection_detach.html", {
        "organization": organization, "connection": connection, "credential": credential,
    })


@login_required
def credential_attach(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    """Attach this credential to one of the organization's connections; replacing the
    credential a connection uses now asks for confirmation first."""
    organization, credential = _get_credential(request, org_slug, pk, "manage")
    form = AttachForm(request.POST or None,
                      connections=selectors.attachable_connections(credential, request.user))
    warning = ""
    if request.method == "POST" and form.is_valid():
        connection = form.cleaned_data["connection"]
        require_org_perm(request, organization, _connection_perm(connection.kind))
        if connection.credential is not None and "confirmed" not in request.POST:
            warning = (f"“{connection.name}” stops using “{connection.credential.name}” and "
                       f"uses “{credential.name}” instead.")
        else:
            connection.credential = credential
            try:
                connection_save(connection=connection, actor=request.user,
                                source_ip=client_ip(request))
            except CredentialError as exc:
                _add_service_error([form], exc)
            else:
                messages.success(request, f"“{connection.name}” now uses “{credential.name}”.")
                return redirect(_detail_url(credential, "usage"))
    return render(request, "credentials/credential_attach.html", {
        "organization": organization, "credential": credential,
        "usage": credential.kind_spec.family_info, "form": form, "warning": warning,
    })

