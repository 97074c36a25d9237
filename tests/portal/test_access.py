"""Who may open and do what: every role on every page, another organization's objects answer
404 whatever the role (existence before permission), a missing permission answers 403, CSRF on
every form, security headers on every page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api.services import api_key_create
from audit.models import AuditEvent
from credentials.models import ConnectionKind, Credential, Kind, Rotation, RotationState
from credentials.rotation.requests import rotation_schedule
from imports.models import ImportSource
from imports.services import pending_import_receive
from members.services import invitation_create
from organizations.models import Membership
from partners.models import PartnerContact
from tests.credentials.helpers import ec_pem
from tests.factories import make_connection, make_credential, material_for
from tests.handoffs.helpers import make_handoff
from tests.imports.helpers import api_key_content, seal
from tests.partners.helpers import make_contact
from tests.portal.helpers import credential_pages, organization_pages

OK, FORBIDDEN, NOT_FOUND = 200, 403, 404


@pytest.fixture
def world(unit, alice, bob, rita, vic, charlie, globex):
    credential = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice, name="Acme drop")
    make_contact(make_connection(credential, alice), alice)
    rotation_schedule(credential=credential, starts_at=timezone.now() + timedelta(days=3),
                      material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    theirs = make_credential(globex.business_units.get(), actor=charlie, name="Globex drop")
    make_handoff(credential, alice)
    return {"credential": credential, "theirs": theirs,
            "users": {"alice": alice, "bob": bob, "rita": rita, "vic": vic, "charlie": charlie}}


def _urls(credential: Credential) -> dict[str, list[str]]:
    """Pages grouped by who may open them."""
    org = "acme"
    pages = credential_pages(credential)
    managing = [p for p in pages if "?" not in p and not p.endswith(f"{credential.pk}/")
                and "/units/" not in p]
    everybody = [p for p in pages if p not in managing] + [
        reverse("organization_overview", args=[org]),
        reverse("unit_list", args=[org]),
        reverse("unit_detail", args=[org, "warehouse"]),
        reverse("credential_list", args=[org]),
        reverse("connection_list", args=[org]),
        reverse("credential_list", args=[org]) + "?usage=old_in_use",
    ]
    managing += [reverse("credential_new", args=[org]), reverse("connection_create", args=[org]),
                 *(reverse("credential_create", args=[org, kind]) for kind in Kind.values)]
    auditors = [reverse("audit_list", args=[org]), reverse("audit_export", args=[org]),
                reverse("cutover_export", args=[org])]
    owners = [reverse("member_list", args=[org])]
    return {"everybody": everybody, "managing": managing, "auditors": auditors,
            "owners": owners}


EXPECTED = {
    #          everybody  managing   auditors   owners
    "alice": (OK, OK, OK, OK),
    "bob": (OK, OK, OK, FORBIDDEN),
    "rita": (OK, FORBIDDEN, OK, FORBIDDEN),
    "vic": (OK, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    "charlie": (NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
}


@pytest.mark.parametrize("username", list(EXPECTED))
def test_it_answers_each_role_on_every_page_as_its_permissions_say(client, world, username):
    client.force_login(world["users"][username])
    groups = _urls(world["credential"])
    answers = {}
    for group, expected in zip(("everybody", "managing", "auditors", "owners"),
                               EXPECTED[username], strict=True):
        for url in groups[group]:
            answers[url] = (client.get(url).status_code, expected)
    wrong = {url: got for url, got in answers.items() if got[0] != got[1]}
    assert not wrong, wrong


def test_it_answers_404_for_another_organizations_credential_under_ones_own_slug(client, world):
    client.force_login(world["users"]["charlie"])
    acme_credential = world["credential"]
    for url in credential_pages(acme_credential):
        assert client.get(url.replace("/o/acme/", "/o/globex/")).status_code == NOT_FOUND, url
    reveal = reverse("credential_reveal", args=["globex", acme_credential.pk])
    assert client.post(reveal).status_code == NOT_FOUND
    # ... and his own credential is there for him.
    assert client.get(reverse("credential_detail",
                              args=["globex", world["theirs"].pk])).status_code == OK


@pytest.fixture
def globex_urls(world, charlie, globex) -> list[tuple[str, str]]:
    """(method, URL) of every page about one of Globex's objects, under Globex's slug and
    under Acme's (the slug of the organization the Acme users belong to)."""
    now = timezone.now()
    theirs = world["theirs"]
    make_connection(theirs, charlie)
    rotation = rotation_schedule(credential=theirs, starts_at=now + timedelta(days=3),
                                 material=material_for(Kind.SFTP_PASSWORD), actor=charlie)
    outbound = make_connection(theirs, charlie, kind=ConnectionKind.OUTBOUND_SFTP,
                               hostname="sftp.globex.example", port=22)
    their_api_key = make_credential(globex.business_units.get(), Kind.API_KEY, actor=charlie)
    api_key, _ = api_key_create(organization=globex, name="Globex sync", actor=charlie, now=now)
    pending = pending_import_receive(organization=globex, data=seal(api_key_content(ec_pem())),
                                     file_name="globex.json", source=ImportSource.UPLOAD,
                                     actor=charlie)
    membership = Membership.objects.get(user=charlie)
    invitation, _ = invitation_create(organization=globex, email="dana@partner.example",
                                      role="viewer", actor=charlie, now=now)
    their_handoff, _ = make_handoff(theirs, charlie)
    their_contact = make_contact(outbound, charlie)
    their_client = make_credential(globex.business_units.get(), Kind.API_CLIENT_SECRET,
                                   actor=charlie)
    their_client_contact = make_contact(their_client, charlie)
    g = "globex"
    urls = [("get", url) for url in credential_pages(theirs)] + [
        ("post", reverse("credential_reveal", args=[g, theirs.pk])),
        ("get", reverse("rotation_retry", args=[g, theirs.pk, rotation.pk])),
        ("get", reverse("connection_test", args=[g, outbound.pk])),
        ("post", reverse("connection_test", args=[g, outbound.pk])),
        ("get", reverse("credential_change", args=[g, their_api_key.pk])),
        ("get", reverse("credential_change_confirm", args=[g, their_api_key.pk])),
        ("get", reverse("unit_detail", args=[g, "operations"])),
        ("get", reverse("sftp_unit", args=[g, "operations"])),
        ("post", reverse("reminder_toggle", args=[g, "operations"])),
        ("post", reverse("member_role", args=[g, membership.pk])),
        ("get", reverse("member_remove", args=[g, membership.pk])),
        ("post", reverse("member_remove", args=[g, membership.pk])),
        ("post", reverse("invitation_resend", args=[g, invitation.pk])),
        ("post", reverse("invitation_revoke", args=[g, invitation.pk])),
        ("get", reverse("api_key_revoke", args=[g, api_key.pk])),
        ("post", reverse("api_key_revoke", args=[g, api_key.pk])),
        ("get", reverse("import_choose", args=[g, pending.pk])),
        ("get", reverse("import_password", args=[g, pending.pk]) + "?action=add"),
        ("get", reverse("import_preview", args=[g, pending.pk])),
        ("post", reverse("import_discard", args=[g, pending.pk])),
        ("post", reverse("handoff_send", args=[g, theirs.pk])),
        ("post", reverse("handoff_revoke", args=[g, theirs.pk, their_handoff.pk])),
        ("get", reverse("connection_contact_add", args=[g, outbound.pk])),
        ("post", reverse("connection_contact_add", args=[g, outbound.pk])),
        ("get", reverse("credential_contact_add", args=[g, their_client.pk])),
        ("post", reverse("credential_contact_add", args=[g, their_client.pk])),
        *((method, reverse(name, args=[g, contact.pk]))
          for contact in (their_contact, their_client_contact)
          for name in ("contact_edit", "contact_remove") for method in ("get", "post")),
    ]
    urls += [(method, url.replace("/o/globex/", "/o/acme/")) for method, url in urls]
    # Globex's rotation under Acme's own credential.
    ours = world["credential"].pk
    urls += [("get", reverse("rotation_cancel", args=["acme", ours, rotation.pk])),
             ("post", reverse("rotation_cancel", args=["acme", ours, rotation.pk])),
             ("get", reverse("rotation_retry", args=["acme", ours, rotation.pk]))]
    # Globex's hand-off under Acme's own credential.
    urls += [(method, reverse("handoff_revoke", args=["acme", ours, their_handoff.pk]))
             for method in ("get", "post")]
    return urls


