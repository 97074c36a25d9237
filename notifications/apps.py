from django.apps import AppConfig

from credentials import hooks


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from .services import credential_emails_section, emails_warm_up, rotation_emails_record

        hooks.register(hooks.ROTATION_OUTCOME_HANDLERS, rotation_emails_record)
        hooks.register(hooks.HISTORY_SECTIONS, credential_emails_section)
        post_spawn.connect(emails_warm_up, dispatch_uid="keyturn-emails-warm-up")
