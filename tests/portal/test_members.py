"""The members page for owners: invitations (sent to any address alike, accepted by whoever
holds the emailed link, listed with Resend and Revoke), role changes, removal after
confirmation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from members.models import Invitation
from members.services import invitation_create
from organizations.models import Membership, User
from organizations.roles import Role
from tests.factories import PASSWORD, make_user

URL = "/o/acme/members/"
ACCEPT = "/invitations/accept/"
NEW_PASSWORD = "a-fresh-passphrase-42"


def _link(message: mail.EmailMessage) -> str:
    """The path of the invitation link in an email (SITE_URL is http://testserver)."""
    return re.search(r"http://testserver(/invitations/[^/\s]+/)", message.body).group(1)


def _invite(client, email: str, role: str = Role.VIEWER):
    return client.post(URL, {"email": email, "role": role})


def test_it_invites_a_new_address_that_chooses_a_user_name_and_password(client, alice):
    client.force_login(alice)
    response = _invite(client, "Dana@Partner.example", Role.MANAGER)
    assert response.status_code == 302
    page = client.get(URL).content.decode()
    assert "Invitation sent to Dana@partner.example." in page
    assert not User.objects.filter(email__iexact="dana@partner.example").exists()
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "Dana@partner.example", Role.MANAGER, alice)
    assert AuditEvent.objects.filter(action="invitation.create", actor=alice,
                                     target_id=str(invitation.pk)).exists()
    [email] = mail.outbox
    assert email.to == ["Dana@partner.example"] and "Acme" in email.subject
    assert "alice invited Dana@partner.example to join Acme" in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html" and _link(email) in html
    link = _link(email)

    client.logout()
    opened = client.get(link)
    assert opened.status_code == 302 and opened["Location"] == ACCEPT
    accept = client.get(ACCEPT).content.decode()
    assert "Join Acme" in accept and "Credential manager" in accept
    joined = client.post(ACCEPT, {"username": "dana", "password1": NEW_PASSWORD,
                                  "password2": NEW_PASSWORD})
    assert joined.status_code == 302 and joined["Location"] == "/o/acme/"
    dana = User.objects.get(username="dana")
    assert dana.email == "Dana@partner.example" and dana.check_password(NEW_PASSWORD)
    assert Membership.objects.get(user=dana).role == Role.MANAGER
    assert "Welcome to Acme" in client.get("/o/acme/").content.decode()
    invitation.refresh_from_db()
    assert invitation.accepted_by == dana and invitation.accepted_at is not None
    assert AuditEvent.objects.filter(action="invitation.accept", actor=dana).exists()
    assert AuditEvent.objects.filter(action="member.add", actor=dana,
                                     target_id=str(dana.pk)).exists()
    # The link works once; opened again, it leads to the organization, through sign-in.
    client.logout()
    client.get(link)
    again = client.get(ACCEPT)
    assert again.status_code == 200 and "This invitation was accepted" in again.content.decode()
    assert 'href="/o/acme/"' in again.content.decode()
    assert client.get("/o/acme/")["Location"].startswith("/accounts/login/?next=/o/acme/")
    assert client.post(ACCEPT, {"username": "dana2", "password1": NEW_PASSWORD,
                                "password2": NEW_PASSWORD}).status_code == 200
    assert not User.objects.filter(username="dana2").exists()
    assert Membership.objects.filter(organization__slug="acme", user=dana).count() == 1


def test_it_lets_a_user_of_another_organization_sign_in_and_accept(client, alice, charlie,
                                                                  globex):
    client.force_login(alice)
    _invite(client, "charlie@example.com", Role.REVIEWER)
    # Nothing happens to charlie until he accepts.
    assert not Membership.objects.filter(user=charlie, organization__slug="acme").exists()
    link = _link(mail.outbox[0])
    client.logout()
    client.get(link)
    accept = client.get(ACCEPT).content.decode()
    assert f'href="/accounts/login/?next={ACCEPT}"' in accept
    signed_in = client.post("/accounts/login/", {"login": "charlie", "password": PASSWORD,
                                                 "next": ACCEPT})
    assert signed_in["Location"] == ACCEPT
    assert "You are signed in as <strong>charlie</strong>" in client.get(ACCEPT).content.decode()
    assert client.post(ACCEPT)["Location"] == "/o/acme/"
    assert Membership.objects.get(user=charlie, organization__slug="acme").role == Role.REVIEWER
    assert Membership.objects.get(user=charlie, organization=globex).role == Role.OWNER
    assert AuditEvent.objects.filter(action="member.add", actor=charlie,
                                     organization__slug="acme").exists()


def _normalized(content: bytes, email: str, invitation: Invitation) -> bytes:
    """The page with what differs by construction replaced: the address typed, the
    invitation's random id, and the CSRF token (masked anew on every page)."""
    content = content.replace(email.encode(), b"<EMAIL>")
    content = content.replace(str(invitation.pk).encode(), b"<ID>")
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"<CSRF>", content)


