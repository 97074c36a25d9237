"""Automatic rotation: 30 days before the current version expires, a new version is
prepared that works at once beside the old one; its first successful use (a token request,
an SFTP login) makes it current, exactly once however many requests race."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from organizations.access import SYSTEM

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
from ..services import credential_lock, version_build, version_summary
from .engine import announce, switch_versions, take_kind, withdraw_pending


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
            announce(rotation, background=True)
        audit_record(
            action="rotation.activate", actor=SYSTEM,
            organization=credential.business_unit.organization, target=credential,
            details={"to": version_summary(version),
                     "from": version_summary(old) if old else None,
                     "trigger": "first successful use"},
        )
    return True
