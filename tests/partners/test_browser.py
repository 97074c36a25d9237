"""In a real browser: a manager adds a partner contact on a connection's page, and the partner
stops the emails from the link in one, without an account."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from credentials.models import Kind
from notifications.optout import partner_opt_out_url
from partners.models import PartnerContact
from tests.browser.helpers import sign_in
from tests.factories import make_connection, make_credential
from tests.partners.helpers import make_contact

pytestmark = pytest.mark.browser


def test_a_manager_adds_a_contact_on_a_connections_page(page: Page, unit, alice, bob):
    connection = make_connection(make_credential(unit, Kind.SFTP_PASSWORD, actor=alice),
                                 alice)
    sign_in(page, "bob")
    page.goto(reverse("connection_edit", args=["acme", connection.pk]))
    section = page.locator("#partner-contacts")
    expect(section).to_contain_text("No partner contacts yet.")
    section.get_by_role("link", name="Add partner contact").click()
    page.get_by_label("Name").fill("Dana Weber")
    page.get_by_label("Email address").fill("dana@partner.example")
    page.get_by_label("Time zone (optional)").fill("Europe/Berlin")
    page.get_by_role("button", name="Add contact").click()
    expect(page.locator(".messagelist, .messages").first).to_contain_text(
        "Added Dana Weber <dana@partner.example>")
    row = page.locator("#partner-contact-list tbody tr").first
    expect(row).to_contain_text("dana@partner.example")
    expect(row).to_contain_text("Europe/Berlin")
    expect(row).to_contain_text("Receives")
    assert PartnerContact.objects.get().connection == connection


def test_a_partner_opts_out_from_the_link_without_an_account(browser: Browser, live_server,
                                                             settings, unit, alice):
    settings.SITE_URL = live_server.url
    connection = make_connection(make_credential(unit, Kind.SFTP_PASSWORD, actor=alice),
                                 alice)
    contact = make_contact(connection, alice)
    partner = browser.new_context(base_url=live_server.url).new_page()
    partner.goto(partner_opt_out_url(contact))
    expect(partner.get_by_role("heading", level=1)).to_have_text("Stop these emails?")
    partner.get_by_role("button", name="Stop these emails").click()
    expect(partner.get_by_role("heading", level=1)).to_have_text(
        "You will get no more of these emails")
    contact.refresh_from_db()
    assert contact.opted_out_at is not None
    partner.context.close()
