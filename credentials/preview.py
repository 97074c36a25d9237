"""What a change of material will look like before it happens, in public values only: the
Change Credential wizard and managed imports show it before their migration. Each kind says
which of its values are public (credentials.kinds); when the new version will expire is what
credentials.lifecycle decides for the service that will store it. A secret is only ever said
to be replaced, never shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .kinds import kind_for
from .kinds.base import PublicSide
from .lifecycle import Expiry, first_version_expiry, rotated_version_expiry
from .material import Material
from .models import DEFAULT_LIFETIME_DAYS, Credential, CredentialVersion
from .services import current_version
from .templatetags.keyturn import format_when

VALID_UNTIL = "Valid until"


@dataclass(frozen=True)
class PreviewRow:
    label: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _when(value: datetime | None) -> str:
    # The portal's display helper: it shows any stored time, even one no zone can hold.
    return format_when(value) if value else "—"


def _public_values(side: PublicSide, kind: str) -> list[tuple[str, str]]:
    return [(label, value or "—") for label, value in kind_for(kind).public_values(side)]


def version_public_values(version: CredentialVersion | None, kind: str) -> list[tuple[str, str]]:
    """The public side of a stored version and its expiry, from its clear columns (nothing is
    decrypted); every value "—" when there is no version."""
    if version is None:
        blank = Material(kind=kind, secret="")
        return [(label, "—") for label, _ in _public_values(blank, kind)] + [(VALID_UNTIL, "—")]
    return [*_public_values(version, kind), (VALID_UNTIL, _when(version.valid_until))]


def _expiry_text(expiry: Expiry, start: str) -> str:
    """The lifecycle's answer in words: a lifetime counts from `start`, a moment the preview
    cannot know to the second."""
    if expiry.lifetime_days is not None:
        return f"{expiry.lifetime_days} days after {start}"
    return _when(expiry.at)


def rotation_preview(*, credential: Credential, name: str,
                     material: Material) -> list[PreviewRow]:
    """Old against new for a migration of `credential` to `material`: an immediate rotation
    (credentials.rotation.requests.rotation_rotate_now) that also names it `name`."""
    old_version = current_version(credential)
    old = dict(version_public_values(old_version, material.kind))
    expiry = rotated_version_expiry(
        credential=credential, material_valid_until=material.valid_until,
        current_valid_until=old_version.valid_until if old_version else None,
    )
    rows = [PreviewRow("Name", credential.name, name)]
    rows += [PreviewRow(label, old.get(label, "—"), value)
             for label, value in _public_values(material, material.kind)]
    rows.append(PreviewRow(VALID_UNTIL, old[VALID_UNTIL], _expiry_text(expiry, "the migration")))
    rows.append(PreviewRow("Secret", "current secret", "replaced (not shown)"))
    return rows


def creation_preview(*, name: str, material: Material,
                     valid_until: datetime | None) -> list[PreviewRow]:
    """What credential_create will store for `material`, given `valid_until` (or none)."""
    expiry = first_version_expiry(
        material_valid_until=material.valid_until, given=valid_until,
        expires_by_default=kind_for(material.kind).automatic_by_default,
        lifetime_days=DEFAULT_LIFETIME_DAYS,
    )
    rows = [PreviewRow("Name", "—", name)]
    rows += [PreviewRow(label, "—", value)
             for label, value in _public_values(material, material.kind)]
    rows.append(PreviewRow(VALID_UNTIL, "—", _expiry_text(expiry, "it is added")))
    rows.append(PreviewRow("Secret", "—", "new (not shown)"))
    return rows


def material_headline(material: Material) -> str:
    """New material in a line, for the message after a migration: its public values, but
    the key's type and size, which tell no two keys apart."""
    return ", ".join(f"{label} {value}" for label, value in _public_values(material, material.kind)
                     if label != "Key")
