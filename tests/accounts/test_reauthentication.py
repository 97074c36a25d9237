"""Re-authentication before sensitive acts (accounts.reauthentication): a proof of identity
younger than KEYTURN_REAUTHENTICATION_MINUTES, back where the user was afterwards, and the
proof in the audit event."""

import uuid

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.models import Kind
from organizations.models import Membership
from organizations.roles import Role
from tests.accounts.helpers import give_totp, totp_code
from tests.factories import PASSWORD, make_credential

SECRET = "Revealed-After-Proof-42!"
STALE = 60 * (settings.KEYTURN_REAUTHENTICATION_MINUTES + 1)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


def _reveal_url(credential):
    return reverse("credential_reveal", args=["acme", credential.pk])


def test_it_reveals_on_a_recent_sign_in_and_records_the_proof(client, alice, unit):
    credential = make_credential(unit, Kind.SFTP_PASSWORD)
    client.force_login(alice)
    response = client.post(_reveal_url(credential))
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="secret.reveal")
    assert event.details["reauthenticated_with"] == "password at sign-in"
    assert event.details["reauthenticated_at"].endswith("Z")


def test_it_asks_for_the_password_after_ten_minutes_then_reveals_where_the_user_was(
        client, alice, unit, frozen):
    credential = make_credential(unit, Kind.SFTP_PASSWORD, password=SECRET)
    client.force_login(alice)
    frozen.shift(STALE)
    url = _reveal_url(credential)
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/reauthenticate/?next={url.replace('/', '%2F')}"
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()
    page = client.get(response["Location"])
    assert b"Confirm it is you" in page.content
    wrong = client.post("/accounts/reauthenticate/", {"password": "wrong", "next": url})
    assert wrong.status_code == 200
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()
    revealed = client.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": url})
    assert revealed.status_code == 200
    assert SECRET in revealed.content.decode()  # the page the user asked for, at once
    assert "no-store" in revealed["Cache-Control"]
    event = AuditEvent.objects.get(action="secret.reveal")
    assert event.details["reauthenticated_with"] == "password"
    assert event.details["reauthenticated_at"] == timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    # The proof lasts ten minutes: a second reveal asks for nothing.
    frozen.shift(60 * (settings.KEYTURN_REAUTHENTICATION_MINUTES - 1))
    assert client.post(url).status_code == 200
    frozen.shift(120)
    assert client.post(url).status_code == 302


def test_it_takes_an_authenticator_code_instead_of_the_password(client, alice, unit, frozen):
    credential = make_credential(unit, Kind.SFTP_PASSWORD)
    give_totp(alice)
    client.force_login(alice)
    frozen.shift(STALE)
    url = _reveal_url(credential)
    assert client.post(url).status_code == 302
    page = client.get(f"/accounts/reauthenticate/?next={url}").content.decode()
    assert "/accounts/2fa/reauthenticate/" in page  # offered as the other way
    revealed = client.post("/accounts/2fa/reauthenticate/", {"code": totp_code(), "next": url})
    assert revealed.status_code == 200
    event = AuditEvent.objects.get(action="secret.reveal")
    assert event.details["reauthenticated_with"] == "authenticator app"


def test_it_keeps_what_was_typed_across_the_re_authentication(client, alice, vic, frozen):
    client.force_login(alice)
    frozen.shift(STALE)
    membership = Membership.objects.get(user=vic)
    url = reverse("member_role", args=["acme", membership.pk])
    assert client.post(url, {"role": Role.MANAGER}).status_code == 302
    assert Membership.objects.get(user=vic).role == Role.VIEWER
    done = client.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": url})
    assert done["Location"] == "/o/acme/members/"
    assert Membership.objects.get(user=vic).role == Role.MANAGER
    event = AuditEvent.objects.get(action="member.role")
    assert event.details["reauthenticated_with"] == "password"


def test_it_never_keeps_a_typed_secret_while_the_user_re_authenticates(
        client, alice, unit, frozen):
    credential = make_credential(unit, Kind.SFTP_PASSWORD)
    client.force_login(alice)
    frozen.shift(STALE)
    url = reverse("credential_rotate", args=["acme", credential.pk])
    secret = "Typed-New-Secret-4711!"
    client.post(url, {"step": "2", "method": "new", "timing": "immediate",
                      "username": "kept-user", "source": "enter", "password": secret})
    stored = "".join(str(session.get_decoded()) for session in Session.objects.all())
    assert secret not in stored
    assert "kept-user" in stored  # what is not secret comes back


def test_it_keeps_none_of_the_servers_environment_while_the_user_re_authenticates(
        client, alice, vic, frozen):
    client.force_login(alice)
    frozen.shift(STALE)
    membership = Membership.objects.get(user=vic)
    url = reverse("member_role", args=["acme", membership.pk])
    # runserver gives each request the whole process environment, the key ring included.
    key_ring = "k1:c2VydmVyLXNpZGUta2V5LXJpbmctb2YtMzItYnl0ZXM="
    client.post(url, {"role": Role.MANAGER}, KEYTURN_ENCRYPTION_KEYS=key_ring,
                HTTP_AUTHORIZATION="Basic cHJveHk6cGFzc3dvcmQ=")
    stored = "".join(str(session.get_decoded()) for session in Session.objects.all())
    assert key_ring not in stored and "cHJveHk6cGFzc3dvcmQ=" not in stored
    assert "KEYTURN_ENCRYPTION_KEYS" not in stored
    done = client.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": url})
    assert done["Location"] == "/o/acme/members/"
    assert Membership.objects.get(user=vic).role == Role.MANAGER


SENSITIVE = [
    ("post", "credential_reveal", ["acme", "<uuid>"]),
    ("get", "credential_rotate", ["acme", "<uuid>"]),
    ("post", "credential_rotate", ["acme", "<uuid>"]),
    ("post", "rotation_cancel", ["acme", "<uuid>", "<uuid>"]),
    ("post", "rotation_retry", ["acme", "<uuid>", "<uuid>"]),
    ("get", "credential_change", ["acme", "<uuid>"]),
    ("post", "credential_change_confirm", ["acme", "<uuid>"]),
    ("post", "import_upload", ["acme"]),
    ("get", "import_choose", ["acme", "<uuid>"]),
    ("get", "import_password", ["acme", "<uuid>"]),
    ("post", "import_preview", ["acme", "<uuid>"]),
    ("post", "import_discard", ["acme", "<uuid>"]),
    ("post", "api_key_list", ["acme"]),
    ("post", "member_list", ["acme"]),
    ("post", "member_role", ["acme", 1]),
    ("post", "member_remove", ["acme", 1]),
    ("post", "invitation_resend", ["acme", "<uuid>"]),
    ("post", "invitation_revoke", ["acme", "<uuid>"]),
    ("post", "second_factor_policy", ["acme"]),
    ("get", "handoff_send", ["acme", "<uuid>"]),
]


@pytest.mark.parametrize(("method", "name", "args"), SENSITIVE,
                         ids=[f"{m} {n}" for m, n, _ in SENSITIVE])
def test_it_asks_for_a_proof_before_each_sensitive_act(alice, frozen, method, name, args):
    client = Client()
    client.force_login(alice)
    frozen.shift(STALE)
    url = reverse(name, args=[str(uuid.uuid4()) if a == "<uuid>" else a for a in args])
    response = getattr(client, method)(url)
    assert response.status_code == 302, url
    assert response["Location"].startswith("/accounts/reauthenticate/?next="), url
