"""Writes of the imports app: managed imports (add as new or update an existing credential
through a rotation), the export, and pending imports received by upload or from the drop
folder. Each write runs in one transaction and audits in it.

Payloads are decrypted before the transaction opens: scrypt costs tens of milliseconds and
must not hold database locks. Neither the payload's secret nor its password is ever logged,
audited or put in an exception message.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.services import audit_record
from config.files import private_dir
from credentials.errors import CredentialError
from credentials.kinds import families_managed_by, kind_for
from credentials.models import Credential
from credentials.rotation.requests import rotation_rotate_now
from credentials.services import (
    credential_create,
    current_version,
    version_secret,
    version_summary,
)
from credentials.templatetags.keyturn import format_when
from organizations.access import SYSTEM, Actor, require_perm, user_of
from organizations.models import BusinessUnit, Organization, User

from . import payload
from .models import ImportAction, ImportSource, ImportState, PendingImport

logger = logging.getLogger(__name__)


class ImportRefused(CredentialError):
    """An import the rules refuse; the message is safe to show and to audit."""


class DuplicateImport(ImportRefused):
    def __init__(self, existing: PendingImport) -> None:
        when = format_when(existing.created_at)
        super().__init__(
            f"This file was already received on {when} "
            f"({existing.get_state_display().lower()}): the same payload counts once."
        )
        self.existing = existing


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_import_admin(user: User, organization: Organization) -> bool:
    """Administrators of imports: anyone who may manage some family of credentials."""
    return bool(families_managed_by(user, organization))


# --- Export ------------------------------------------------------------------------------


@sensitive_variables("password", "secret", "content")
def credential_export(
    *,
    credential: Credential,
    password: str,
    actor: Actor,
    via: str = "manage.py export_credential",
    now: datetime | None = None,
    kdf: dict[str, int] | None = None,
) -> bytes:
    """The credential's current version as a payload sealed with `password`; audited as
    credential.export (what was exported and the payload's hash, never the secret)."""
    now = now or timezone.now()
    require_perm(actor, credential.organization, credential.manage_perm)
    version = current_version(credential)
    if version is None:
        raise ImportRefused("This credential has no current version to export.")
    secret = version_secret(version)
    content: dict[str, object] = {
        "kind": credential.kind,
        "name": credential.name,
        "business_unit": credential.business_unit.slug,
        "material": credential.kind_spec.to_payload(version, secret),
        "exported_at": now.isoformat(),
        "source": f"keyturn credential {credential.pk} version {version.number}",
    }
    if version.valid_until is not None and not credential.kind_spec.expiry_from_material:
        content["valid_until"] = version.valid_until.isoformat()
    data = payload.seal(content, password, **(kdf or {}))
    with transaction.atomic():
        audit_record(
            action="credential.export", actor=actor,
            organization=credential.business_unit.organization, target=credential,
            details={**version_summary(version), "sha256": sha256_hex(data), "via": via},
        )
    return data


# --- Opening payloads --------------------------------------------------------------------


def client_id_kept_by(credential: Credential | None) -> str:
    """The client id a payload that replaces `credential` may keep though no new id could
    have it (credentials.material.CLIENT_ID_RE)."""
    version = current_version(credential) if credential is not None else None
    return version.client_id if version is not None else ""


@sensitive_variables("password")
def import_open(
    *,
    organization: Organization,
    data: bytes,
    password: str,
    actor: Actor,
    file_name: str,
    pending: PendingImport | None = None,
    source_ip: str | None = None,
    replacing: Credential | None = None,
) -> payload.ManagedCredential:
    """Decrypts and validates a payload (for `replacing`, if it would replace a credential).
    A refusal is audited (the reason, never the password) and, when the content itself is
    unacceptable, the pending import is marked failed: no password will ever make it
    acceptable."""
    try:
        return payload.open_payload(data, password,
                                    current_client_id=client_id_kept_by(replacing))
    except payload.PayloadError as exc:
        with transaction.atomic():
            if pending is not None and exc.stage == "content":
                PendingImport.objects.filter(pk=pending.pk, state=ImportState.PENDING).update(
                    state=ImportState.FAILED, result_note=exc.message, decided_by=user_of(actor),
                    decided_at=timezone.now(),
                )
            audit_record(
                action="import.refuse", actor=actor, organization=organization,
                target=pending, target_label=file_name,
                source_ip=source_ip,
                details={"file": file_name, "sha256": sha256_hex(data), "stage": exc.stage,
                         "reason": exc.message},
            )
        raise


def _claim(pending: PendingImport | None, *, action: str, actor: Actor,
           now: datetime) -> None:
    """Takes the pending import for this migration, inside its transaction: a second
    confirmation (another tab, another administrator) finds it no longer pending."""
    if pending is None:
        return
    claimed = PendingImport.objects.filter(pk=pending.pk, state=ImportState.PENDING).update(
        state=ImportState.APPLIED, action=action, decided_by=user_of(actor), decided_at=now
    )
    if claimed != 1:
        raise ImportRefused("This import was already handled; nothing was changed.")


def _apply_record(*, pending: PendingImport | None, organization: Organization,
                  credential: Credential, action: str, note: str, actor: Actor,
                  file_name: str, data: bytes, source_ip: str | None) -> None:
    if pending is not None:
        PendingImport.objects.filter(pk=pending.pk).update(credential=credential,
                                                           result_note=note)
    version = current_version(credential)
    audit_record(
        action="import.apply", actor=actor, organization=organization, target=credential,
        source_ip=source_ip,
        details={"action": action, "file": file_name, "sha256": sha256_hex(data),
                 "import": str(pending.pk) if pending else None,
                 "source": pending.source if pending else "command line",
                 "to": version_summary(version) if version else None},
    )


@sensitive_variables("password", "managed")
def import_add(
    *,
    organization: Organization,
    data: bytes,
    password: str,
    actor: Actor,
    business_unit: BusinessUnit | None = None,
    name: str | None = None,
    pending: PendingImport | None = None,
    file_name: str = "",
    source_ip: str | None = None,
    now: datetime | None = None,
) -> Credential:
    """Adds the payload's credential as a new credential (in `business_unit`, else the unit
    the payload names)."""
    now = now or timezone.now()
    managed = import_open(organization=organization, data=data, password=password, actor=actor,
                          file_name=file_name, pending=pending, source_ip=source_ip)
    if business_unit is None:
        business_unit = organization.business_units.filter(slug=managed.business_unit).first()
        if business_unit is None:
            raise ImportRefused(
                f"The payload's business unit {managed.business_unit[:60]!r} is not in "
                f"{organization.name}; choose one.", field="business_unit",
            )
    if business_unit.organization_id != organization.pk:
        raise ImportRefused("Choose a business unit of this organization.",
                            field="business_unit")
    require_perm(actor, organization, kind_for(managed.kind).manage_perm)
    with transaction.atomic():
        _claim(pending, action=ImportAction.ADD, actor=actor, now=now)
        credential = credential_create(
            business_unit=business_unit, kind=managed.kind, name=name or managed.name,
            material=managed.material, valid_until=managed.valid_until, actor=actor,
            source_ip=source_ip, now=now,
        )
        _apply_record(
            pending=pending, organization=organization, credential=credential,
            action=ImportAction.ADD, actor=actor, file_name=file_name, data=data,
            source_ip=source_ip,
            note=f"Added as new credential “{credential.name}” in {business_unit.name}.",
        )
    return credential


@sensitive_variables("password", "managed")
def import_replace(
    *,
    organization: Organization,
    data: bytes,
    password: str,
    credential: Credential,
    actor: Actor,
    pending: PendingImport | None = None,
    file_name: str = "",
    source_ip: str | None = None,
    now: datetime | None = None,
) -> Credential:
    """Updates an existing credential with the payload's material: an immediate rotation with
    all its guarantees (the old version stays current unless the switch commits). The import
    is marked applied in the switch transaction; a rotation that fails is recorded on the
    credential's History tab and the import stays pending."""
    now = now or timezone.now()
    managed = import_open(organization=organization, data=data, password=password, actor=actor,
                          file_name=file_name, pending=pending, source_ip=source_ip,
                          replacing=credential)
    check_replace_target(managed=managed, credential=credential, organization=organization)
    require_perm(actor, organization, kind_for(managed.kind).manage_perm)
    if pending is not None and not PendingImport.objects.filter(
            pk=pending.pk, state=ImportState.PENDING).exists():
        raise ImportRefused("This import was already handled; nothing was changed.")

    def record(locked: Credential) -> None:
        _claim(pending, action=ImportAction.UPDATE, actor=actor, now=now)
        version = current_version(locked)
        _apply_record(
            pending=pending, organization=organization, credential=locked,
            action=ImportAction.UPDATE, actor=actor, file_name=file_name, data=data,
            source_ip=source_ip,
            note=f"Updated “{locked.name}”: version {version.number} is current.",
        )

    rotation_rotate_now(
        credential=credential, material=managed.material, actor=actor,
        reason=f"Managed import {file_name}"[:500], source_ip=source_ip, now=now,
        with_switch=record,
    )
    return Credential.objects.get(pk=credential.pk)


def check_replace_target(*, managed: payload.ManagedCredential, credential: Credential,
                         organization: Organization) -> None:
    if credential.business_unit.organization_id != organization.pk:
        raise ImportRefused("Choose a credential of this organization.", field="credential")
    if credential.kind != managed.kind:
        raise ImportRefused(
            f"This payload holds {kind_for(managed.kind).label}, but “{credential.name}” is "
            f"{credential.get_kind_display()}. Choose a credential of the same kind.",
            field="credential",
        )


# --- Pending imports ---------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^\w .@()+,=-]")


def clean_file_name(name: str) -> str:
    """A display name for a received file: its base name, printable, at most 255 chars."""
    base = os.path.basename(name.replace("\\", "/")) or "payload"
    return _UNSAFE_NAME.sub("_", base)[:255]


def pending_import_receive(
    *,
    organization: Organization,
    data: bytes,
    file_name: str,
    source: str,
    actor: Actor,
    source_ip: str | None = None,
) -> PendingImport:
    """Queues a payload for an administrator. The file is checked as far as it can be
    without the password (size, format, version, KDF bounds) and counted once per
    organization by its SHA-256."""
    payload.read_envelope(data)
    digest = sha256_hex(data)
    file_name = clean_file_name(file_name)
    with transaction.atomic():
        existing = PendingImport.objects.filter(organization=organization, sha256=digest).first()
        if existing is not None:
            raise DuplicateImport(existing)
        try:
            with transaction.atomic():
                pending = PendingImport.objects.create(
                    organization=organization, source=source, uploaded_by=user_of(actor),
                    file_name=file_name, payload=data, sha256=digest,
                )
        except IntegrityError:  # another worker queued the same file a moment ago
            raise DuplicateImport(
                PendingImport.objects.get(organization=organization, sha256=digest)
            ) from None
        audit_record(
            action="import.receive", actor=actor, organization=organization, target=pending,
            source_ip=source_ip,
            details={"file": file_name, "sha256": digest, "source": source,
                     "bytes": len(data)},
        )
    return pending


@transaction.atomic
def pending_import_discard(
    *, pending: PendingImport, actor: User, source_ip: str | None = None,
    now: datetime | None = None,
) -> PendingImport:
    now = now or timezone.now()
    if not is_import_admin(actor, pending.organization):
        raise ImportRefused("You may not handle imports in this organization.")
    changed = PendingImport.objects.filter(pk=pending.pk, state=ImportState.PENDING).update(
        state=ImportState.DISCARDED, decided_by=user_of(actor), decided_at=now,
        result_note=f"Discarded by {actor.get_username()}.",
    )
    if changed != 1:
        raise ImportRefused("This import was already handled.")
    audit_record(
        action="import.discard", actor=actor, organization=pending.organization,
        target=pending, source_ip=source_ip,
        details={"file": pending.file_name, "sha256": pending.sha256},
    )
    pending.refresh_from_db()
    return pending


# --- The drop folder ---------------------------------------------------------------------

PROCESSED_DIR = "processed"
REJECTED_DIR = "rejected"
# Senders write under a temporary name and rename when done; these are still being written.
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


@dataclass
class ScanResult:
    received: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"received": len(self.received), "duplicates": len(self.duplicates),
                "rejected": len(self.rejected)}


