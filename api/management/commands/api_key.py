"""`manage.py api_key create|list|revoke`: API keys for automation, as the portal makes them.

    manage.py api_key create --org acme --name "ERP sync"   # prints the key, once
    manage.py api_key list --org acme
    manage.py api_key revoke --org acme --prefix 1a2b3c4d5e6f
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from api.services import ApiKeyError, api_key_create, api_key_revoke
from organizations.access import SYSTEM
from organizations.models import Organization


class Command(BaseCommand):
    help = "Create, list or revoke the API keys of an organization."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a key and print it (only this once).")
        create.add_argument("--org", required=True, help="Organization slug.")
        create.add_argument("--name", required=True, help="What uses the key.")
        listing = actions.add_parser("list", help="List keys (never the keys themselves).")
        listing.add_argument("--org", required=True, help="Organization slug.")
        revoke = actions.add_parser("revoke", help="Revoke a key.")
        revoke.add_argument("--org", required=True, help="Organization slug.")
        revoke.add_argument("--prefix", required=True,
                            help="The 12 characters after kt_ (shown by `list`).")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization with the slug {options['org']!r}.")
        getattr(self, f"_{options['action']}")(organization, options)

    def _create(self, organization: Organization, options: dict[str, Any]) -> None:
        try:
            api_key, plaintext = api_key_create(
                organization=organization, name=options["name"], actor=SYSTEM, now=timezone.now()
            )
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Created the API key {api_key.name!r} ({api_key.display_prefix}) for "
                          f"{organization.name}. It is shown only now:")
        self.stdout.write(plaintext)

    def _list(self, organization: Organization, options: dict[str, Any]) -> None:
        keys = organization.api_keys.all()
        if not keys:
            self.stdout.write("No API keys.")
        for key in keys:
            status = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            self.stdout.write(f"{key.prefix}  {status:<24} last used {used:<16}  {key.name}")

    def _revoke(self, organization: Organization, options: dict[str, Any]) -> None:
        prefix = options["prefix"].removeprefix("kt_").split("_")[0]
        api_key = organization.api_keys.filter(prefix=prefix).first()
        if api_key is None:
            raise CommandError(f"{organization.name} has no API key with the prefix {prefix!r}.")
        if api_key_revoke(api_key=api_key, actor=SYSTEM, now=timezone.now()):
            self.stdout.write(f"Revoked the API key {api_key.name!r} ({api_key.display_prefix}).")
        else:
            self.stdout.write(f"The API key {api_key.name!r} was already revoked.")

