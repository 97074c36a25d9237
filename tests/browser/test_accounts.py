"""Accounts in a real browser: an authenticator app set up and used to sign in (codes
computed here), a security key through Chromium's virtual authenticator, single sign-on
against a real OpenID Connect provider on loopback, re-authentication before Reveal, a reset
email through a real SMTP server, and an organization's rule steering a member to set up a
second factor."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.utils import timezone
from oidc_provider_mock import User as IdentityProviderUser
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from credentials.services import version_secret
from tests.accounts.helpers import give_totp, totp_code
from tests.browser.helpers import sign_in
from tests.factories import PASSWORD, make_credential

pytestmark = pytest.mark.browser

STALE = timedelta(minutes=settings.KEYTURN_REAUTHENTICATION_MINUTES + 1)


@pytest.fixture
def clock(time_machine):
    """The server's clock (the live server runs in this process); it keeps ticking."""
    time_machine.move_to(timezone.now(), tick=True)
    return time_machine


def _code(clock, key: str) -> str:  # noqa: ANN001 - the time_machine fixture
    """The authenticator app's code, with at least 10 s before it changes: allauth accepts the
    current 30-s period's code only, and the browser's round trip must not carry it into the
    next one."""
    left = 30 - time.time() % 30
    if left < 10:
        clock.shift(left + 1)
    return totp_code(key)


def _sign_out(page: Page) -> None:
    page.locator("#user-tools").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_it_sets_up_an_authenticator_app_and_signs_in_with_its_codes(page, alice, clock):
    sign_in(page, "alice")
    page.goto("/accounts/profile/")
    page.locator("#factors").get_by_role("link", name="Set up").click()
    key = page.locator("#totp-key").input_value()
    expect(page.get_by_role("img", name="QR code of the key below")).to_be_visible()
    page.get_by_label("Authenticator code").fill(_code(clock, key))
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("#recovery_codes")).to_be_visible()  # made with the first factor
    page.goto("/accounts/profile/")
    expect(page.locator("#factors")).to_contain_text("Authenticator app (TOTP)")
    assert key not in page.content()
    _sign_out(page)
    clock.shift(31)  # a code works once: the next sign-in uses the next one
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    code = _code(clock, key)
    page.get_by_label("Code").fill("123456" if code != "123456" else "654321")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator(".errornote, .errorlist").first).to_be_visible()
    page.get_by_label("Code").fill(_code(clock, key))
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/o/acme/$"))


def test_it_adds_a_security_key_and_signs_in_with_it(page, context, alice, settings):
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True  # http://localhost, as `make run`
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    sign_in(page, "alice")
    page.goto("/accounts/profile/")
    page.get_by_role("link", name="Add a security key or passkey").click()
    page.get_by_label("Name").fill("Desk key")
    page.get_by_role("button", name="Add").click()
    expect(page).not_to_have_url(re.compile(r"/webauthn/add/"))
    page.goto("/accounts/profile/")
    expect(page.locator("#factors")).to_contain_text("Security key or passkey “Desk key”")
    assert Authenticator.objects.filter(user=alice, type="webauthn").count() == 1
    _sign_out(page)
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    page.get_by_role("button", name="Use a security key or passkey").click()
    expect(page).to_have_url(re.compile(r"/o/acme/$"))


def test_it_asks_for_the_password_before_reveal_and_then_shows_the_secret(
        page, alice, unit, clock):
    credential = make_credential(unit, name="Acme drop", actor=alice)
    secret = version_secret(credential.versions.get())
    sign_in(page, "alice")
    clock.shift(STALE)
    page.goto(f"/o/acme/credentials/{credential.pk}/")
    page.get_by_role("button", name="Reveal").click()
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/\?next="))
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#secret-value")).to_have_text(secret)
    event = AuditEvent.objects.get(action="secret.reveal")
    assert event.details["reauthenticated_with"] == "password"


def test_it_resets_a_forgotten_password_by_email(page, alice, smtp_server, live_server,
                                                 settings):
    settings.SITE_URL = live_server.url
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_role("button", name="Reset My Password").click()
    expect(page).to_have_url(re.compile(r"/accounts/password/reset/done/$"))
    (recipients, message), = smtp_server.messages
    assert recipients == ["alice@example.com"]
    link = re.search(r"(http://\S+/accounts/password/reset/key/\S+)",
                     message.get_body(("plain",)).get_content()).group(1)
    page.goto(link)
    page.get_by_label("New Password", exact=True).fill("a-brand-new-passphrase-2026")
    page.get_by_label("New Password (again)").fill("a-brand-new-passphrase-2026")
    page.get_by_role("button", name="Change Password").click()
    expect(page.get_by_role("heading", name=re.compile("Password", re.I)).first).to_be_visible()
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("a-brand-new-passphrase-2026")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/o/acme/$"))


