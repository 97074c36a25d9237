"""The authentication backends: allauth's (sign-in by user name and password) and Django's
(the invitation sign-up signs its new user in directly), each reading the signed-in user of
every request, with its organizations and roles, in one query compiled once per process
instead of two built by the ORM.

Everything else is theirs: the password check, is_active (user_can_authenticate: a disabled
user is signed out at the next request), and the session's password hash, which
django.contrib.auth.get_user verifies after get_user (a changed password ends the other
sessions)."""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend

from organizations.models import User, user_with_organizations


class SignedInUser:
    """get_user() of ModelBackend (which allauth's backend keeps) through
    user_with_organizations: the user and the organizations its pages show in one query."""

    def get_user(self, user_id: Any) -> User | None:
        user = user_with_organizations(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class AuthenticationBackend(SignedInUser, AllauthBackend):
    pass


class ModelBackend(SignedInUser, DjangoModelBackend):
    pass
