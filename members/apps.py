import re

from django.apps import AppConfig

from config.redaction import redact_paths

# An invitation link's token (members.services: 32 random bytes, base64url) in its path: while
# the invitation is open, anyone holding it may join the organization.
INVITATION_IN_PATH = re.compile(r"/invitations/[A-Za-z0-9_-]{43}")


class MembersConfig(AppConfig):
    """Who belongs to an organization, in which role: invitations, role changes, removal,
    and disabling a user. Above audit, since every change here is audited."""

    name = "members"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        redact_paths(INVITATION_IN_PATH, "/invitations/<token>")
