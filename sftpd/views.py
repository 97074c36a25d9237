"""Pages of the built-in SFTP endpoint (transfer logs, host key) and the connection test."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from credentials.models import Connection, ConnectionKind
from organizations.access import client_ip, get_organization, require_org_perm
from organizations.roles import Perm

from . import selectors
from .client import connection_test
from .forms import ConnectionTestForm

TRANSFERS_PER_PAGE = 50
FAILED_LOGINS_SHOWN = 20


def _endpoint_facts() -> dict[str, object]:
    return {
        "sftp_host": settings.KEYTURN_SFTP_PUBLIC_HOST or settings.KEYTURN_SFTP_HOST,
        "sftp_port": settings.KEYTURN_SFTP_PORT,
        "host_key": selectors.current_host_key(),
    }


@login_required
def endpoint(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    since = timezone.now() - timedelta(days=1)
    return render(request, "sftpd/endpoint.html", {
        "organization": organization,
        "units": selectors.units_with_transfers(organization, since),
        **_endpoint_facts(),
    })


@login_required
def unit_transfers(request: HttpRequest, org_slug: str, unit_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    unit = get_object_or_404(organization.business_units, slug=unit_slug)
    now = timezone.now()
    page = Paginator(selectors.transfers_for_unit(unit), TRANSFERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    failed = selectors.failed_logins_for_unit(unit, now - timedelta(days=1))
    can_audit = request.user.has_org_perm(organization, Perm.VIEW_AUDIT)
    return render(request, "sftpd/unit.html", {
        "organization": organization,
        "unit": unit,
        "page": page,
        "versions": selectors.inbound_versions_for_unit(unit, now),
        "failed_count": failed.count(),
        # Addresses and user names of failed logins are for those who may read the audit.
        "failed_logins": failed[:FAILED_LOGINS_SHOWN] if can_audit else None,
        **_endpoint_facts(),
    })


def _get_outbound_connection(request: HttpRequest, org_slug: str, pk: object) -> Connection:
    organization = get_organization(request, org_slug)
    connection = get_object_or_404(
        Connection.objects.select_related("credential", "business_unit__organization"),
        pk=pk, business_unit__organization=organization, kind=ConnectionKind.OUTBOUND_SFTP,
    )
    perm = connection.credential.manage_perm if connection.credential else Perm.MANAGE_SFTP
    require_org_perm(request, organization, perm)
    return connection


@login_required
@require_http_methods(["GET", "POST"])
def connection_test_page(request: HttpRequest, org_slug: str, pk: object) -> HttpResponse:
    """GET: what will be tested, and a button. POST: runs the test and shows its result;
    an unknown host key comes with a form to confirm and pin it."""
    connection = _get_outbound_connection(request, org_slug, pk)
    # A bare POST (the "Test connection" button) is a bound, valid form.
    form = ConnectionTestForm(request.POST if request.method == "POST" else None)
    result = None
    if request.method == "POST" and form.is_valid():
        result = connection_test(
            connection=connection, actor=request.user, source_ip=client_ip(request),
            trust_new_host_key=form.cleaned_data["pin_host_key"],
            confirmed_fingerprint=form.cleaned_data["fingerprint"] or None,
        )
    return render(request, "sftpd/connection_test.html", {
        "organization": connection.business_unit.organization,
        "connection": connection,
        "form": form,
        "result": result,
    })