def test_it_steers_a_member_to_set_up_a_second_factor_when_the_organization_requires_one(
        page, alice, bob, acme, clock):
    give_totp(alice)
    acme.require_second_factor = True
    acme.save()
    sign_in(page, "bob", landing=r"/accounts/profile/")
    expect(page.locator(".messagelist")).to_contain_text("Acme requires a second factor")
    page.goto("/o/acme/credentials/")
    expect(page).to_have_url(re.compile(r"/accounts/profile/"))
    page.locator("#factors").get_by_role("link", name="Set up").click()
    key = page.locator("#totp-key").input_value()
    page.get_by_label("Authenticator code").fill(_code(clock, key))
    page.get_by_role("button", name="Activate").click()
    page.goto("/o/acme/credentials/")
    expect(page).to_have_url(re.compile(r"/o/acme/credentials/$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()


# --- Single sign-on against a real OpenID Connect provider on loopback --------------------


@pytest.fixture
def identity_provider(settings) -> Iterator[str]:
    users = [IdentityProviderUser(sub="alice-at-idp", claims={
                 "email": "alice@example.com", "email_verified": True}),
             IdentityProviderUser(sub="stranger", claims={
                 "email": "stranger@example.com", "email_verified": True})]
    with run_server_in_thread(user_claims=users) as server:
        issuer = f"http://localhost:{server.server_port}"
        settings.KEYTURN_OIDC_ISSUER = issuer
        settings.KEYTURN_OIDC_NAME = "Test IdP"
        settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [{"provider_id": "sso", "name": "Test IdP", "client_id": "keyturn",
                      "secret": "keyturn-secret",
                      "settings": {"server_url": issuer, "fetch_userinfo": True,
                                   "scope": ["openid", "email", "profile"]}}]}}
        yield issuer


def _sso(page: Page, subject: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Sign in with Test IdP").click()
    expect(page).to_have_url(re.compile(r"http://localhost:\d+/oauth2/authorize"))
    page.get_by_role("button", name=subject, exact=True).click()


def test_it_signs_in_with_single_sign_on_by_verified_email_and_re_authenticates_there(
        page, alice, unit, identity_provider, clock):
    credential = make_credential(unit, name="Acme drop", actor=alice)
    secret = version_secret(credential.versions.get())
    _sso(page, "alice-at-idp")
    expect(page).to_have_url(re.compile(r"/o/acme/$"))
    assert AuditEvent.objects.filter(action="user.sso_link", actor=alice).exists()
    # Later, Reveal asks for a fresh round trip to the provider (no password for this session).
    clock.shift(STALE)
    page.goto(f"/o/acme/credentials/{credential.pk}/")
    page.get_by_role("button", name="Reveal").click()
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/sso/"))
    page.get_by_role("button", name="Sign in again with Test IdP").click()
    page.get_by_role("button", name="alice-at-idp", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/o/acme/credentials/{credential.pk}/$"))
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#secret-value")).to_have_text(secret)
    event = AuditEvent.objects.get(action="secret.reveal")
    assert event.details["reauthenticated_with"].startswith("single sign-on")


def test_it_lets_nobody_in_by_single_sign_on_without_a_keyturn_account(
        page, alice, identity_provider):
    _sso(page, "stranger")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.locator(".messagelist")).to_contain_text("No Keyturn account has the verified")
    page.goto("/o/acme/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_it_adds_a_passkey_and_signs_in_with_it_alone(page, context, alice, settings):
    """A passkey set up for passwordless use signs in by itself: no user name, no password
    (it holds both factors: the device, and its PIN or biometric)."""
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True  # http://localhost, as `make run`
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    sign_in(page, "alice")
    page.goto("/accounts/profile/")
    page.get_by_role("link", name="Add a security key or passkey").click()
    page.get_by_label("Name").fill("Laptop passkey")
    page.get_by_label(re.compile("passwordless", re.I)).check()
    page.get_by_role("button", name="Add").click()
    expect(page).not_to_have_url(re.compile(r"/webauthn/add/"))
    passkey = Authenticator.objects.get(user=alice, type="webauthn")
    assert passkey.wrap().is_passwordless
    _sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(re.compile(r"/o/acme/$"))
    expect(page.locator("#footer")).to_contain_text("Signed in as alice")
