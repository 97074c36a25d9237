from django.apps import AppConfig


class MembersConfig(AppConfig):
    """Who belongs to an organization, in which role: invitations, role changes, removal,
    and disabling a user. Above audit, since every change here is audited."""

    name = "members"
    default_auto_field = "django.db.models.BigAutoField"
