"""The partner's hand-off in a real browser, without an account: an owner sends a key from the
Manage menu, the email arrives at a real SMTP server on loopback, a link scanner fetches the
link (GET and HEAD) without spending it, the partner presses Show, copies and downloads the
key, and a second visit says it was already used, when and from where. Then an expired link,
a link revoked from the credential's page, and five wrong passphrases that lock a link."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from credentials.models import Kind
from credentials.services import version_secret
from handoffs.models import Handoff
from tests.browser.helpers import sign_in
from tests.factories import make_credential
from tests.handoffs.helpers import PASSPHRASE, link_in, link_path, make_handoff

pytestmark = pytest.mark.browser


@pytest.fixture
def smtp(smtp_server, settings, live_server):
    settings.SITE_URL = live_server.url
    return smtp_server


def _partner(browser: Browser, live_server) -> Page:
    """A browser of someone with no account here: its own context, no cookies."""
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    context.set_default_timeout(10_000)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    return context.new_page()


def test_a_partner_without_an_account_gets_the_key_once(page, browser, live_server, smtp,
                                                         alice, unit, tmp_path):
    key = make_credential(unit, Kind.SFTP_KEY, name="Carrier key", actor=alice,
                          expires_in=timedelta(days=60))
    secret = version_secret(key.versions.get())

    sign_in(page, "alice")
    page.goto(f"/o/acme/credentials/{key.pk}/")
    page.get_by_text("Manage", exact=True).click()
    page.get_by_role("list", name="Manage Carrier key").get_by_role(
        "link", name="Send to partner").click()
    page.get_by_label("Recipient's name").fill("Pat Partner")
    page.get_by_label("Recipient's email address").fill("pat@carrier.example")
    page.get_by_label("The link works for").select_option(label="24 hours")
    page.get_by_role("button", name="Send the link").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "Sent a one-time link to Pat Partner <pat@carrier.example>")
    expect(page.locator("#handoffs")).to_contain_text("Open until")

    [(recipients, message)] = smtp.messages
    assert recipients == ["pat@carrier.example"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    link = link_in(body)
    for text in (message["Subject"], body, html):
        assert all(line not in text for line in secret.splitlines()[1:-1])

    # A link scanner and a mail preview fetch it first: nothing is spent.
    scanner = page.context.browser.new_context()
    for answer in (scanner.request.get(link), scanner.request.head(link)):
        assert answer.status == 200
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert secret.splitlines()[1] not in scanner.request.get(link).text()
    scanner.close()
    assert Handoff.objects.get().shown_at is None

    partner = _partner(browser, live_server)
    partner.goto(link)
    expect(partner.get_by_role("heading", level=1)).to_have_text("Acme sent you a private key")
    expect(partner.locator("#content")).to_contain_text("alice")
    assert secret.splitlines()[1] not in partner.content()
    partner.get_by_role("button", name="Show the private key").click()
    expect(partner.locator("#secret-value")).to_have_text(secret.strip())

    partner.get_by_role("button", name="Copy to clipboard").click()
    expect(partner.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert partner.evaluate("navigator.clipboard.readText()").strip() == secret.strip()
    with partner.expect_download() as download:
        partner.get_by_role("button", name="Download Carrier-key.pem").click()
    saved = tmp_path / "key.pem"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "Carrier-key.pem"
    assert Path(saved).read_text().strip() == secret.strip()

    # The second visit: already used, when and from where, and whom to tell.
    partner.goto(link)
    expect(partner.get_by_role("heading", level=1)).to_have_text("This link was already used")
    reason = partner.locator("#closed-reason")
    expect(reason).to_contain_text("127.0.0.1")
    expect(reason).to_contain_text("alice@example.com")
    assert secret.splitlines()[1] not in partner.content()
    assert partner.context.cookies() == []  # no account, no session, no cookie
    partner.context.close()

    page.reload()
    expect(page.locator("#handoffs")).to_contain_text(re.compile(r"Shown .+from 127\.0\.0\.1"))


def test_expired_revoked_and_locked_links_show_nothing(page, browser, live_server, alice,
                                                       unit):
    drop = make_credential(unit, Kind.SFTP_PASSWORD, name="Acme drop", actor=alice,
                           expires_in=timedelta(days=60))
    secret = version_secret(drop.versions.get())
    _, expired = make_handoff(drop, alice, lifetime=timedelta(hours=1),
                              now=timezone.now() - timedelta(hours=2))
    _, revoked_token = make_handoff(drop, alice, name="Rex Carrier",
                                    email="rex@carrier.example")
    _, guarded = make_handoff(drop, alice, passphrase=PASSPHRASE)
    partner = _partner(browser, live_server)

    partner.goto(link_path(expired))
    expect(partner.get_by_role("heading", level=1)).to_have_text("This link has expired")

    # Revoked from the credential's page, by its owner.
    partner.goto(link_path(revoked_token))
    expect(partner.get_by_role("button", name="Show the password")).to_be_visible()
    sign_in(page, "alice")
    page.goto(f"/o/acme/credentials/{drop.pk}/")
    row = page.locator("#handoff-list tr", has_text="rex@carrier.example")
    row.get_by_role("link", name="Revoke").click()
    page.get_by_role("button", name="Yes, revoke the link").click()
    expect(page.locator(".messagelist")).to_contain_text("Revoked the link to Rex")
    partner.get_by_role("button", name="Show the password").click()  # the page was open
    expect(partner.get_by_role("heading", level=1)).to_have_text("This link was revoked")

    # Five wrong passphrases lock it for good.
    partner.goto(link_path(guarded))
    for left in ("4 more tries", "3 more tries", "2 more tries", "1 more try"):
        partner.get_by_label("Passphrase").fill("not-the-passphrase")
        partner.get_by_role("button", name="Show the password").click()
        expect(partner.locator("#passphrase-error")).to_contain_text(left)
    partner.get_by_label("Passphrase").fill("still-not-the-passphrase")
    partner.get_by_role("button", name="Show the password").click()
    expect(partner.get_by_role("heading", level=1)).to_have_text("This link is locked")
    partner.goto(link_path(guarded))
    expect(partner.get_by_role("heading", level=1)).to_have_text("This link is locked")
    expect(partner.get_by_label("Passphrase")).to_have_count(0)
    assert secret not in partner.content()
    assert not Handoff.objects.filter(shown_at__isnull=False).exists()
    partner.context.close()
