"""Helpers for the browser tests: signing in through the form, and a POST from the signed-in
session."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD


def sign_in(page: Page, username: str, *, landing: str = r"/o/acme/$") -> None:
    """Through the login form, as a person would."""
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(landing))


def post_with_csrf(page: Page, url: str) -> object:
    """A POST from the signed-in browser session with a valid CSRF token, so that a 403 is
    the permission check and not the CSRF check."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(url, headers={"X-CSRFToken": token, "Referer": page.url})
