from django.apps import AppConfig

from credentials import hooks


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partner contacts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .views import connection_contacts_section, credential_contacts_section

        hooks.register(hooks.CONNECTION_SECTIONS, connection_contacts_section)
        hooks.register(hooks.DETAIL_SECTIONS, credential_contacts_section)
