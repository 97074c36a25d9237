import re

from django.apps import AppConfig

from config.redaction import redact_paths
from credentials import hooks


class HandoffsConfig(AppConfig):
    name = "handoffs"
    verbose_name = "Partner hand-offs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .services import TOKEN_PATTERN
        from .views import handoff_menu_entries, handoffs_section

        hooks.register(hooks.MANAGE_ACTIONS, handoff_menu_entries)
        hooks.register(hooks.DETAIL_SECTIONS, handoffs_section)
        # A link's token is in its path: while the link is open, whoever reads it may use it.
        redact_paths(re.compile(rf"/handoff/{TOKEN_PATTERN}"), "/handoff/<token>")
