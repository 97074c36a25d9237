import os
import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from credentials.errors import CredentialError
from credentials.models import Credential
from imports import payload
from imports.export import credential_export
from imports.management.passwords import read_password
from organizations.access import SYSTEM

PASSWORD_ENV = "KEYTURN_EXPORT_PASSWORD"


class Command(BaseCommand):
    help = (
        "Writes a credential's current version as a managed credential payload encrypted "
        f"with a password (from ${PASSWORD_ENV}, or asked for). Audited as credential.export."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("credential", type=uuid.UUID, help="the credential's id (UUID)")
        parser.add_argument("--out", required=True, type=Path, help="file to write")
        parser.add_argument("--force", action="store_true", help="overwrite the file")

    def handle(self, *args: object, credential: uuid.UUID, out: Path, force: bool,
               **options: object) -> None:
        found = Credential.objects.select_related("business_unit").filter(pk=credential).first()
        if found is None:
            raise CommandError(f"No credential has the id {credential}.")
        if out.exists() and not force:
            raise CommandError(f"{out} exists; pass --force to overwrite it.")
        password = read_password(PASSWORD_ENV, confirm=True)
        try:
            data = credential_export(credential=found, password=password, actor=SYSTEM)
        except (payload.PayloadError, CredentialError) as exc:
            raise CommandError(getattr(exc, "message", None) or str(exc)) from None
        # Owner-only from the first byte: the payload is encrypted, but it is still a copy.
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
        with os.fdopen(os.open(out, flags, 0o600), "wb") as handle:
            handle.write(data)
        self.stdout.write(
            f"Exported “{found.name}” ({found.get_kind_display()}) to {out}; "
            f"sha256 {payload.sha256_hex(data)}."
        )
