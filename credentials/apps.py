from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CredentialsConfig(AppConfig):
    name = "credentials"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401 (registers the start-up checks of the keys)
            hooks,
        )
        from .schedules import schedules_install
        from .usage_views import usage_section

        post_migrate.connect(schedules_install, sender=self, dispatch_uid="keyturn-schedules")
        # Its own Details section, before those of the apps above (their ready() runs later).
        hooks.register(hooks.DETAIL_SECTIONS, usage_section)
