from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from credentials.rotation import ROTATION_OUTCOME_HANDLERS

        from .services import rotation_email_record

        if rotation_email_record not in ROTATION_OUTCOME_HANDLERS:
            ROTATION_OUTCOME_HANDLERS.append(rotation_email_record)
