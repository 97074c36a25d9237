"""An import through the banner, in a real browser (Debian's chromium driven by
Playwright)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from credentials.services import current_version, version_secret
from tests.browser.helpers import sign_in
from tests.credentials.helpers import ec_pem, key_fingerprint
from tests.imports.helpers import PAYLOAD_PASSWORD, api_key_content, seal

pytestmark = pytest.mark.browser


def test_it_updates_a_credential_from_an_import_through_the_banner(page, bob, carrier_api,
                                                                   tmp_path):
    key = ec_pem()
    fingerprint = key_fingerprint(key)
    payload_file = tmp_path / "carrier-2027.json"
    payload_file.write_bytes(seal(api_key_content(key)))
    sign_in(page, "bob")

    page.goto("/o/acme/imports/")
    page.get_by_label("Payload file").set_input_files(str(payload_file))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".messagelist li.success")).to_contain_text("carrier-2027.json")

    page.goto("/o/acme/")
    banner = page.locator(".pending-imports-banner")
    expect(banner).to_contain_text("1 managed credential import waiting")
    banner.get_by_role("link").click()
    row = page.locator("table.pending-imports tr", has_text="carrier-2027.json")
    row.get_by_role("link", name="Update Existing Credential").click()
    page.get_by_label("Carrier API").check()
    page.get_by_role("button", name="Next: password").click()

    page.get_by_label("Payload password").fill("not the password at all")
    page.get_by_role("button", name="Decrypt and preview").click()
    expect(page.locator(".errorlist")).to_contain_text("password is wrong")
    page.get_by_label("Payload password").fill(PAYLOAD_PASSWORD)
    page.get_by_role("button", name="Decrypt and preview").click()

    preview = page.locator("table.preview")
    expect(preview).to_contain_text(fingerprint)
    expect(preview).to_contain_text("carrier-key-1")
    expect(preview).to_contain_text("carrier-key-2")
    assert key.splitlines()[1] not in page.content()
    page.get_by_role("button", name="Migrate Credential").click()

    message = page.locator(".messagelist li.success")
    expect(message).to_contain_text("version 2 is current")
    expect(message).to_contain_text(fingerprint)
    expect(page.locator("table.handled-imports")).to_contain_text("Applied")
    page.goto(f"/o/acme/credentials/{carrier_api.pk}/change/")
    expect(page.locator("dl.current")).to_contain_text("carrier-key-2")
    assert version_secret(current_version(carrier_api)) == key.strip() + "\n"
