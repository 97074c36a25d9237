"""The Change Credential wizard and the managed import pages look like the rest of the portal
at 1024 and 1280 px: breadcrumbs from the organization, labels without colons and in line
(also next to an error), previews that fit the window, times with their zone, and no server
paths. Measured in Debian's chromium."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from imports import services
from imports.models import ImportSource
from organizations.access import SYSTEM
from tests.browser.helpers import sign_in
from tests.browser.layout import (
    WIDTHS,
    box,
    crumbs,
    line_counts,
    overflow,
    page_overflow,
    set_width,
    within_window,
)
from tests.credentials.helpers import ec_pem, rsa_pem
from tests.imports.helpers import PAYLOAD_PASSWORD, api_key_content, seal

pytestmark = pytest.mark.browser

LONG_NAME = "Carrier API for the northern warehouses and the partner integration of 2027"


def _labels_in_line(page: Page) -> None:
    """Every label of the form starts at the same x, left of its field, on the field's line."""
    rows = page.locator("fieldset .form-row")
    lefts = set()
    for i in range(rows.count()):
        label, field = rows.nth(i).locator("> label"), rows.nth(i).locator("> .field")
        assert not label.inner_text().strip().endswith(":"), label.inner_text()
        label_box, field_box = box(label), box(field)
        lefts.add(round(label_box["x"]))
        assert label_box["x"] + label_box["width"] <= field_box["x"]
        assert abs(label_box["y"] - field_box["y"]) < 8, (label.inner_text(), label_box, field_box)
    assert len(lefts) == 1, lefts


@pytest.mark.parametrize("width", WIDTHS)
def test_the_change_credential_wizard_reads_like_the_portal(page, bob, carrier_api, width):
    set_width(page, width)
    sign_in(page, "bob")
    page.goto(f"/o/acme/credentials/{carrier_api.pk}/change/")
    expected = "Acme › Business Units › Warehouse › API Credentials › Carrier API"
    assert crumbs(page) == expected + " › Change Credential"
    current = page.locator("dl.current")
    expect(current).to_contain_text("ECDSA 256-bit")  # the key made in the portal is recorded
    expect(current).not_to_contain_text("not recorded")
    assert re.search(r"Valid until\s+\d{1,2} \w{3} \d{4} \d{2}:\d{2} UTC", current.inner_text())
    _labels_in_line(page)

    # A PEM error sits in the field's column; the label stays in line with the others.
    page.get_by_label("PEM private key").fill("-----BEGIN PRIVATE KEY-----\nnot a key\n"
                                              "-----END PRIVATE KEY-----\n")
    page.get_by_role("button", name="Review the change").click()
    expect(page.locator(".form-row.errors")).to_contain_text("could not be read")
    _labels_in_line(page)
    assert page_overflow(page) == 0

    page.get_by_label("Credential name").fill(LONG_NAME)
    page.get_by_label("PEM private key").fill(rsa_pem())
    page.get_by_role("button", name="Review the change").click()
    assert crumbs(page) == expected + " › Change Credential › Review"
    preview = page.locator("table.preview")
    expect(preview).to_contain_text("RSA 2048-bit")
    # The preview fits: no sideways scrolling, its last column inside the window.
    assert page_overflow(page) == 0
    assert overflow(preview) == 0
    assert within_window(page, preview.locator("td.new"))
    assert max(line_counts(preview.locator("td"))) <= 3


def _pending(organization, data: bytes, name: str):
    return services.pending_import_receive(organization=organization, data=data,
                                           file_name=name, source=ImportSource.DROP_FOLDER,
                                           actor=SYSTEM)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_import_pages_read_like_the_portal(page, bob, acme, carrier_api, width):
    name = "carrier-api-from-the-managed-environment-2026-11-29T10-15-00.json"
    pending = _pending(acme, seal(api_key_content(ec_pem())), name)
    set_width(page, width)
    sign_in(page, "bob")
    page.goto("/o/acme/imports/")
    assert crumbs(page) == "Acme › Managed imports"
    assert str(settings.KEYTURN_IMPORT_DROP_DIR) not in page.content()
    table = page.locator("table.pending-imports")
    assert page_overflow(page) == 0 and overflow(table) == 0
    assert within_window(page, table.get_by_role("button", name="Discard"))
    assert max(line_counts(table.locator("tbody td:not(:last-child)"))) <= 3
    assert re.fullmatch(r"\d{1,2} \w{3} \d{4} \d{2}:\d{2} UTC",
                        table.locator("tbody td").nth(1).inner_text())
    _labels_in_line(page)

    table.get_by_role("link", name="Update Existing Credential").click()
    assert crumbs(page) == f"Acme › Managed imports › {name} › Update Existing Credential"
    page.get_by_label("Carrier API").check()
    page.get_by_role("button", name="Next: password").click()
    page.get_by_label("Payload password").fill("not the password")
    page.get_by_role("button", name="Decrypt and preview").click()
    expect(page.locator(".form-row.errors")).to_contain_text("password is wrong")
    _labels_in_line(page)
    page.get_by_label("Payload password").fill(PAYLOAD_PASSWORD)
    page.get_by_role("button", name="Decrypt and preview").click()
    preview = page.locator("table.preview")
    expect(preview).to_contain_text("carrier-key-2")
    assert page_overflow(page) == 0 and overflow(preview) == 0
    assert within_window(page, preview.locator("td.new"))

    page.goto(f"/o/acme/imports/{pending.pk}/password/?action=add")
    page.get_by_label("Payload password").fill(PAYLOAD_PASSWORD)
    page.get_by_role("button", name="Decrypt and preview").click()
    assert crumbs(page) == f"Acme › Managed imports › {name} › Add as new credential"
    expect(page.locator("table.preview thead")).to_have_text(re.compile(r"\s*The new credential"))
    _labels_in_line(page)
    assert page_overflow(page) == 0


def test_the_sftp_endpoint_breadcrumbs_start_at_the_organization(page, bob, acme):
    sign_in(page, "bob")
    page.goto("/o/acme/sftp/")
    assert crumbs(page) == "Acme › SFTP endpoint"
    page.goto("/o/acme/sftp/warehouse/")
    assert crumbs(page) == "Acme › SFTP endpoint › Warehouse"
