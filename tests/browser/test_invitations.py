"""Invitations in a real browser, the email through a real SMTP server on loopback: an owner
invites two addresses (one with an account in another organization, one unknown) and sees the
same answer; the unknown one signs up from the emailed link, the known one signs in and
accepts; a second use of a link is refused."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from organizations.models import Membership
from organizations.roles import Role
from tests.browser.helpers import sign_in
from tests.factories import PASSWORD
from tests.helpers import Inbox

pytestmark = pytest.mark.browser


@pytest.fixture
def smtp(smtp_server, settings, live_server):
    settings.SITE_URL = live_server.url
    return smtp_server


def _link_for(inbox: Inbox, address: str) -> str:
    message = next(m for _, m in inbox.messages if m["To"] == address)
    body = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"(https?://\S+/invitations/[^/\s]+/)", body).group(1)


def _invite(page: Page, address: str, role: str) -> str:
    page.goto("/o/acme/members/")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Role", exact=True).select_option(label=role)
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".messagelist")).to_have_text(f"Invitation sent to {address}.")
    return page.locator("#content").inner_text()


def test_it_invites_by_email_and_each_invitee_joins_from_the_link(page, context, smtp, alice,
                                                                  charlie, live_server):
    sign_in(page, "alice")
    known = _invite(page, "charlie@example.com", "Security reviewer")
    unknown = _invite(page, "dana@partner.example", "Credential manager")
    assert "charlie" not in known.replace("charlie@example.com", "")
    invitations = page.locator("#invitations")
    expect(invitations).to_contain_text("charlie@example.com")
    expect(invitations).to_contain_text("dana@partner.example")
    assert len(smtp.messages) == 2
    assert all(m.get_body(preferencelist=("html",)) is not None for _, m in smtp.messages)
    assert unknown.count("Invitation sent to") == known.count("Invitation sent to") == 1

    # A new address: a user name and a password on the accept page.
    dana_link = _link_for(smtp, "dana@partner.example")
    assert urlsplit(dana_link).netloc == urlsplit(live_server.url).netloc
    visitor = context.browser.new_context(base_url=live_server.url).new_page()
    visitor.goto(dana_link)
    expect(visitor).to_have_url(re.compile(r"/invitations/accept/$"))  # the token has left the URL
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Join Acme")
    visitor.get_by_label("User name").fill("dana")
    visitor.get_by_label("Password", exact=True).fill("a-fresh-passphrase-42")
    visitor.get_by_label("Password confirmation").fill("a-fresh-passphrase-42")
    visitor.get_by_role("button", name="Create account and accept").click()
    expect(visitor).to_have_url(re.compile(r"/o/acme/$"))
    expect(visitor.locator(".messagelist")).to_contain_text("Welcome to Acme")
    assert Membership.objects.get(user__username="dana").role == Role.MANAGER
    # The link works once; opened again, it leads to the organization.
    visitor.goto(dana_link)
    expect(visitor.get_by_role("heading", level=1)).to_have_text("This invitation was accepted")
    visitor.get_by_role("link", name="Open Acme").click()
    expect(visitor).to_have_url(re.compile(r"/o/acme/$"))
    visitor.context.close()

    # An account elsewhere: sign in from the accept page, then accept.
    charlie_page = context.browser.new_context(base_url=live_server.url).new_page()
    charlie_page.goto(_link_for(smtp, "charlie@example.com"))
    charlie_page.get_by_role("link", name="Sign in to accept the invitation").click()
    charlie_page.get_by_label("User name").fill("charlie")
    charlie_page.get_by_label("Password").fill(PASSWORD)
    charlie_page.get_by_role("button", name="Sign in", exact=True).click()
    expect(charlie_page).to_have_url(re.compile(r"/invitations/accept/$"))
    charlie_page.get_by_role("button", name="Accept invitation").click()
    expect(charlie_page).to_have_url(re.compile(r"/o/acme/$"))
    assert Membership.objects.get(user=charlie, organization__slug="acme").role == Role.REVIEWER
    charlie_page.context.close()

    # The owner sees both as members and no invitation left.
    page.goto("/o/acme/members/")
    expect(page.locator("#members")).to_contain_text("dana@partner.example")
    expect(page.locator("#members")).to_contain_text("charlie@example.com")
    expect(page.locator("#invitations")).to_contain_text("No pending invitations.")
