"""The authentication backends: allauth's (sign-in by user name and password) and Django's
(the invitation sign-up signs its new user in directly), each reading the signed-in user of
every request with a query compiled once per process instead of through the ORM.

Everything else is theirs: the password check, is_active (user_can_authenticate: a disabled
user is signed out at the next request), and the session's password hash, which
django.contrib.auth.get_user verifies after get_user (a changed password ends the other
sessions)."""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.db import router

from config.prepared import PreparedQuery
from organizations.models import User

USER_COLUMNS = [field.attname for field in User._meta.concrete_fields]
_USER_BY_ID = PreparedQuery(
    lambda p: User.objects.filter(pk=p["id"]).values_list(*USER_COLUMNS),
    id=User._meta.pk,
)


def user_by_id(user_id: Any) -> User | None:
    """The user with this id, as the ORM would load it, or None."""
    using = router.db_for_read(User)
    rows = _USER_BY_ID.rows(id=user_id, using=using)
    return User.from_db(using, USER_COLUMNS, rows[0]) if rows else None


class SignedInUser:
    """get_user() of ModelBackend (which allauth's backend keeps) through user_by_id."""

    def get_user(self, user_id: Any) -> User | None:
        user = user_by_id(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class AuthenticationBackend(SignedInUser, AllauthBackend):
    pass


class ModelBackend(SignedInUser, DjangoModelBackend):
    pass