@pytest.mark.parametrize("username", ["alice", "bob", "rita", "vic"])
def test_it_answers_404_for_every_object_of_another_organization_whatever_the_role(
        client, world, globex_urls, username):
    client.force_login(world["users"][username])
    before = AuditEvent.objects.count()
    wrong = {}
    for method, url in globex_urls:
        status = getattr(client, method)(url).status_code
        if status != NOT_FOUND:
            wrong[f"{method.upper()} {url}"] = status
    assert not wrong, wrong
    assert AuditEvent.objects.count() == before


def test_it_sends_anonymous_visitors_to_sign_in(client, world):
    for url in organization_pages("acme") + credential_pages(world["credential"]):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


@pytest.mark.parametrize("username", ["rita", "vic"])
def test_it_refuses_every_change_to_roles_without_the_permission_and_changes_nothing(
        client, world, username):
    client.force_login(world["users"][username])
    credential = world["credential"]
    rotation = credential.rotations.get()
    contact = PartnerContact.objects.get()
    before = AuditEvent.objects.count()
    posts = {
        reverse("credential_reveal", args=["acme", credential.pk]): {},
        reverse("credential_deactivate", args=["acme", credential.pk]): {},
        reverse("credential_edit", args=["acme", credential.pk]): {
            "name": "renamed", "rotation_policy": "reminders", "lifetime_days": 30},
        reverse("rotation_cancel", args=["acme", credential.pk, rotation.pk]): {},
        reverse("credential_rotate", args=["acme", credential.pk]): {
            "step": "2", "method": "new", "timing": "immediate", "username": "x1",
            "source": "generate"},
        reverse("connection_detach", args=["acme", credential.connections.get().pk]): {},
        reverse("member_list", args=["acme"]): {"email": "eve@example.com", "role": "owner"},
        reverse("handoff_send", args=["acme", credential.pk]): {
            "which": "current", "recipient_name": "Eve", "recipient_email": "eve@example.com",
            "lifetime": "72"},
        reverse("handoff_revoke", args=["acme", credential.pk, credential.handoffs.get().pk]): {},
        reverse("connection_contact_add", args=["acme", credential.connections.get().pk]): {
            "name": "Eve", "email": "eve@example.com"},
        reverse("contact_edit", args=["acme", contact.pk]): {
            "name": "Eve", "email": "eve@example.com"},
        reverse("contact_remove", args=["acme", contact.pk]): {},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == FORBIDDEN, url
    credential.refresh_from_db()
    assert (credential.name, credential.is_active) == ("Acme drop", True)
    assert Rotation.objects.get(pk=rotation.pk).state == RotationState.SCHEDULED
    assert credential.connections.get().credential_id == credential.pk
    assert credential.handoffs.get().revoked_at is None
    assert list(PartnerContact.objects.values_list("name", flat=True)) == ["Dana Weber"]
    assert AuditEvent.objects.count() == before


def test_it_rejects_a_post_without_its_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["users"]["alice"])
    credential = world["credential"]
    response = client.post(reverse("credential_reveal", args=["acme", credential.pk]))
    assert response.status_code == FORBIDDEN
    assert b"Form expired" in response.content
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()


