from django.apps import AppConfig

from credentials import hooks


class HandoffsConfig(AppConfig):
    name = "handoffs"
    verbose_name = "Partner hand-offs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import redaction
        from .views import handoff_menu_entries, handoffs_section

        hooks.register(hooks.MANAGE_ACTIONS, handoff_menu_entries)
        hooks.register(hooks.DETAIL_SECTIONS, handoffs_section)
        redaction.install()
