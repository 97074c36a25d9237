import sys

from django.core.management.base import BaseCommand

from credentials.crypto import key_ring
from credentials.services import secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypts every stored secret under the newest key of KEYTURN_ENCRYPTION_KEYS. "
        "Safe to interrupt and run again: it resumes with what is left."
    )

    def add_arguments(self, parser: object) -> None:
        parser.add_argument("--batch-size", type=int, default=200)  # type: ignore[attr-defined]

    def handle(self, *args: object, batch_size: int, **options: object) -> None:
        ring = key_ring()
        done = total = 0
        for done, total in secrets_reencrypt(batch_size=batch_size):
            width = 30
            filled = width * done // max(total, 1)
            self.stdout.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending=""
            )
            self.stdout.flush()
        if total:
            self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(f"{done} secrets re-encrypted; all are under key "
                               f"{ring.current_key_id!r}.")
        )
        sys.stdout.flush()
