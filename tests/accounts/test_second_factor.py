"""Second factors at sign-in, on the profile page and in the audit trail, and an
organization's rule that every member has one."""

from pathlib import Path

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from credentials.demo import DEMO_PASSWORD, DEMO_TOTP_KEY, DEMO_TOTP_USER, load_demo_data
from members.services import membership_set_role
from organizations.models import Organization, User
from organizations.roles import Role
from tests.accounts.helpers import KEY, give_totp, totp_code
from tests.factories import PASSWORD, make_user

STALE = 60 * (settings.KEYTURN_REAUTHENTICATION_MINUTES + 1)


def _password_step(client, username, next_url=""):
    data = {"login": username, "password": PASSWORD}
    return client.post("/accounts/login/" + (f"?next={next_url}" if next_url else ""), data)


def test_it_asks_for_the_second_factor_after_the_password(client, alice):
    give_totp(alice)
    response = _password_step(client, "alice")
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session  # not signed in yet
    assert client.get("/o/acme/").status_code == 302
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    done = client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    assert done.status_code == 302
    assert client.get("/o/acme/").status_code == 200


def test_it_takes_a_recovery_code_once(client, alice):
    codes = give_totp(alice)
    _password_step(client, "alice")
    assert client.post("/accounts/2fa/authenticate/", {"code": codes[0]}).status_code == 302
    other = Client()
    _password_step(other, "alice")
    assert other.post("/accounts/2fa/authenticate/", {"code": codes[0]}).status_code == 200
    assert "_auth_user_id" not in other.session


def test_it_locks_the_second_factor_step_after_five_wrong_codes(client, alice):
    give_totp(alice)
    _password_step(client, "alice")
    for _ in range(5):
        client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    locked = client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    assert "Too many failed login attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_signs_the_admin_in_with_the_second_factor_too(client, db):
    root = make_user("root")
    root.is_staff = root.is_superuser = True
    root.save()
    give_totp(root)
    login = client.get("/admin/login/?next=/admin/")["Location"]
    assert login == "/accounts/login/?next=%2Fadmin%2F"
    assert _password_step(client, "root", "/admin/")["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/admin/").status_code == 302
    done = client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_it_keeps_the_authenticator_key_sealed_at_rest(alice):
    give_totp(alice)
    stored = Authenticator.objects.get(user=alice, type=Authenticator.Type.TOTP).data
    assert KEY not in str(stored)
    assert stored["secret"].startswith("v1:k1:")


def test_it_shows_the_key_only_while_setting_up_the_app(
        client, alice, django_capture_on_commit_callbacks):
    client.force_login(alice)
    setup = client.get("/accounts/2fa/totp/activate/").content.decode()
    key = setup.split('id="totp-key" class="mono" value="')[1].split('"')[0]
    assert len(key) == 32 and 'src="data:image/svg+xml;base64,' in setup
    with django_capture_on_commit_callbacks(execute=True):  # allauth audits after commit
        done = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(key)})
    assert done.status_code == 302
    profile = client.get("/accounts/profile/").content.decode()
    assert key not in profile
    assert "Authenticator app (TOTP)" in profile and ">Remove</a>" in profile
    added = AuditEvent.objects.filter(action="user.second_factor_add")
    assert sorted(e.details["factor"] for e in added) == ["authenticator app (TOTP)",
                                                          "recovery codes"]
    assert key not in str(AuditEvent.objects.values_list("details", flat=True))


