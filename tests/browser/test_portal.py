"""The portal in a real browser, signed in through the login form as each role: navigate by
breadcrumbs, reveal and copy a secret, see it in the audit log, the Manage menu, the
rotation banner, the AS2 Profile Usage tab and the Expiring Soon filter."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from credentials.models import Kind
from credentials.rotation.requests import rotation_schedule
from credentials.services import version_secret
from tests.browser.helpers import post_with_csrf, sign_in
from tests.factories import make_connection, make_credential, material_for

pytestmark = pytest.mark.browser


@pytest.fixture
def acme_data(unit, acme, alice):
    """What the tests look at: a password in use, one expiring soon with a scheduled
    rotation, and a certificate attached to an AS2 profile."""
    finance = acme.business_units.get(slug="finance")
    drop = make_credential(unit, name="Acme drop", actor=alice, expires_in=timedelta(days=90))
    make_connection(drop, alice)
    soon = make_credential(unit, name="Carrier upload", actor=alice,
                           expires_in=timedelta(days=6))
    rotation_schedule(credential=soon, starts_at=timezone.now() + timedelta(days=3),
                      actor=alice, material=material_for(Kind.SFTP_PASSWORD))
    certificate = make_credential(finance, Kind.AS2_CERTIFICATE, name="EDI signing",
                                  actor=alice)
    make_connection(certificate, alice, partner_as2_id="RETAILER-AS2")
    return {"drop": drop, "soon": soon, "certificate": certificate}


def _open_by_breadcrumbs(page: Page, unit: str, family: str, name: str) -> None:
    """Organization > Business Units > unit > family > credential, by clicking."""
    page.locator("#nav-sidebar").get_by_role("link", name="Business Units").click()
    page.locator("#units").get_by_role("link", name=unit).click()
    page.get_by_role("list", name="Kinds of credential").get_by_role("link", name=family).click()
    page.locator("#result_list").get_by_role("link", name=name).click()
    crumbs = page.get_by_role("navigation", name="Breadcrumbs")
    expect(crumbs).to_have_text(re.compile(
        rf"Acme\s*›\s*Business Units\s*›\s*{unit}\s*›\s*{family}\s*›\s*{name}"))


def test_it_lets_an_owner_reveal_and_copy_a_secret_and_see_it_in_the_audit_log(
        page, alice, acme_data):
    secret = version_secret(acme_data["drop"].versions.get())
    sign_in(page, "alice")
    _open_by_breadcrumbs(page, "Warehouse", "SFTP Credentials", "Acme drop")
    assert secret not in page.content()
    # Up one level by the breadcrumb and back down.
    page.get_by_role("navigation", name="Breadcrumbs").get_by_role(
        "link", name="SFTP Credentials").click()
    page.locator("#result_list").get_by_role("link", name="Acme drop").click()

    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#secret-value")).to_have_text(secret)
    page.get_by_role("button", name="Copy to clipboard").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    page.locator("#nav-sidebar").get_by_role("link", name="Audit log").click()
    first = page.locator("#audit-events tbody tr").first
    expect(first).to_contain_text("secret.reveal")
    expect(first).to_contain_text("alice")
    expect(first).to_contain_text("Acme drop")
    assert secret not in page.content()


@pytest.mark.parametrize("username", ["vic", "rita"])
def test_it_gives_viewers_and_reviewers_no_reveal_and_answers_403(
        page, vic, rita, acme_data, username):
    sign_in(page, username)
    _open_by_breadcrumbs(page, "Warehouse", "SFTP Credentials", "Acme drop")
    expect(page.locator(".secret-mask")).to_be_visible()
    expect(page.get_by_role("button", name="Reveal")).to_have_count(0)
    expect(page.locator(".manage-menu")).to_have_count(0)
    response = post_with_csrf(page, page.url + "reveal/")
    assert response.status == 403
    assert "CSRF" not in response.text()

    # The list filtered by Expiring Soon, by its link in the side navigation.
    page.locator("#nav-sidebar").get_by_role("link", name="Expiring Soon").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Carrier upload")
    expect(rows.first.locator(".badge-expiring_soon")).to_be_visible()
    assert "status=expiring_soon" in page.url
    # ... which shows the banner of its scheduled rotation.
    rows.first.get_by_role("link", name="Carrier upload").click()
    expect(page.locator("#rotation-banner")).to_contain_text("Rotation scheduled")
    expect(page.locator("#rotation-banner")).to_contain_text("UTC")


def test_it_shows_the_as2_profile_usage_tab_of_a_certificate(page, rita, acme_data):
    sign_in(page, "rita")
    _open_by_breadcrumbs(page, "Finance", "AS2 Certificates", "EDI signing")
    page.get_by_role("link", name=re.compile("AS2 Profile Usage")).click()
    usage = page.locator("#usage")
    expect(usage).to_contain_text("RETAILER-AS2")
    expect(usage).to_contain_text("Active")
    expect(page.get_by_role("link", name=re.compile("Connection Usage"))).to_have_count(0)


def test_it_lets_a_manager_schedule_a_rotation_from_the_manage_menu_and_cancel_it(
        page, bob, acme_data):
    sign_in(page, "bob")
    _open_by_breadcrumbs(page, "Warehouse", "SFTP Credentials", "Acme drop")
    expect(page.locator("#rotation-banner")).to_have_count(0)
    menu = page.locator("details.manage-menu")
    page.get_by_text("Manage", exact=True).click()
    items = menu.get_by_role("link")
    expect(items).to_have_text(["Rotate Credential", "Edit", "Deactivate", "Send to partner"])
    page.keyboard.press("Escape")
    expect(items.first).to_be_hidden()
    page.get_by_text("Manage", exact=True).click()
    menu.get_by_role("link", name="Rotate Credential").click()

    starts_at = timezone.localtime(timezone.now() + timedelta(days=2)).replace(
        hour=9, minute=0, second=0, microsecond=0)
    page.get_by_role("radio", name="Scheduled", exact=True).check()
    page.get_by_label("Start", exact=True).fill(starts_at.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Continue").click()
    when = f"{starts_at.day} {starts_at:%b %Y} 09:00 UTC"
    expect(page.locator("#consequences")).to_contain_text(
        f"The current password stops working at {when}")
    page.get_by_role("button", name="Schedule the rotation").click()

    banner = page.locator("#rotation-banner")
    expect(banner).to_contain_text(f"Rotation scheduled for {when}")
    expect(page.locator(".messagelist")).to_contain_text("Rotation scheduled for")
    page.get_by_text("Manage", exact=True).click()
    expect(menu.get_by_role("link")).to_have_text(
        ["Cancel Scheduled Rotation", "Edit", "Deactivate", "Send to partner"])
    menu.get_by_role("link", name="Cancel Scheduled Rotation").click()
    page.get_by_role("button", name="Yes, cancel the rotation").click()
    expect(page.locator(".messagelist")).to_contain_text("Nothing changed.")
    expect(banner).to_have_count(0)
