"""The pages of "who still uses what" (credentials.usage): the Details tab's "Use of each
version" with the Cut-over panel (a DETAIL_SECTIONS entry), and the CSV export of the
cut-over state for security reviews."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from audit.services import audit_record
from audit.times import iso_utc
from organizations.access import client_ip, get_organization, require_org_perm
from organizations.roles import Perm

from . import selectors, usage
from .hooks import DetailSection
from .models import Credential, CredentialVersion

CSV_COLUMNS = ["credential", "credential_id", "unit", "state", "old_version", "old_state",
               "old_first_use_utc", "old_last_use_utc", "old_uses", "old_uses_24h",
               "old_sources", "new_version", "new_state", "new_first_use_utc",
               "new_last_use_utc", "new_uses", "new_sources"]


# --- Stopping a version that is still in use ------------------------------------------------

ACK_FIELD = "acknowledge_in_use"
ACK_LABEL = "I know the partner still uses it: stop it anyway"


@dataclass(frozen=True)
class StopCheck:
    """What a confirmation step says before versions stop: those used in the last 24 hours,
    and whether the acknowledgement (the ACK_FIELD checkbox) was given."""

    in_use: list[tuple[CredentialVersion, usage.RecentUse]]
    acknowledged: bool
    error: str = ""
    field: str = ACK_FIELD
    label: str = ACK_LABEL

    @property
    def allows(self) -> bool:
        return not self.in_use or self.acknowledged


def stop_check(request: HttpRequest, versions: list[CredentialVersion],
               submitted: bool | None = None) -> StopCheck:
    """The acknowledgement a confirmation asks before `versions` stop. When the step is
    `submitted` (by default: a POST) without it, `error` names the field."""
    now = timezone.now()
    in_use = usage.versions_stopping_in_use(versions, now) if versions else []
    submitted = request.method == "POST" if submitted is None else submitted
    acknowledged = request.POST.get(ACK_FIELD) in ("on", "1", "true")
    error = ""
    if in_use and submitted and not acknowledged:
        error = (f"Tick “{ACK_LABEL}” ({ACK_FIELD}): a version that stops was used in the "
                 f"last 24 hours. Nothing was changed.")
    return StopCheck(in_use=in_use, acknowledged=acknowledged, error=error)


def usage_section(credential: Credential, user: Any) -> DetailSection:
    """Every member sees how the versions are used, like the rest of the status page."""
    now = timezone.now()
    rows, cutover = usage.credential_usage(credential, now)
    return DetailSection("credentials/_usage_section.html", {
        "rows": rows, "cutover": cutover, "noun": credential.kind_spec.secret_noun,
        "now": now,
    })


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    """Text a spreadsheet shows as text (no formula injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _side(version: Any, use: Any, recent: usage.RecentUse | None = None,
          with_recent: bool = False) -> list[object]:
    cells: list[object] = [version.number or "new", version.state,
                           iso_utc(use.first_used_at) if use else "",
                           iso_utc(use.last_used_at) if use else "", use.count if use else 0]
    if with_recent:
        cells.append(recent.count if recent else 0)
    cells.append(" ".join(entry["address"] for entry in use.sources) if use else "")
    return cells


@never_cache
@login_required
def cutover_export(request: HttpRequest, org_slug: str) -> StreamingHttpResponse:
    """The overlaps in progress and where each partner is, as CSV: for "View audit trail",
    and itself audited."""
    organization = get_organization(request, org_slug)
    require_org_perm(request, organization, Perm.VIEW_AUDIT)
    now = timezone.now()
    found = usage.cutovers(selectors.organization_credentials(request.user, organization), now)
    with transaction.atomic():
        audit_record(action="usage.export", actor=request.user, organization=organization,
                     source_ip=client_ip(request), details={"overlaps": len(found)})
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for cutover in found:
            yield writer.writerow([_cell(value) for value in (
                cutover.credential.name, cutover.credential.pk,
                cutover.credential.business_unit.name, cutover.state,
                *_side(cutover.old, cutover.old_use, cutover.old_recent, with_recent=True),
                *_side(cutover.new, cutover.new_use),
            )])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="keyturn-cutover-{organization.slug}-'
        f'{now.strftime("%Y%m%d-%H%M")}.csv"')
    return response