def test_it_asks_for_a_fresh_proof_before_removing_the_last_factor_and_audits_it(
        client, alice, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    give_totp(alice)
    client.force_login(alice)
    time_machine.shift(STALE)
    asked = client.post("/accounts/2fa/totp/deactivate/")
    assert asked["Location"].startswith("/accounts/reauthenticate/")
    assert Authenticator.objects.filter(user=alice, type="totp").exists()
    page = client.get(asked["Location"]).content.decode()
    assert "/accounts/2fa/reauthenticate/" in page
    client.post("/accounts/2fa/reauthenticate/",
                {"code": totp_code(), "next": "/accounts/2fa/totp/deactivate/"})
    client.post("/accounts/2fa/totp/deactivate/")
    assert not Authenticator.objects.filter(user=alice).exists()  # the codes went with it
    removed = AuditEvent.objects.filter(action="user.second_factor_remove").order_by("id")
    factor = removed.get(details__factor="authenticator app (TOTP)")
    assert factor.details["remaining_factors"] == 0
    assert factor.details["reauthenticated_with"] == "authenticator app"
    assert factor.organization.slug == "acme"


# --- The organization's rule -------------------------------------------------------------


def _require(client, owner, required=True):
    return client.post("/o/acme/members/second-factor/",
                       {"require_second_factor": "on"} if required else {})


def test_it_lets_an_owner_require_a_second_factor_once_they_have_one(client, alice, acme):
    client.force_login(alice)
    refused = client.post("/o/acme/members/second-factor/", {"require_second_factor": "on"},
                          follow=True)
    assert "Set up a second factor for yourself first" in refused.content.decode()
    assert not Organization.objects.get(pk=acme.pk).require_second_factor
    give_totp(alice)
    _require(client, alice)
    assert Organization.objects.get(pk=acme.pk).require_second_factor
    event = AuditEvent.objects.get(action="organization.second_factor_policy")
    assert event.details["required"] is True
    assert event.details["reauthenticated_with"] == "password at sign-in"
    _require(client, alice, required=False)
    assert not Organization.objects.get(pk=acme.pk).require_second_factor
    assert AuditEvent.objects.filter(action="organization.second_factor_policy",
                                     details__required=False).exists()


def test_it_leads_a_member_without_a_factor_to_set_one_up_and_only_for_that_organization(
        client, alice, bob, acme, globex):
    give_totp(alice)
    acme.require_second_factor = True
    acme.save()
    membership_set_role(organization=globex, user=bob, role=Role.VIEWER,
                        actor=make_user("gina", globex, Role.OWNER))
    client.force_login(bob)
    for url in ("/o/acme/", "/o/acme/credentials/", "/o/acme/units/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == "/accounts/2fa/", url
    steered = client.get("/o/acme/", follow=True).content.decode()
    assert "Acme requires a second factor" in steered and 'id="second-factors"' in steered
    assert client.get("/o/globex/").status_code == 200  # the other organization is unaffected
    give_totp(bob)
    assert client.get("/o/acme/").status_code == 200


def test_it_shows_who_has_a_second_factor_on_the_members_page(client, alice, bob):
    give_totp(alice)
    client.force_login(alice)
    page = client.get("/o/acme/members/").content.decode()
    rows = {name: next(row for row in page.split("<tr>") if f'<th scope="row">{name}' in row)
            for name in ("alice", "bob")}
    assert '<span class="yes">Yes</span>' in rows["alice"]
    assert '<span class="quiet">No</span>' in rows["bob"]


@pytest.mark.parametrize("members", [2, 12])
def test_it_costs_the_members_page_the_same_queries_for_any_number_of_members(
        client, alice, acme, members, django_assert_max_num_queries):
    for index in range(members):
        user = make_user(f"member{index}", acme, Role.VIEWER)
        if index % 2:
            give_totp(user)
    client.force_login(alice)
    with django_assert_max_num_queries(14):
        assert client.get("/o/acme/members/").status_code == 200


def test_it_gives_the_demo_reviewer_the_readmes_totp_key_and_no_rule(client, db):
    load_demo_data()
    load_demo_data()  # safe to run again: still one authenticator app
    reviewer = User.objects.get(username=DEMO_TOTP_USER)
    assert Authenticator.objects.filter(user=reviewer, type="totp").count() == 1
    assert f"`{DEMO_TOTP_KEY}`" in (Path(settings.BASE_DIR) / "README.md").read_text()
    assert not Organization.objects.filter(require_second_factor=True).exists()
    assert client.post("/accounts/login/", {"login": "owner", "password": DEMO_PASSWORD}
                       )["Location"] == "/"
    reviewer_client = Client()
    step = reviewer_client.post("/accounts/login/",
                                {"login": "reviewer", "password": DEMO_PASSWORD})
    assert step["Location"] == "/accounts/2fa/authenticate/"
    assert reviewer_client.post("/accounts/2fa/authenticate/",
                       {"code": totp_code(DEMO_TOTP_KEY)})["Location"] == "/"
