"""Roles and the permissions each grants: the one place that decides who may do what."""

from django.db import models


class Perm(models.TextChoices):
    MANAGE_SFTP = "manage_sftp", "Manage SFTP Credentials"
    MANAGE_AS2 = "manage_as2", "Manage AS2 Certificates"
    MANAGE_API = "manage_api", "Manage API Credentials"
    REVEAL = "reveal_secrets", "Reveal secrets"
    VIEW_AUDIT = "view_audit", "View audit trail"
    MANAGE_MEMBERS = "manage_members", "Manage members"
    MANAGE_API_KEYS = "manage_api_keys", "Manage API keys"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Credential manager"
    REVIEWER = "reviewer", "Security reviewer"
    VIEWER = "viewer", "Viewer"


ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(Perm.values),
    Role.MANAGER: frozenset(
        {Perm.MANAGE_SFTP, Perm.MANAGE_AS2, Perm.MANAGE_API, Perm.REVEAL, Perm.VIEW_AUDIT}
    ),
    # Security staff see every status page and the whole audit trail, and change nothing.
    Role.REVIEWER: frozenset({Perm.VIEW_AUDIT}),
    Role.VIEWER: frozenset(),
}


def role_has_perm(role: str, perm: str) -> bool:
    return perm in ROLE_PERMISSIONS.get(role, frozenset())
