"""Applying managed imports: pending imports received (by upload, from the drop folder,
imports.drop_folder) or discarded, payloads opened, and added as a new credential or applied
to an existing one through a rotation. Each write runs in one transaction and audits in it;
the export is imports.export.

Payloads are decrypted before the transaction opens: scrypt costs tens of milliseconds and
must not hold database locks. Neither the payload's secret nor its password is ever logged,
audited or put in an exception message.
"""

from __future__ import annotations

import os
import re
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.services import audit_record
from credentials.errors import CredentialError
from credentials.kinds import families_managed_by, kind_for
from credentials.models import Credential
from credentials.rotation.requests import rotation_rotate_now
from credentials.services import credential_create, current_version, version_summary
from credentials.templatetags.keyturn import format_when
from organizations.access import Actor, require_perm, user_of
from organizations.models import BusinessUnit, Organization, User

from . import payload
from .models import ImportAction, ImportState, PendingImport


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


def is_import_admin(user: User, organization: Organization) -> bool:
    """Administrators of imports: anyone who may manage some family of credentials."""
    return bool(families_managed_by(user, organization))


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
                details={"file": file_name, "sha256": payload.sha256_hex(data), "stage": exc.stage,
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
        details={"action": action, "file": file_name, "sha256": payload.sha256_hex(data),
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
    digest = payload.sha256_hex(data)
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
