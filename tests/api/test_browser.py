"""API keys in a real browser: an owner creates one (shown once), uses it, and revokes it
after confirming."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from api.models import ApiKey
from tests.browser.helpers import sign_in

pytestmark = pytest.mark.browser


def test_it_lets_an_owner_create_see_once_and_revoke_an_api_key(page, live_server, alice):
    sign_in(page, "alice")
    page.goto("/o/acme/api-keys/")
    expect(page.get_by_role("navigation", name="Breadcrumbs")).to_have_text(
        re.compile(r"Acme\s*›\s*API keys"))
    page.get_by_label("Name").fill("ERP nightly sync")
    page.get_by_role("button", name="Create API key").click()
    key = page.get_by_label("API key").input_value()
    assert re.fullmatch(r"kt_[0-9a-f]{12}_[A-Za-z0-9_-]+", key)
    expect(page.get_by_text("shown only this once")).to_be_visible()

    api = page.request.get(f"{live_server.url}/api/v1/headless/sftp/credentials/",
                           headers={"X-Keyturn-Key": key})
    assert api.status == 200

    page.get_by_role("link", name="Done").click()
    row = page.get_by_role("row", name=re.compile("ERP nightly sync"))
    expect(row).to_contain_text(ApiKey.objects.get().display_prefix)
    assert key not in page.content()
    row.get_by_role("link", name="Revoke…").click()
    page.get_by_role("button", name="Yes, revoke it").click()
    expect(page.get_by_text("is revoked")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("ERP nightly sync"))).to_contain_text(
        "Revoked")
    refused = page.request.get(f"{live_server.url}/api/v1/headless/sftp/credentials/",
                               headers={"X-Keyturn-Key": key})
    assert refused.status == 401
