"""The audit log page and its CSV export, for users with "View audit trail"."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from organizations.access import get_organization, require_org_perm
from organizations.models import Organization, User
from organizations.roles import Perm

from .display import detail_rows, export_details, target_kind
from .forms import SYSTEM, AuditFilterForm
from .models import AuditEvent
from .selectors import AuditFilters, audit_actions, audit_events
from .times import iso_utc

PER_PAGE = 100
CSV_COLUMNS = ["at_utc", "actor", "action", "target_type", "target_id", "target", "source_ip",
               "details"]


def _filtered(request: HttpRequest, org_slug: str) -> tuple[Organization, AuditFilterForm,
                                                             object]:
    organization = get_organization(request, org_slug)
    require_org_perm(request, organization, Perm.VIEW_AUDIT)
    members = list(User.objects.filter(memberships__organization=organization)
                   .order_by("username"))
    form = AuditFilterForm(request.GET or None, members=members,
                           actions=audit_actions(organization))
    filters = AuditFilters()
    if form.is_bound and form.is_valid():
        since, until = form.bounds()
        actor = form.cleaned_data["actor"]
        filters = AuditFilters(
            actor=form.members.get(actor), system_actor=actor == SYSTEM,
            action=form.cleaned_data["action"], credential=form.cleaned_data["credential"].strip(),
            since=since, until=until,
        )
    elif form.is_bound:
        # A malformed filter shows nothing rather than everything.
        return organization, form, AuditEvent.objects.none()
    return organization, form, audit_events(organization=organization, filters=filters)


@login_required
def audit_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization, form, events = _filtered(request, org_slug)
    page = Paginator(events, PER_PAGE).get_page(request.GET.get("page"))
    rows = [(event, target_kind(event.target_type), detail_rows(event.details))
            for event in page.object_list]
    return render(request, "audit/audit_list.html", {
        "organization": organization, "form": form, "page": page, "rows": rows,
        "export_query": request.GET.urlencode(),
    })


def _safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: no formula injection from labels or details."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value: str) -> str:
        return value


@never_cache
@login_required
def audit_export(request: HttpRequest, org_slug: str) -> StreamingHttpResponse:
    organization, _form, events = _filtered(request, org_slug)
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for event in events.iterator(chunk_size=1000):
            yield writer.writerow([_safe_cell(v) for v in (
                iso_utc(event.at), event.actor_label, event.action,
                event.target_type, event.target_id, event.target_label, event.source_ip,
                json.dumps(export_details(event.details), sort_keys=True),
            )])

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="keyturn-audit-{organization.slug}-{stamp}.csv"'
    )
    return response
