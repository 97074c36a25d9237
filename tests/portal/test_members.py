"""The members page for owners: invite by email (new users choose a password through the
emailed link), change a role, remove someone after confirmation."""

from __future__ import annotations

import re

from django.core import mail

from audit.models import AuditEvent
from organizations.models import Membership, User
from organizations.roles import Role

URL = "/o/acme/members/"


def test_it_invites_a_new_user_who_then_chooses_a_password(client, alice):
    client.force_login(alice)
    response = client.post(URL, {"email": "Dana@Partner.example", "role": Role.MANAGER})
    assert response.status_code == 302
    dana = User.objects.get(email="Dana@partner.example")
    assert not dana.has_usable_password()
    assert Membership.objects.get(user=dana).role == Role.MANAGER
    assert AuditEvent.objects.filter(action="member.add", actor=alice,
                                     target_id=str(dana.pk)).exists()
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["Dana@partner.example"] and "Acme" in email.subject
    link = re.search(r"http://testserver(/accounts/reset/\S+)", email.body).group(1)
    client.logout()
    form = client.get(link, follow=True)
    assert "Choose a password" in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {
        "new_password1": "a-fresh-passphrase-42", "new_password2": "a-fresh-passphrase-42"})
    assert done.status_code == 302
    signed_in = client.post("/accounts/login/", {"username": "dana@partner.example",
                                                 "password": "a-fresh-passphrase-42"})
    assert signed_in.status_code == 302
    assert client.get("/o/acme/").status_code == 200


def test_it_adds_an_existing_user_without_an_email(client, alice, globex, charlie):
    client.force_login(alice)
    client.post(URL, {"email": "charlie@example.com", "role": Role.VIEWER})
    assert Membership.objects.get(user=charlie, organization__slug="acme").role == Role.VIEWER
    assert mail.outbox == []


def test_it_refuses_to_invite_a_member_twice_or_a_bad_address(client, alice, bob):
    client.force_login(alice)
    response = client.post(URL, {"email": "bob@example.com", "role": Role.OWNER})
    assert "bob is already a member." in response.content.decode()
    assert Membership.objects.get(user=bob).role == Role.MANAGER
    response = client.post(URL, {"email": "not-an-address", "role": Role.OWNER})
    assert "Enter a valid email address." in response.content.decode()
    assert User.objects.count() == 2


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


def test_it_lets_only_owners_manage_members(client, bob, vic, charlie):
    membership = Membership.objects.get(user=vic)
    client.force_login(bob)
    assert client.get(URL).status_code == 403
    assert client.post(f"{URL}{membership.pk}/role/", {"role": Role.OWNER}).status_code == 403
    assert client.post(f"{URL}{membership.pk}/remove/").status_code == 403
    client.force_login(charlie)
    assert client.get(URL).status_code == 404
    assert client.post(f"{URL}{membership.pk}/remove/").status_code == 404
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER
