import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from credentials.crypto import MaterialError
from credentials.errors import CredentialError
from credentials.models import Credential
from credentials.services import current_version
from imports import payload
from imports.management.passwords import read_password
from imports.services import import_add, import_replace
from organizations.access import SYSTEM
from organizations.models import Organization

PASSWORD_ENV = "KEYTURN_IMPORT_PASSWORD"


class Command(BaseCommand):
    help = (
        "Imports a managed credential payload into an organization, as a new credential "
        "(--new) or as an immediate rotation of an existing one (--replace UUID). The "
        f"password comes from ${PASSWORD_ENV} or is asked for. A refused file changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--org", required=True, help="the organization's slug")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--new", action="store_true", help="add as a new credential")
        target.add_argument("--replace", type=uuid.UUID, metavar="CREDENTIAL",
                            help="update this existing credential (same kind) by a rotation")
        parser.add_argument("--business-unit", help="for --new: the unit's slug (default: "
                                                    "the one the payload names)")
        parser.add_argument("--name", help="for --new: the name (default: the payload's)")

    def handle(self, *args: object, file: Path, org: str, new: bool, replace: uuid.UUID | None,
               business_unit: str | None, name: str | None, **options: object) -> None:
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization has the slug {org!r}.")
        data = self._read(file)
        unit = None
        if business_unit:
            unit = organization.business_units.filter(slug=business_unit).first()
            if unit is None:
                raise CommandError(f"{organization.name} has no business unit {business_unit!r}.")
        credential = None
        if replace is not None:
            credential = Credential.objects.select_related("business_unit").filter(
                pk=replace, business_unit__organization=organization).first()
            if credential is None:
                raise CommandError(f"{organization.name} has no credential {replace}.")
        password = read_password(PASSWORD_ENV)
        common = {"organization": organization, "data": data, "password": password,
                  "actor": SYSTEM, "file_name": file.name}
        try:
            if credential is None:
                result = import_add(business_unit=unit, name=name, **common)
            else:
                result = import_replace(credential=credential, **common)
        except (payload.PayloadError, CredentialError, MaterialError) as exc:
            raise CommandError(
                f"{file.name} was refused; nothing was changed. "
                f"{getattr(exc, 'message', None) or exc}"
            ) from None
        version = current_version(result)
        verb = "Added" if credential is None else "Updated"
        self.stdout.write(f"{verb} “{result.name}” ({result.pk}): version {version.number} "
                          "is current.")

    def _read(self, file: Path) -> bytes:
        try:
            with file.open("rb") as handle:
                return handle.read(payload.MAX_PAYLOAD_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
