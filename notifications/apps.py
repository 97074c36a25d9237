from django.apps import AppConfig

from credentials import hooks


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .services import credential_emails_section, rotation_emails_record

        hooks.register(hooks.ROTATION_OUTCOME_HANDLERS, rotation_emails_record)
        hooks.register(hooks.HISTORY_SECTIONS, credential_emails_section)
