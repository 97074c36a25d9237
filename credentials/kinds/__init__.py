"""The registry of kinds of credential: each key of credentials.models.Kind maps to the one
CredentialKind that knows it (its module in this package), as healthchecks maps a channel's
kind to its transport. Everything that depends on a credential's kind asks here; a key that is
not registered raises UnknownKind, so no code path falls through to another kind's rules.

Adding a kind: README, "Adding a kind of credential".
"""

from __future__ import annotations

from organizations.models import Organization, User

from ..errors import UnknownKind
from .api_client_secret import ApiClientSecret
from .api_key import ApiKey
from .as2_certificate import As2Certificate
from .base import CredentialKind
from .families import FAMILIES, Family, FamilyInfo
from .sftp_key import SftpKey
from .sftp_password import SftpPassword

__all__ = ["FAMILIES", "KINDS", "CredentialKind", "Family", "FamilyInfo", "UnknownKind",
           "families_managed_by", "interchangeable", "kind_choices", "kind_for",
           "kinds_in_family", "kinds_managed_by"]

# In the order of credentials.models.Kind: lists and menus show kinds in this order.
KINDS: dict[str, CredentialKind] = {
    kind.key: kind
    for kind in (SftpPassword(), SftpKey(), As2Certificate(), ApiClientSecret(), ApiKey())
}


def kind_for(key: str) -> CredentialKind:
    try:
        return KINDS[key]
    except KeyError:
        raise UnknownKind(key) from None


def kind_choices() -> list[tuple[str, str]]:
    return [(kind.key, kind.label) for kind in KINDS.values()]


def kinds_in_family(family: str) -> tuple[str, ...]:
    return tuple(kind.key for kind in KINDS.values() if kind.family == family)


def interchangeable(key: str, other: str) -> bool:
    """Whether a rotation may switch a credential of kind `key` to material of kind `other`,
    keeping its identity and connections: the same kind, or two ways of logging in to SFTP
    (password and key: every SFTP connection takes both; the headless API's auth_type)."""
    if key == other:
        return True
    return bool(kind_for(key).sftp_login and kind_for(other).sftp_login)


def families_managed_by(user: User, organization: Organization) -> list[str]:
    """The families the user may manage in the organization."""
    return [family.key for family in FAMILIES.values()
            if user.has_org_perm(organization, family.manage_perm)]


def kinds_managed_by(user: User, organization: Organization) -> list[str]:
    families = families_managed_by(user, organization)
    return [kind.key for kind in KINDS.values() if kind.family in families]