def _move_aside(path: Path, folder: Path, note: str | None = None) -> Path:
    """Moves a handled file into `folder` under a name that does not overwrite another."""
    private_dir(folder)
    target = folder / path.name
    if target.exists() or target.is_symlink():
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    os.replace(path, target)
    if note is not None:
        target.with_name(target.name + ".note.txt").write_text(note + "\n")
    return target


def _waiting_files(folder: Path) -> list[Path]:
    return sorted(
        path for path in folder.iterdir()
        if not path.name.startswith(".") and not path.name.endswith(IN_PROGRESS_SUFFIXES)
        and (path.is_file() or path.is_symlink()) and not path.is_dir()
    )


def _read_bounded(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(payload.MAX_PAYLOAD_BYTES + 1)


def _reject(path: Path, folder: Path, reason: str, result: ScanResult) -> None:
    logger.warning("drop folder: rejected %s: %s", path, reason)
    _move_aside(path, folder, note=f"Rejected {timezone.now().isoformat()}: {reason}")
    result.rejected.append(str(path))


def drop_folder_scan(*, root: Path) -> ScanResult:
    """Turns each file waiting in `root/<organization slug>/` into a pending import and moves
    it to that folder's processed/ (received or a duplicate) or rejected/ (with a .note.txt
    saying why). Files directly in `root` or in a folder that names no organization are
    rejected into `root/rejected/`. One file at a time; safe to run twice at once: the
    database counts a payload once per organization, and a file already moved is skipped."""
    result = ScanResult()
    private_dir(root)
    organizations = {org.slug: org for org in Organization.objects.all()}
    for path in _waiting_files(root):
        _reject(path, root / REJECTED_DIR,
                "files go into a sub-folder named after the organization's slug", result)
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        if folder.name in (PROCESSED_DIR, REJECTED_DIR) or folder.name.startswith("."):
            continue
        organization = organizations.get(folder.name)
        for path in _waiting_files(folder):
            try:
                _scan_one(path, folder, organization, result)
            except FileNotFoundError:
                continue  # another scan moved it first
    if any(result.as_dict().values()):
        logger.info("drop folder %s: %s", root, result.as_dict())
    return result


def _scan_one(path: Path, folder: Path, organization: Organization | None,
              result: ScanResult) -> None:
    if organization is None:
        _reject(path, folder.parent / REJECTED_DIR / folder.name,
                f"no organization has the slug {folder.name!r}", result)
        return
    if path.is_symlink():
        _reject(path, folder / REJECTED_DIR, "symbolic links are not followed", result)
        return
    data = _read_bounded(path)
    try:
        pending_import_receive(organization=organization, data=data, file_name=path.name,
                               source=ImportSource.DROP_FOLDER, actor=SYSTEM)
    except payload.PayloadError as exc:
        _reject(path, folder / REJECTED_DIR, exc.message, result)
        return
    except DuplicateImport:
        logger.info("drop folder: %s was already received; ignored", path)
        _move_aside(path, folder / PROCESSED_DIR)
        result.duplicates.append(str(path))
        return
    _move_aside(path, folder / PROCESSED_DIR)
    result.received.append(str(path))
