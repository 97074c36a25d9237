"""Automatic rotation: 30 days before the current version expires, a new version is
prepared that works at once beside the old one; its first successful use (a token request,
an SFTP login) makes it current, exactly once however many requests race."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record, audit_record_many
from organizations.access import SYSTEM

from ..errors import log_failure
from ..lifecycle import AUTOMATIC_LEAD_TIME, automatic_version_valid_until
from ..material import Material
from ..models import (
    Credential,
    CredentialVersion,
    Rotation,
    RotationMode,
    RotationState,
    VersionState,
)
from ..services import credential_lock, version_build, version_new, version_summary
from .engine import announce, switch_versions, take_kind, withdraw_pending

logger = logging.getLogger(__name__)


@transaction.atomic
def rotation_prepare_automatic(
    *, credential: Credential, material: Material | None = None, now: datetime | None = None
) -> Rotation | None:
    """For a credential under automatic rotation whose current version expires within 30
    days: creates the new pending version (it works at once, alongside the old one) and an
    open automatic rotation that completes on the new version's first successful use.

    Returns None, changing nothing, when it is not due or a rotation is already open."""
    now = now or timezone.now()
    credential = credential_lock(credential)
    current = credential.versions.filter(state=VersionState.CURRENT).first()
    if (
        not credential.is_active or current is None or current.valid_until is None
        or current.valid_until - now > AUTOMATIC_LEAD_TIME
        or credential.rotations.open().exists()
    ):
        return None
    material = material or credential.kind_spec.generate(
        current=current, name=credential.name, days=credential.lifetime_days, now=now)
    withdraw_pending(credential, now)
    pending = version_build(
        credential=credential, material=material, state=VersionState.PENDING, valid_from=now,
        valid_until=automatic_version_valid_until(
            current_valid_until=current.valid_until, lifetime_days=credential.lifetime_days,
            now=now),
        actor=SYSTEM,
    )
    rotation = Rotation.objects.create(
        credential=credential, from_version=current, to_version=pending,
        mode=RotationMode.AUTOMATIC, starts_at=now,
        overlap_ends_at=current.valid_until if current.valid_until > now else None,
        reason="Automatic rotation before expiry",
    )
    audit_record(
        action="rotation.prepare", actor=SYSTEM, organization=credential.business_unit.organization,
        target=credential, details={"mode": "automatic", "to": version_summary(pending)},
    )
    return rotation


def rotations_prepare_automatic_many(*, versions: list[CredentialVersion],
                                     now: datetime) -> list[Rotation]:
    """rotation_prepare_automatic for a batch of due current versions (their credentials
    loaded), in one transaction: the credentials locked at once, what is still due re-read
    under the lock, the new versions, rotations and audit events written in one statement
    each. A credential whose material cannot be generated is left out (and logged)."""
    credentials = {v.credential_id: v.credential for v in versions}
    ids = sorted(credentials)
    with transaction.atomic():
        active = dict(Credential.objects.select_for_update().filter(pk__in=ids)
                      .order_by("pk").values_list("pk", "is_active"))
        currents = {v.credential_id: v for v in CredentialVersion.objects.filter(
            credential_id__in=ids, state=VersionState.CURRENT)}
        busy = set(Rotation.objects.open().filter(credential_id__in=ids)
                   .values_list("credential_id", flat=True))
        pending_versions, rotations, events = [], [], []
        for credential_id in ids:
            credential, current = credentials[credential_id], currents.get(credential_id)
            if (not active.get(credential_id) or current is None or current.valid_until is None
                    or current.valid_until - now > AUTOMATIC_LEAD_TIME or credential_id in busy):
                continue
            try:
                material = credential.kind_spec.generate(
                    current=current, name=credential.name, days=credential.lifetime_days,
                    now=now)
                pending = version_new(
                    credential=credential, material=material, state=VersionState.PENDING,
                    valid_from=now, valid_until=automatic_version_valid_until(
                        current_valid_until=current.valid_until,
                        lifetime_days=credential.lifetime_days, now=now),
                    actor=SYSTEM)
            except Exception as exc:
                log_failure(logger, f"automatic rotation of {credential_id} not prepared", exc)
                continue
            pending_versions.append(pending)
            rotations.append(Rotation(
                credential=credential, from_version=current, to_version=pending,
                mode=RotationMode.AUTOMATIC, starts_at=now,
                overlap_ends_at=current.valid_until if current.valid_until > now else None,
                reason="Automatic rotation before expiry"))
            events.append({"action": "rotation.prepare", "actor": SYSTEM,
                           "organization": credential.business_unit.organization,
                           "target": credential,
                           "details": {"mode": "automatic", "to": version_summary(pending)}})
        # A pending version left behind without an open rotation never went live.
        CredentialVersion.objects.filter(
            credential_id__in=[r.credential_id for r in rotations], state=VersionState.PENDING,
        ).update(state=VersionState.UNUSED, retired_at=now)
        CredentialVersion.objects.bulk_create(pending_versions)
        Rotation.objects.bulk_create(rotations)
        audit_record_many(events)
    return rotations


def version_activate(*, version: CredentialVersion, now: datetime | None = None) -> bool:
    """Makes a pending version current on its first successful use; the old current version
    retires from `now` on (or at the end of a scheduled rotation's overlap). Exactly once under
    concurrency: the credential row is locked and only a version still pending is switched.
    Returns True for the call that switched it."""
    now = now or timezone.now()
    with transaction.atomic():
        credential = credential_lock(version.credential)
        version = CredentialVersion.objects.select_for_update().get(pk=version.pk)
        if version.state != VersionState.PENDING or not version.works_at(now):
            return False
        rotation = credential.rotations.open().filter(to_version=version).first()
        overlap = None
        if rotation is not None and rotation.mode == RotationMode.SCHEDULED:
            overlap = rotation.overlap_ends_at
        old = switch_versions(credential=credential, new=version, overlap_ends_at=overlap, now=now)
        if rotation is not None:
            take_kind(credential, rotation)
            rotation.state = RotationState.COMPLETED
            rotation.finished_at = now
            rotation.claimed_at = rotation.claimed_at or now
            rotation.attempts += 1
            rotation.save(update_fields=["state", "finished_at", "claimed_at", "attempts"])
            announce([rotation], background=True)
        audit_record(
            action="rotation.activate", actor=SYSTEM,
            organization=credential.business_unit.organization, target=credential,
            details={"to": version_summary(version),
                     "from": version_summary(old) if old else None,
                     "trigger": "first successful use"},
        )
    return True
