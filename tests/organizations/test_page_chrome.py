"""The header's organization switcher and the sidebar, rendered once per process for what they
show (organizations.templatetags.page_chrome): a renamed organization or a changed role shows
at the very next page, and no user or organization is ever shown another's."""

from __future__ import annotations

import re

import pytest
from django.templatetags.static import static
from django.test import Client
from django.urls import clear_script_prefix, set_script_prefix

from members.services import membership_set_role
from organizations.access import SYSTEM
from organizations.roles import Role

pytestmark = pytest.mark.django_db


def _sidebar(client: Client, slug: str = "acme") -> str:
    html = client.get(f"/o/{slug}/").content.decode()
    return re.search(r'<nav id="nav-sidebar".*?</nav>', html, re.S).group(0)


def _switcher(client: Client, slug: str = "acme") -> str:
    html = client.get(f"/o/{slug}/").content.decode()
    return re.search(r'<details class="menu org-switcher".*?</details>', html, re.S).group(0)


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_each_role_sees_its_own_links_whoever_asked_first(alice, bob, rita, vic):
    pages = {user.username: _sidebar(_signed_in(user)) for user in (alice, vic, bob, rita)}
    for name, html in pages.items():
        assert html.count('href="/o/acme/credentials/') == 6, name
        assert ("/o/acme/members/" in html) == (name == "alice"), name
        assert ("/o/acme/api-keys/" in html) == (name == "alice"), name
        assert ("/o/acme/audit/" in html) == (name in ("alice", "bob", "rita")), name
        assert ("/o/acme/imports/" in html) == (name in ("alice", "bob")), name
    assert _sidebar(_signed_in(vic)) == pages["vic"]  # asked again: the same, from the memo


def test_a_changed_role_changes_the_links_at_the_next_page(acme, alice, vic):
    client = _signed_in(vic)
    assert "/o/acme/audit/" not in _sidebar(client)
    membership_set_role(organization=acme, user=vic, role=Role.REVIEWER, actor=SYSTEM)
    assert "/o/acme/audit/" in _sidebar(client)
    membership_set_role(organization=acme, user=vic, role=Role.VIEWER, actor=SYSTEM)
    assert "/o/acme/audit/" not in _sidebar(client)
    assert "/o/acme/members/" in _sidebar(_signed_in(alice))


def test_a_renamed_organization_shows_its_new_name_at_once(acme, alice):
    client = _signed_in(alice)
    assert "<caption>Acme</caption>" in _sidebar(client)
    acme.name = "Acme & <Sons>"
    acme.save()
    assert "<caption>Acme &amp; &lt;Sons&gt;</caption>" in _sidebar(client)
    assert ">Acme &amp; &lt;Sons&gt;</summary>" in _switcher(client)


def test_the_switcher_lists_the_users_own_organizations_the_current_one_marked(
        acme, globex, alice, charlie):
    membership_set_role(organization=globex, user=alice, role=Role.VIEWER, actor=SYSTEM)
    client = _signed_in(alice)
    on_acme, on_globex = _switcher(client, "acme"), _switcher(client, "globex")
    assert re.findall(r'href="(/o/\w+/)"( aria-current="true")?', on_acme) == [
        ("/o/acme/", ' aria-current="true"'), ("/o/globex/", "")]
    assert re.findall(r'href="(/o/\w+/)"( aria-current="true")?', on_globex) == [
        ("/o/acme/", ""), ("/o/globex/", ' aria-current="true"')]
    # Charlie, in Globex only, is offered Globex only, though Alice's menu was made first.
    assert re.findall(r'href="(/o/\w+/)"', _switcher(_signed_in(charlie), "globex")) == [
        "/o/globex/"]


def test_the_links_follow_the_script_prefix_the_site_is_served_under(alice):
    client = _signed_in(alice)
    assert 'href="/o/acme/units/"' in _sidebar(client)
    set_script_prefix("/portal/")
    try:
        html = client.get("/o/acme/").content.decode()
    finally:
        clear_script_prefix()
    assert 'href="/portal/o/acme/units/"' in html
    assert 'href="/portal/o/acme/"' in html  # the switcher
    assert 'action="/portal/accounts/logout/"' in html and 'href="/portal/"' in html
    assert f'href="{static("keyturn/keyturn.css")}"' in html  # as Django's own tag writes it
    assert 'href="/o/acme/units/"' in _sidebar(client)
    assert f'href="{static("keyturn/keyturn.css")}"' in client.get("/o/acme/").content.decode()
