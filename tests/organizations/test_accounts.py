import pytest
from django.contrib.auth.hashers import make_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings

from audit.models import AuditEvent
from members.services import (
    MembershipError,
    membership_remove,
    membership_set_role,
    user_disable,
)
from organizations.models import Membership, User
from organizations.roles import Role
from tests.factories import PASSWORD, make_user


def test_it_hashes_passwords_with_argon2_first(db):
    from config import settings as production

    with override_settings(PASSWORD_HASHERS=production.PASSWORD_HASHERS):
        assert make_password("a long passphrase").startswith("argon2$")


def _login(client, username, password, ip="127.0.0.1"):
    return client.post("/accounts/login/", {"login": username, "password": password},
                       REMOTE_ADDR=ip)


def test_it_ends_every_session_of_a_disabled_user(client, alice, bob):
    client.force_login(bob)
    assert client.get("/o/acme/").status_code == 200
    ended = user_disable(user=bob, actor=alice)
    assert ended == 1
    assert client.get("/o/acme/").status_code == 302
    _login(client, "bob", PASSWORD)  # allauth's "account inactive" page, and no session
    assert "_auth_user_id" not in client.session
    assert client.get("/o/acme/").status_code == 302
    assert AuditEvent.objects.filter(action="user.disable", target_id=str(bob.pk)).exists()


def test_it_keeps_at_least_one_owner(acme, alice, bob):
    with pytest.raises(MembershipError, match="at least one owner"):
        membership_set_role(organization=acme, user=alice, role=Role.VIEWER, actor=alice)
    membership_set_role(organization=acme, user=bob, role=Role.OWNER, actor=alice)
    membership_set_role(organization=acme, user=alice, role=Role.VIEWER, actor=bob)
    assert Membership.objects.get(user=alice).role == Role.VIEWER


def test_it_lets_only_member_managers_remove_members(acme, alice, bob, vic):
    with pytest.raises(PermissionDenied):
        membership_remove(membership=Membership.objects.get(user=alice), actor=bob)
    membership_remove(membership=Membership.objects.get(user=vic), actor=alice)
    assert not Membership.objects.filter(user=vic).exists()
    assert AuditEvent.objects.filter(action="member.remove").count() == 1


def test_it_keeps_a_known_time_zone_per_user_and_refuses_an_unknown_one(db):
    assert User.objects.create_user(username="newcomer").time_zone == "UTC"
    user = make_user("tokyo", time_zone="Asia/Tokyo")
    user.refresh_from_db()
    assert user.time_zone == "Asia/Tokyo"
    user.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError) as refused:
        user.full_clean()
    assert "is not a known time zone" in str(refused.value.message_dict["time_zone"])


def test_it_ends_the_sessions_of_a_user_disabled_in_the_admin(client, alice, bob):
    from django.test import Client

    admin = make_user("root", None)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    bobs = Client()
    bobs.force_login(bob)
    assert bobs.get("/o/acme/").status_code == 200
    client.force_login(admin)
    url = f"/admin/organizations/user/{bob.pk}/change/"
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items()
            if value is not None and name not in {"password", "groups", "user_permissions"}}
    data.update(is_active="", last_login_0="", last_login_1="",
                date_joined_0="2026-01-01", date_joined_1="00:00:00")
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data.update({f"{management.prefix}-{key}": value
                     for key, value in management.initial.items()})
        for index, inline in enumerate(formset.formset.forms):
            for key, value in inline.initial.items():
                data[f"{inline.prefix}-{key}"] = value
            data[f"{inline.prefix}-user"] = bob.pk
            data.setdefault(f"{formset.formset.prefix}-{index}-id", inline.instance.pk)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    bob.refresh_from_db()
    assert not bob.is_active
    assert bobs.get("/o/acme/").status_code == 302  # signed out
    assert AuditEvent.objects.filter(action="user.disable", actor=admin).exists()


def test_it_audits_a_password_set_in_the_admin(client, alice, bob):
    admin = make_user("root", None)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    new = "set-by-the-admin-2026"
    response = client.post(f"/admin/organizations/user/{bob.pk}/password/", {
        "usable_password": "true", "password1": new, "password2": new})
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.check_password(new)
    event = AuditEvent.objects.get(action="user.password_change", actor=admin)
    assert (event.target_id, event.details["via"]) == (str(bob.pk), "admin")
    assert new not in str(event.details)
