from django.core.management.base import BaseCommand

from credentials.crypto import new_key_spec_entry


class Command(BaseCommand):
    help = "Prints a new key entry to put first in KEYTURN_ENCRYPTION_KEYS."

    def add_arguments(self, parser: object) -> None:
        parser.add_argument("key_id", help="a short name such as k2 (letters and digits)")  # type: ignore[attr-defined]

    def handle(self, *args: object, key_id: str, **options: object) -> None:
        self.stdout.write(new_key_spec_entry(key_id))