def test_it_answers_the_inviter_alike_for_an_address_known_elsewhere_and_an_unknown_one(
        client, alice, charlie, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    client.force_login(alice)
    answers = []
    for email in ("charlie@example.com", "nobody@example.com"):
        response = _invite(client, email)
        page = client.get(response["Location"])
        invitation = Invitation.objects.get(email=email)
        answers.append((response.status_code, response["Location"], response.content,
                        page.status_code, _normalized(page.content, email, invitation)))
        Invitation.objects.filter(pk=invitation.pk).delete()  # each page lists only its own
    assert answers[0] == answers[1]
    assert b"Invitation sent to <EMAIL>." in answers[0][4]
    assert b"charlie" not in answers[0][4] and b"globex" not in answers[0][4].lower()
    # Both got the same email, but for the address and the link.
    bodies = [re.sub(r"/invitations/[^/\s]+/", "<LINK>", m.body).replace(m.to[0], "<EMAIL>")
              for m in mail.outbox]
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_it_says_so_when_the_address_belongs_to_a_member(client, alice, bob):
    client.force_login(alice)
    response = _invite(client, "BOB@example.com", Role.OWNER)
    assert "BOB@example.com is already a member of Acme." in response.content.decode()
    assert Membership.objects.get(user=bob).role == Role.MANAGER
    response = _invite(client, "not-an-address", Role.OWNER)
    assert "Enter a valid email address." in response.content.decode()
    assert not Invitation.objects.exists() and mail.outbox == []


def test_it_lists_resends_and_revokes_pending_invitations(client, alice):
    client.force_login(alice)
    _invite(client, "dana@partner.example", Role.MANAGER)
    invitation = Invitation.objects.get()
    page = client.get(URL).content.decode()
    listing = page[page.index('id="invitations"'):]
    assert "dana@partner.example" in listing and "Credential manager" in listing
    first_link = _link(mail.outbox[0])

    client.post(f"{URL}invitations/{invitation.pk}/resend/")
    assert len(mail.outbox) == 2
    second_link = _link(mail.outbox[1])
    assert second_link != first_link
    assert AuditEvent.objects.filter(action="invitation.resend", actor=alice).exists()
    anonymous = client.__class__()
    anonymous.get(first_link)
    assert anonymous.get(ACCEPT).status_code == 404  # the old link died with the resend
    anonymous.get(second_link)
    assert anonymous.get(ACCEPT).status_code == 200

    revoked = client.post(f"{URL}invitations/{invitation.pk}/revoke/", follow=True)
    assert "Revoked the invitation to dana@partner.example" in revoked.content.decode()
    assert "No pending invitations." in revoked.content.decode()
    assert anonymous.get(ACCEPT).status_code == 404
    assert AuditEvent.objects.filter(action="invitation.revoke", actor=alice).exists()
    assert not User.objects.filter(email="dana@partner.example").exists()


def test_it_sends_again_when_the_same_address_is_invited_twice(client, alice):
    client.force_login(alice)
    _invite(client, "dana@partner.example", Role.VIEWER)
    _invite(client, "DANA@partner.example", Role.OWNER)
    invitation = Invitation.objects.get()
    assert invitation.role == Role.OWNER and len(mail.outbox) == 2
    client.logout()
    client.get(_link(mail.outbox[0]))
    assert client.get(ACCEPT).status_code == 404


def test_it_refuses_an_expired_link_until_it_is_sent_again(client, alice, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    client.force_login(alice)
    _invite(client, "dana@partner.example")
    link = _link(mail.outbox[0])
    time_machine.move_to(start + timedelta(days=7), tick=False)
    client.force_login(alice)  # her session has expired meanwhile
    assert "Expired" in client.get(URL).content.decode()
    visitor = client.__class__()
    visitor.get(link)
    assert visitor.get(ACCEPT).status_code == 404
    assert visitor.post(ACCEPT, {"username": "dana", "password1": NEW_PASSWORD,
                                 "password2": NEW_PASSWORD}).status_code == 404
    assert not User.objects.filter(username="dana").exists()
    client.post(f"{URL}invitations/{Invitation.objects.get().pk}/resend/")
    visitor.get(_link(mail.outbox[1]))
    assert visitor.get(ACCEPT).status_code == 200


def test_it_stores_and_records_no_token_only_its_hash(client, alice):
    client.force_login(alice)
    _invite(client, "dana@partner.example")
    token = _link(mail.outbox[0]).split("/")[2]
    invitation = Invitation.objects.get()
    assert token not in str(Invitation.objects.values().get())
    assert invitation.token_hash != token and len(invitation.token_hash) == 64
    assert token not in repr(invitation) and invitation.token_hash not in repr(invitation)
    assert not any(token in str(e.details) for e in AuditEvent.objects.all())
    client.logout()
    client.get(_link(mail.outbox[0]))
    assert token not in str(dict(client.session))


@pytest.mark.parametrize("data, field, message", [
    ({"username": "dana", "password1": "short", "password2": "short"}, "password2",
     "This password is too short."),
    ({"username": "dana", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"},
     "password2", "The two password fields didn"),
    ({"username": "Alice", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "username",
     "A user with that username already exists."),
])
def test_it_refuses_a_bad_sign_up_on_its_field_and_keeps_the_invitation(
        client, alice, data, field, message):
    client.force_login(alice)
    _invite(client, "dana@partner.example")
    client.logout()
    client.get(_link(mail.outbox[0]))
    response = client.post(ACCEPT, data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert message in " ".join(errors[field])
    assert User.objects.count() == 1
    assert Invitation.objects.get().accepted_at is None
    assert client.get(ACCEPT).status_code == 200


def test_it_sends_an_existing_account_to_sign_in_rather_than_sign_up(client, alice, charlie):
    client.force_login(alice)
    _invite(client, "charlie@example.com")
    client.logout()
    client.get(_link(mail.outbox[0]))
    response = client.post(ACCEPT, {"username": "charlie2", "password1": NEW_PASSWORD,
                                    "password2": NEW_PASSWORD})
    assert "sign in with it to accept" in response.content.decode()
    assert not User.objects.filter(username="charlie2").exists()
    assert not Membership.objects.filter(user=charlie, organization__slug="acme").exists()


def test_it_refuses_an_invitation_for_a_member_already_there(client, alice, vic):
    client.force_login(alice)
    _invite(client, "vic-at-home@example.net", Role.OWNER)
    client.force_login(vic)
    client.get(_link(mail.outbox[0]))
    response = client.post(ACCEPT)
    assert "You are already a member of Acme." in response.content.decode()
    assert Membership.objects.get(user=vic).role == Role.VIEWER


def test_it_keeps_the_invitation_when_the_email_cannot_be_sent(client, alice, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens: refused
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    client.force_login(alice)
    page = client.post(URL, {"email": "dana@partner.example", "role": Role.VIEWER},
                       follow=True).content.decode()
    assert "saved, but the email could not be sent. Use Resend" in page
    assert Invitation.objects.filter(email="dana@partner.example").exists()


def test_it_changes_a_role_but_keeps_an_owner(client, alice, bob):
    client.force_login(alice)
    bobs = Membership.objects.get(user=bob)
    client.post(f"{URL}{bobs.pk}/role/", {"role": Role.REVIEWER})
    bobs.refresh_from_db()
    assert bobs.role == Role.REVIEWER
    alices = Membership.objects.get(user=alice)
    page = client.post(f"{URL}{alices.pk}/role/", {"role": Role.VIEWER}, follow=True)
    assert "at least one owner" in page.content.decode()
    alices.refresh_from_db()
    assert alices.role == Role.OWNER


def test_it_removes_a_member_after_confirmation(client, alice, vic):
    client.force_login(alice)
    membership = Membership.objects.get(user=vic)
    url = f"{URL}{membership.pk}/remove/"
    assert "loses access" in client.get(url).content.decode()
    assert Membership.objects.filter(user=vic).exists()
    client.post(url)
    assert not Membership.objects.filter(user=vic).exists()
    assert AuditEvent.objects.filter(action="member.remove", actor=alice).exists()
    # vic now gets 404 for the organization.
    client.force_login(vic)
    assert client.get("/o/acme/").status_code == 404


def test_it_lets_only_owners_manage_members(client, alice, bob, vic, charlie):
    membership = Membership.objects.get(user=vic)
    client.force_login(alice)
    _invite(client, "dana@partner.example")
    invitation = Invitation.objects.get()
    client.force_login(bob)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"email": "eve@example.com", "role": Role.OWNER}).status_code == 403
    assert client.post(f"{URL}invitations/{invitation.pk}/resend/").status_code == 403
    assert client.post(f"{URL}invitations/{invitation.pk}/revoke/").status_code == 403
    assert Invitation.objects.get().revoked_at is None and len(mail.outbox) == 1
    assert client.post(f"{URL}{membership.pk}/role/", {"role": Role.OWNER}).status_code == 403
    assert client.post(f"{URL}{membership.pk}/remove/").status_code == 403
    client.force_login(charlie)
    assert client.get(URL).status_code == 404
    assert client.post(f"{URL}{membership.pk}/remove/").status_code == 404
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def _members_page_queries(client, alice, acme, count: int) -> int:
    now = timezone.now()
    for _ in range(count):
        n = User.objects.count()
        make_user(f"member{n}", acme, Role.VIEWER)
        invitation_create(organization=acme, email=f"guest{n}@partner.example",
                          role=Role.VIEWER, actor=alice, now=now)
    client.force_login(alice)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def test_it_costs_the_same_queries_for_few_or_many_members_and_invitations(client, alice, acme):
    few = _members_page_queries(client, alice, acme, 2)
    many = _members_page_queries(client, alice, acme, 30)
    assert few == many
