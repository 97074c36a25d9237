"""Lists read well from 1024 px up: the credential list keeps every column in the window
(no scroll box hiding Expires and Status), names take at most two lines and dates one; the
overview's tables keep dates and IP addresses on one line. Measured in Debian's chromium."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from credentials.models import Kind
from credentials.rotation.requests import rotation_schedule
from credentials.services import secret_reveal
from tests.browser.helpers import sign_in
from tests.factories import make_connection, make_credential, material_for

from .layout import WIDTHS, crumbs, line_counts, lines, overflow, page_overflow, set_width
from .layout import within_window as in_window

pytestmark = pytest.mark.browser

NAMES = [  # names of the lengths people give them
    ("Bank statements (spare)", Kind.SFTP_PASSWORD, 200),
    ("Carrier outbound key", Kind.SFTP_KEY, 9),
    ("EDI signing 2027", Kind.AS2_CERTIFICATE, None),
    ("Warranty API key", Kind.API_KEY, 120),
    ("Billing API", Kind.API_CLIENT_SECRET, 20),
    ("Legacy upload", Kind.SFTP_PASSWORD, -3),
]


@pytest.fixture
def acme_lists(acme, unit, alice):
    finance = acme.business_units.get(slug="finance")
    made = {}
    for i, (name, kind, days) in enumerate(NAMES):
        expires, now = (timedelta(days=days) if days is not None else None), None
        if days is not None and days < 0:  # made ten days ago, expired since
            expires, now = timedelta(days=10 + days), timezone.now() - timedelta(days=10)
        made[name] = make_credential(finance if i % 2 else unit, kind, name=name, actor=alice,
                                     expires_in=expires, now=now)
    make_connection(made["Carrier outbound key"], alice)
    rotation_schedule(credential=made["Carrier outbound key"],
                      starts_at=timezone.now() + timedelta(days=3), actor=alice,
                      material=material_for(Kind.SFTP_KEY))
    for name in ("Bank statements (spare)", "Warranty API key"):
        with transaction.atomic():
            secret_reveal(credential=made[name], actor=alice, source_ip="127.0.0.1")
    return made


@pytest.mark.parametrize("width", WIDTHS)
def test_the_credential_list_keeps_every_column_in_view(page, alice, acme_lists, width):
    set_width(page, width)
    sign_in(page, "alice")
    page.goto("/o/acme/credentials/")
    assert crumbs(page) == "Acme › Credentials"
    table = page.locator("#result_list")
    assert page_overflow(page) == 0
    assert overflow(page.locator(".results")) == 0  # no scroll box hiding columns
    assert in_window(page, table.locator("thead th"))
    headers = table.locator("thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers][-2:] == ["expires", "status"]
    rows = table.locator("tbody tr")
    assert rows.count() == len(NAMES)
    assert in_window(page, rows.locator("td:last-child"))
    assert max(line_counts(rows.locator("th a"))) <= 2  # names
    expires = rows.locator("td:nth-last-child(2)")
    assert line_counts(expires) == [1] * len(NAMES)  # "27 Feb 2027 23:54 UTC" on one line
    assert all(text.endswith(("UTC", "Never")) for text in expires.all_inner_texts())


@pytest.mark.parametrize("width", WIDTHS)
def test_the_overview_keeps_dates_and_addresses_on_one_line(page, alice, acme_lists, width):
    set_width(page, width)
    sign_in(page, "alice")
    assert page_overflow(page) == 0
    for table in ("#expiring", "#expired", "#scheduled", "#recent-reveals", "#recent-changes"):
        assert overflow(page.locator(table)) == 0, table
        assert in_window(page, page.locator(f"{table} thead th"))
    expiring = page.locator("#expiring tbody td:nth-child(3)")  # the date, then "in 9 days"
    assert expiring.count() == 2 and line_counts(expiring) == [2, 2]
    assert line_counts(page.locator("#expired tbody td:nth-child(3)")) == [1]
    assert line_counts(page.locator("#scheduled tbody td:nth-child(2)")) == [1]
    addresses = page.locator("#recent-reveals tbody td:last-child")
    assert addresses.all_inner_texts() == ["127.0.0.1", "127.0.0.1"]
    assert line_counts(addresses) == [1, 1]
    assert line_counts(page.locator("#recent-reveals tbody td:first-child")) == [1, 1]
    assert all(lines(cell) == 1 for cell in
               page.locator("#recent-changes tbody td:first-child").all())


@pytest.mark.parametrize("width", WIDTHS)
def test_the_audit_log_keeps_its_columns_in_view(page, alice, acme_lists, width):
    set_width(page, width)
    sign_in(page, "alice")
    page.goto("/o/acme/audit/")
    table = page.locator("#audit-events")
    assert page_overflow(page) == 0 and overflow(page.locator(".results")) == 0
    assert in_window(page, table.locator("tbody td:last-child"))
    assert set(line_counts(table.locator("tbody td:first-child"))) == {1}
    # A reveal: who, from where on one line, and its details labelled.
    reveal = table.locator("tbody tr", has_text="secret.reveal").first
    assert lines(reveal.locator("td.who .quiet")) == 1
    assert reveal.locator("dl.event-details dt").all_inner_texts()[:2] == ["Version", "State"]
