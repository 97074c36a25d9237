"""Shared fixtures: alice the owner, bob the manager, rita the reviewer and vic the viewer of
Acme; charlie the owner of Globex, another organization; an API key in use (carrier_api); a
real SMTP server on loopback; every log record (captured_logs); and for the browser tests of
every app, one Debian chromium per module driven by Playwright, with a fresh context (its own
cookies) per test against pytest-django's live server."""

import logging
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from django.core.cache import cache
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from credentials.models import Credential, Kind
from organizations.roles import Role
from tests.factories import make_connection, make_credential, make_org, make_user
from tests.helpers import Inbox, LogCollector, free_port, record_sign_in


@pytest.fixture(autouse=True)
def _empty_cache():
    """Sign-in rate limits live in the cache: each test starts with none counted."""
    cache.clear()


@pytest.fixture(autouse=True)
def _force_login_signs_in_as_the_form_does(monkeypatch):
    """A client signed in with `force_login` holds what signing in through the form leaves:
    a fresh proof of identity, so that sensitive acts need no re-authentication until it is
    KEYTURN_REAUTHENTICATION_MINUTES old (tests/accounts moves time past it)."""
    force_login = Client.force_login

    def signed_in(self, user, backend=None):
        force_login(self, user, backend)
        record_sign_in(self, user)

    monkeypatch.setattr(Client, "force_login", signed_in)


@pytest.fixture
def acme(db):
    return make_org("acme", units=("warehouse", "finance"))


@pytest.fixture
def globex(db):
    return make_org("globex", units=("operations",))


@pytest.fixture
def unit(acme):
    return acme.business_units.get(slug="warehouse")


@pytest.fixture
def root(db):
    """A superuser (the Django admin's), member of no organization."""
    user = make_user("root")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def alice(acme):
    return make_user("alice", acme, Role.OWNER)


@pytest.fixture
def bob(acme):
    return make_user("bob", acme, Role.MANAGER)


@pytest.fixture
def rita(acme):
    return make_user("rita", acme, Role.REVIEWER)


@pytest.fixture
def vic(acme):
    return make_user("vic", acme, Role.VIEWER)


@pytest.fixture
def charlie(globex):
    return make_user("charlie", globex, Role.OWNER)


@pytest.fixture
def carrier_api(unit, alice) -> Credential:
    """An API key made in the portal, with a connection: what Change Credential and managed
    imports replace."""
    credential = make_credential(unit, Kind.API_KEY, name="Carrier API", actor=alice,
                                 client_id="carrier-client", key_id="carrier-key-1")
    make_connection(credential, alice)
    return credential


@pytest.fixture
def captured_logs() -> Iterator[LogCollector]:
    """Every log record at DEBUG and above, formatted with its traceback, like caplog.text."""
    collector = LogCollector()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
        root.setLevel(previous)


@pytest.fixture
def smtp_server(settings) -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on loopback, which Django's SMTP backend sends to."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _postgres_only(request):
    """Tests marked `postgres` run in the PostgreSQL pass of .ci/run and skip elsewhere."""
    if request.node.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL: `DATABASE_URL=postgres://... make test-postgres`")


# Debian's chromium in a container: no sandbox, no GPU, no traffic of its own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    # The copy button writes to the clipboard; the test reads it back.
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
