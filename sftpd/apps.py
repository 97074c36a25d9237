from django.apps import AppConfig


class SftpdConfig(AppConfig):
    name = "sftpd"
    default_auto_field = "django.db.models.BigAutoField"
