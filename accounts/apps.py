import re

from django.apps import AppConfig
from django.db.models.signals import post_migrate

from config.redaction import redact_paths

# A password reset link's key in its path (allauth's /accounts/password/reset/key/<uid>-<key>/;
# the page it redirects to, .../<uid>-set-password/, holds none): for an hour it sets the
# account's password.
RESET_KEY_IN_PATH = re.compile(r"/accounts/password/reset/key/[0-9A-Za-z]+-(?!set-password/)"
                               r"[^/\s\"]+")


class AccountsConfig(AppConfig):
    """Keyturn's part of accounts, on top of django-allauth: re-authentication before
    sensitive acts, an organization's second-factor rule, the profile page, and the audit
    events of what allauth's flows change. Above audit, below members (whose pages require
    re-authentication)."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from allauth.mfa.signals import (
            authenticator_added,
            authenticator_removed,
            authenticator_reset,
        )

        from .cache import cache_table_create
        from .receivers import recovery_codes_reset, second_factor_added, second_factor_removed

        post_migrate.connect(cache_table_create, sender=self, dispatch_uid="keyturn-cache-table")
        authenticator_added.connect(second_factor_added, dispatch_uid="keyturn-factor-added")
        authenticator_removed.connect(second_factor_removed,
                                      dispatch_uid="keyturn-factor-removed")
        authenticator_reset.connect(recovery_codes_reset, dispatch_uid="keyturn-codes-reset")
        redact_paths(RESET_KEY_IN_PATH, "/accounts/password/reset/key/<key>")
