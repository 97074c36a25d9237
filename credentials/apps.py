from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CredentialsConfig(AppConfig):
    name = "credentials"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the start-up checks of the keys)
        from .schedules import schedules_install

        post_migrate.connect(schedules_install, sender=self, dispatch_uid="keyturn-schedules")
