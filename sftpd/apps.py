from django.apps import AppConfig

from credentials import hooks


class SftpdConfig(AppConfig):
    name = "sftpd"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from credentials.models import ConnectionKind

        from .client import connection_test

        # Rotations that ask for it test outbound SFTP connections with the new material.
        hooks.CONNECTION_TESTERS[ConnectionKind.OUTBOUND_SFTP] = connection_test
