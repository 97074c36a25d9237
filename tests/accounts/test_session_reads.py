"""What every signed-in request reads first, with queries compiled once per process: its
session (config.sessions), its user (accounts.backends) and the user's organizations with
roles (User.organization_roles). They answer as the ORM did: an expired or deleted session,
a disabled or deleted user, a password changed elsewhere all sign the request out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from config.sessions import SessionStore
from members.services import membership_set_role
from organizations.access import SYSTEM
from organizations.models import Membership, Organization, User, user_with_organizations
from organizations.roles import Role
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

PAGE = "/o/acme/"


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    assert client.get(PAGE).status_code == 200
    return client


def _signed_out(client: Client) -> bool:
    response = client.get(PAGE)
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_sessions_are_kept_in_the_database_by_config_sessions(alice):
    assert settings.SESSION_ENGINE == "config.sessions"
    client = _signed_in(alice)
    assert Session.objects.filter(session_key=client.session.session_key).exists()


def test_an_expired_session_is_refused_and_a_new_one_started(alice):
    client = _signed_in(alice)
    key = client.session.session_key
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1))
    assert _signed_out(client)
    store = SessionStore(key)
    assert store.load() == {} and store.session_key is None


def test_a_session_about_to_expire_still_works(alice):
    client = _signed_in(alice)
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() + timedelta(seconds=30))
    assert client.get(PAGE).status_code == 200


def test_a_deleted_session_signs_the_request_out(alice):
    client = _signed_in(alice)
    Session.objects.filter(session_key=client.session.session_key).delete()
    assert _signed_out(client)


def test_a_disabled_or_deleted_user_is_signed_out(alice, bob):
    alices, bobs = _signed_in(alice), _signed_in(bob)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    bob.delete()
    assert _signed_out(alices) and _signed_out(bobs)


def test_a_password_changed_elsewhere_signs_the_other_sessions_out(alice):
    client = _signed_in(alice)
    alice.set_password(PASSWORD + "-new")
    alice.save()
    assert _signed_out(client)


def test_both_backends_sign_in_for_good(alice, bob):
    assert settings.AUTHENTICATION_BACKENDS == [
        "accounts.backends.AuthenticationBackend", "accounts.backends.ModelBackend"]
    form = Client()
    form.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    assert form.session[BACKEND_SESSION_KEY] == "accounts.backends.AuthenticationBackend"
    assert form.get(PAGE).status_code == 200
    direct = Client()
    direct.force_login(bob, backend="accounts.backends.ModelBackend")
    assert direct.get(PAGE).status_code == 200


def test_the_user_is_loaded_as_the_orm_loads_it(alice):
    alice.last_login = timezone.now()
    alice.save()
    loaded, expected = user_with_organizations(alice.pk), User.objects.get(pk=alice.pk)
    assert loaded is not None and not loaded._state.adding
    assert {f.attname: getattr(loaded, f.attname) for f in User._meta.concrete_fields} == {
        f.attname: getattr(expected, f.attname) for f in User._meta.concrete_fields}
    assert user_with_organizations(alice.pk + 1000) is None


def _orm_roles(user: User) -> list[tuple[Organization, str]]:
    return [(m.organization, m.role) for m in Membership.objects.filter(user=user)
            .select_related("organization").order_by("organization__name", "organization_id")]


def test_the_organizations_and_roles_are_those_of_the_orm_in_name_order(
        acme, globex, alice, django_assert_num_queries):
    zeta = Organization.objects.create(name="Aardvark", slug="zeta", require_second_factor=True)
    membership_set_role(organization=zeta, user=alice, role=Role.REVIEWER, actor=SYSTEM)
    membership_set_role(organization=globex, user=alice, role=Role.VIEWER, actor=SYSTEM)
    expected = _orm_roles(alice)
    assert [org.slug for org, _ in expected] == ["zeta", "acme", "globex"]
    # Read on their own, or with the user in the same query (as each request reads them).
    assert list(User.objects.get(pk=alice.pk).organization_roles().items()) == expected
    with django_assert_num_queries(1):
        loaded = user_with_organizations(alice.pk)
        assert list(loaded.organization_roles().items()) == expected
    first = next(iter(loaded.organization_roles()))
    assert first.require_second_factor is True and first.created_at == zeta.created_at
    loner = User.objects.create_user(username="loner", password=PASSWORD)
    assert loner.organization_roles() == {}
    with django_assert_num_queries(1):
        assert user_with_organizations(loner.pk).organization_roles() == {}
