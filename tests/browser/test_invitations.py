"""Invitations in a real browser, the email through a real SMTP server on loopback: an owner
invites two addresses (one with an account in another organization, one unknown) and sees the
same answer; the unknown one signs up from the emailed link, the known one signs in and
accepts; a second use of a link is refused."""

from __future__ import annotations

import email
import email.policy
import re
import socket
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect

from organizations.models import Membership
from organizations.roles import Role
from tests.browser.helpers import sign_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"

    def link_for(self, address: str) -> str:
        message = next(m for m in self.messages if m["To"] == address)
        body = message.get_body(preferencelist=("plain",)).get_content()
        return re.search(r"(https?://\S+/invitations/[^/\s]+/)", body).group(1)


@pytest.fixture
def smtp(settings, live_server):
    inbox = Inbox()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.SITE_URL = live_server.url
    yield inbox
    controller.stop()


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
    assert all(m.get_body(preferencelist=("html",)) is not None for m in smtp.messages)
    assert unknown.count("Invitation sent to") == known.count("Invitation sent to") == 1

    # A new address: a user name and a password on the accept page.
    dana_link = smtp.link_for("dana@partner.example")
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
    # The link works once.
    visitor.goto(dana_link)
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Invitation no longer valid")
    visitor.context.close()

    # An account elsewhere: sign in from the accept page, then accept.
    charlie_page = context.browser.new_context(base_url=live_server.url).new_page()
    charlie_page.goto(smtp.link_for("charlie@example.com"))
    charlie_page.get_by_role("link", name="Sign in to accept the invitation").click()
    charlie_page.get_by_label("User name").fill("charlie")
    charlie_page.get_by_label("Password").fill(PASSWORD)
    charlie_page.get_by_role("button", name="Sign in").click()
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
