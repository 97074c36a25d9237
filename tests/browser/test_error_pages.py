"""400, 403, 404, 500 and an expired form, seen in a real browser: the portal's header, who
is signed in, a way back to their organization, a plain explanation, the same security
headers as every page, and nothing that tells whether an object exists elsewhere."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, Response, expect

from credentials.models import Kind
from tests.browser.helpers import sign_in
from tests.factories import make_credential

pytestmark = pytest.mark.browser

SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def assert_portal_error_page(page: Page, response: Response | None, *, status: int,
                             title: str, signed_in: str | None, back_to: str) -> None:
    assert response is not None
    assert response.status == status
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    expect(page.locator("#branding")).to_have_text("Keyturn")
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"error {status}")
    expect(page.get_by_role("navigation", name="Breadcrumbs")).to_contain_text(title)
    if signed_in:
        expect(page.locator("#footer")).to_contain_text(f"Signed in as {signed_in}")
    link = page.locator(".error-page").get_by_role("link", name=re.compile(back_to))
    expect(link).to_be_visible()
    link.click()
    expect(page.get_by_role("heading", level=1)).not_to_contain_text("error")


def test_it_shows_a_missing_page_in_the_portal_and_leads_back_to_the_overview(
        page, alice, acme):
    sign_in(page, "alice")
    response = page.goto(f"/o/acme/credentials/{uuid.uuid4()}/")
    assert_portal_error_page(page, response, status=404, title="Page not found",
                             signed_in="alice", back_to="Back to the Acme overview")
    expect(page).to_have_url(re.compile(r"/o/acme/$"))


def test_it_answers_another_organizations_object_exactly_as_a_missing_one(
        page, alice, acme, globex, charlie):
    theirs = make_credential(globex.business_units.get(), Kind.SFTP_PASSWORD, actor=charlie)
    sign_in(page, "alice")
    page.goto(f"/o/acme/credentials/{theirs.pk}/")
    existing = page.locator("#content").inner_text()
    page.goto(f"/o/acme/credentials/{uuid.uuid4()}/")
    assert page.locator("#content").inner_text() == existing
    # Their organization itself is no different from one that does not exist.
    response = page.goto("/o/globex/")
    assert_portal_error_page(page, response, status=404, title="Page not found",
                             signed_in="alice", back_to="Back to your organization")
    expect(page).to_have_url(re.compile(r"/o/acme/$"))
    page.goto("/o/no-such-organization/")
    globex_text = page.locator("#content").inner_text()
    page.goto("/o/globex/")
    assert page.locator("#content").inner_text() == globex_text


def test_it_shows_a_refusal_in_the_portal(page, vic, acme):
    sign_in(page, "vic")
    response = page.goto("/o/acme/members/")
    assert_portal_error_page(page, response, status=403, title="Not allowed",
                             signed_in="vic", back_to="Back to the Acme overview")


def test_it_shows_a_bad_request_in_the_portal(page, alice, acme):
    sign_in(page, "alice")
    # More query parameters than Django reads (DATA_UPLOAD_MAX_NUMBER_FIELDS) is a 400.
    response = page.goto("/o/acme/credentials/?" + "&".join(["q=x"] * 1200))
    assert_portal_error_page(page, response, status=400, title="Bad request",
                             signed_in="alice", back_to="Back to the Acme overview")


def test_it_shows_a_failure_in_the_portal(page, alice, acme, settings):
    settings.ROOT_URLCONF = "tests.browser.error_urls"
    sign_in(page, "alice")
    response = page.goto("/failing-page/")
    assert_portal_error_page(page, response, status=500, title="Something went wrong",
                             signed_in="alice", back_to="Back to your organization")
    assert "RuntimeError" not in page.content()
    assert "a bug in a view" not in page.content()


def test_it_shows_an_expired_form_in_the_portal(page, alice, acme):
    sign_in(page, "alice")
    page.goto("/o/acme/members/")
    # The token the form carries no longer matches the session's, as after signing in again
    # in another tab.
    page.locator("form:has(#id_email) input[name=csrfmiddlewaretoken]").evaluate(
        "input => input.value = 'x'.repeat(64)")
    page.get_by_label("Email").fill("new.person@example.com")
    with page.expect_response(re.compile(r"/o/acme/members/$")) as answer:
        page.locator("form:has(#id_email)").get_by_role("button").click()
    assert_portal_error_page(page, answer.value, status=403, title="Form expired",
                             signed_in="alice", back_to="Back to your organization")


def test_it_serves_a_favicon(page, live_server):
    page.goto("/accounts/login/")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    answer = page.request.get(icon)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in answer.body()
    legacy = page.request.get("/favicon.ico")
    assert legacy.status == 200
    assert legacy.url.endswith(icon)