def test_it_puts_a_csrf_token_in_every_post_form(client, world, every_kind):
    client.force_login(world["users"]["alice"])
    pages = organization_pages("acme") + [p for c in every_kind.values()
                                          for p in credential_pages(c)]
    post_forms = 0
    for url in pages:
        html = client.get(url).content.decode()
        for form in re.findall(r"<form[^>]*>.*?</form>", html, flags=re.S | re.I):
            if re.search(r'method="post"', form, flags=re.I):
                post_forms += 1
                assert "csrfmiddlewaretoken" in form, (url, form[:200])
    assert post_forms >= len(pages)  # every page has one at least: the sign-out form


@pytest.mark.parametrize("username", ["alice", "vic"])
def test_it_sends_security_headers_and_no_inline_script_or_style(client, world, username):
    signed_out = [reverse("account_login"), reverse("account_reset_password")]
    client.force_login(world["users"][username])
    pages = [reverse("organization_overview", args=["acme"]),
             reverse("credential_list", args=["acme"]),
             reverse("credential_detail", args=["acme", world["credential"].pk]),
             reverse("profile"), reverse("account_reauthenticate"),
             reverse("account_change_password"), reverse("mfa_activate_totp"),
             reverse("mfa_add_webauthn")]
    for url in signed_out + pages:
        response = (Client() if url in signed_out else client).get(url)
        assert response.status_code == OK, url
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"
        html = response.content.decode()
        assert not re.search(r"\sstyle=", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), url
        assert "<style" not in html, url
