"""Who may see and do what: the one place every app asks.

- Views resolve the organization named in the URL among the user's own with
  `get_organization` (404 otherwise), look the object up within it (404), and only then check
  the permission with `require_org_perm` (403). Existence comes before permission, so another
  organization's ids answer 404 whatever the user's role.
- Services check the permission themselves with `require_perm(actor, organization, perm)`,
  whoever calls them: a view, a command, a job or an API key's request.
- An organization that requires a second factor shows nothing of itself to a member without
  one: `get_organization` raises `SecondFactorRequired`, which accounts' middleware turns
  into the way to set one up. The member's other organizations are unaffected.
- The actor of a change is a user, or Keyturn itself acting as an explicit `SystemActor`
  (a scheduled job, a command, an API key's request); never `None`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from allauth.mfa.models import Authenticator
from django.core.exceptions import PermissionDenied
from django.db import router
from django.http import Http404, HttpRequest

from config.prepared import PreparedQuery

from .models import Organization, User


@dataclass(frozen=True)
class SystemActor:
    """Keyturn acting on its own. `label` is how the audit trail names it ("system", or an
    API key by name and prefix). Scoped to one organization when `organization_id` is set
    (an API key acts only in its own); otherwise everywhere (jobs, commands)."""

    label: str = "system"
    organization_id: int | None = None

    def has_org_perm(self, organization: Organization, perm: str) -> bool:
        return self.organization_id is None or self.organization_id == organization.pk

    def get_username(self) -> str:
        return self.label


SYSTEM = SystemActor()
Actor = Union[User, SystemActor]  # noqa: UP007 (a runtime alias: used in annotations)


def user_of(actor: Actor) -> User | None:
    """The user behind an actor, for "created by" columns; None when Keyturn itself acted."""
    return actor if isinstance(actor, User) else None


def require_perm(actor: Actor, organization: Organization, perm: str) -> None:
    """For services: PermissionDenied unless `actor` holds `perm` in `organization`."""
    if not actor.has_org_perm(organization, perm):
        raise PermissionDenied


# Second factors: recovery codes are only a way back in (allauth deletes them with the last
# real factor).
SECOND_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)
# Asked on every page of an organization that requires a second factor: compiled once.
_SECOND_FACTOR_OF_USER = PreparedQuery(
    lambda p: Authenticator.objects.filter(user=p["user"], type__in=SECOND_FACTOR_TYPES)
    .values_list("id")[:1],
    user=Authenticator._meta.get_field("user"),
)


class SecondFactorRequired(Exception):
    """The organization requires a second factor, and the user has none yet."""

    def __init__(self, organization: Organization) -> None:
        super().__init__(organization.name)
        self.organization = organization


def has_second_factor(user: User) -> bool:
    """Whether the user signs in with a second factor (cached on the user for the request)."""
    cached = getattr(user, "_keyturn_second_factor", None)
    if cached is None:
        cached = bool(_SECOND_FACTOR_OF_USER.rows(user=user.pk,
                                                  using=router.db_for_read(Authenticator)))
        user._keyturn_second_factor = cached  # type: ignore[attr-defined]
    return cached


def get_organization(request: HttpRequest, slug: str) -> Organization:
    """For views: the organization named in the URL, if the user belongs to it (404
    otherwise). It becomes the page's organization (header, sidebar, error pages). If it
    requires a second factor the user does not have, SecondFactorRequired."""
    # Among the user's own organizations, read once per request (User.organization_roles).
    organization = next((org for org in request.user.organization_roles()
                         if org.slug == slug), None) if request.user.is_authenticated else None
    if organization is None:
        raise Http404("No such organization.")
    if organization.require_second_factor and not has_second_factor(request.user):
        raise SecondFactorRequired(organization)
    request.organization = organization  # type: ignore[attr-defined]
    return organization


def require_org_perm(request: HttpRequest, organization: Organization, perm: str) -> None:
    """For views: 403 for a member of the organization without `perm`, once the object the
    page is about was found in it."""
    require_perm(request.user, organization, perm)  # type: ignore[arg-type]


def client_ip(request: HttpRequest | None) -> str | None:
    """The address the request came from (REMOTE_ADDR; put a proxy's own header handling
    in front of Django rather than trusting X-Forwarded-For here)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None
