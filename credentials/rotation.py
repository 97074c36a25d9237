"""Rotations: the writes that move a credential from one version (or credential) to another.

Invariants: one open rotation per credential (a database constraint); the old version is
retired only in the same transaction that makes the new one current, so a failure at any
point leaves the old credential working; every change is audited in its transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from organizations.models import User

from .material import Material
from .models import (
    OPEN_ROTATION_STATES,
    Credential,
    CredentialVersion,
    Rotation,
    RotationMode,
    RotationState,
    VersionState,
)
from .services import CredentialError, require_perm, version_build, version_summary


class RotationError(CredentialError):
    pass


def _lock(credential: Credential) -> Credential:
    return Credential.objects.select_for_update().select_related(
        "business_unit__organization"
    ).get(pk=credential.pk)


def _ensure_no_open_rotation(credential: Credential) -> None:
    if credential.rotations.filter(state__in=OPEN_ROTATION_STATES).exists():
        raise RotationError(
            "A rotation is already scheduled for this credential. Cancel it first."
        )


def _switch(
    *, credential: Credential, new: CredentialVersion, overlap_ends_at: datetime | None,
    now: datetime,
) -> CredentialVersion | None:
    """Makes `new` current. The old current version becomes previous until the overlap end,
    or retired at once. Runs inside the caller's transaction."""
    old = credential.versions.select_for_update().filter(state=VersionState.CURRENT).first()
    # A version still in an earlier overlap leaves now: one overlap at a time.
    credential.versions.filter(state=VersionState.PREVIOUS).update(
        state=VersionState.RETIRED, retired_at=now
    )
    if old is not None:
        if overlap_ends_at is not None and overlap_ends_at > now:
            old.state = VersionState.PREVIOUS
            if old.valid_until is None or old.valid_until > overlap_ends_at:
                old.valid_until = overlap_ends_at
        else:
            old.state = VersionState.RETIRED
            old.retired_at = now
        old.save(update_fields=["state", "valid_until", "retired_at"])
    new.state = VersionState.CURRENT
    new.activated_at = now
    if new.valid_from > now:
        new.valid_from = now
    new.save(update_fields=["state", "activated_at", "valid_from"])
    return old


def _new_valid_until(credential: Credential, material: Material, now: datetime) -> datetime | None:
    current = credential.versions.filter(state=VersionState.CURRENT).first()
    if material.valid_until or current is None or current.valid_until is None:
        return None
    return now + timezone.timedelta(days=credential.lifetime_days)


@transaction.atomic
def rotation_rotate_now(
    *,
    credential: Credential,
    material: Material,
    actor: User | None,
    overlap_ends_at: datetime | None = None,
    reason: str = "",
    source_ip: str | None = None,
    now: datetime | None = None,
) -> Rotation:
    """Immediate rotation: the new material works now; the old stops now, or at the
    overlap end when one is given."""
    now = now or timezone.now()
    credential = _lock(credential)
    require_perm(actor, credential, credential.manage_perm)
    _ensure_no_open_rotation(credential)
    if overlap_ends_at is not None and overlap_ends_at <= now:
        raise RotationError("The overlap must end in the future.", field="overlap_ends_at")
    new = version_build(
        credential=credential, material=material, state=VersionState.PENDING, valid_from=now,
        valid_until=_new_valid_until(credential, material, now), actor=actor,
    )
    old = _switch(credential=credential, new=new, overlap_ends_at=overlap_ends_at, now=now)
    rotation = Rotation.objects.create(
        credential=credential, from_version=old, to_version=new, mode=RotationMode.IMMEDIATE,
        state=RotationState.COMPLETED, starts_at=now, overlap_ends_at=overlap_ends_at,
        reason=reason, requested_by=actor, claimed_at=now, finished_at=now, attempts=1,
    )
    audit_record(
        action="rotation.complete", actor=actor, organization=credential.business_unit.organization,
        target=credential, source_ip=source_ip,
        details={"mode": "immediate", "to": version_summary(new),
                 "overlap_ends_at": overlap_ends_at.isoformat() if overlap_ends_at else None},
    )
    return rotation


@transaction.atomic
def rotation_schedule(
    *,
    credential: Credential,
    starts_at: datetime,
    actor: User | None,
    material: Material | None = None,
    replacement: Credential | None = None,
    overlap_ends_at: datetime | None = None,
    reason: str = "",
    source_ip: str | None = None,
    now: datetime | None = None,
) -> Rotation:
    """Schedules a switch at `starts_at` to new material (kept as a pending version that
    works from the start) or to an existing credential of the same kind."""
    now = now or timezone.now()
    credential = _lock(credential)
    require_perm(actor, credential, credential.manage_perm)
    if (material is None) == (replacement is None):
        raise RotationError("Give either new material or a credential to swap in.")
    if starts_at <= now:
        raise RotationError("A scheduled rotation must start in the future.", field="starts_at")
    if overlap_ends_at is not None and overlap_ends_at <= starts_at:
        raise RotationError("The overlap must end after the start.", field="overlap_ends_at")
    if replacement is not None and (
        replacement.pk == credential.pk
        or replacement.kind != credential.kind
        or replacement.business_unit.organization_id != credential.business_unit.organization_id
    ):
        raise RotationError(
            "Choose another credential of the same kind in this organization.",
            field="replacement",
        )
    _ensure_no_open_rotation(credential)
    pending = None
    if material is not None:
        credential.versions.filter(state=VersionState.PENDING).update(
            state=VersionState.RETIRED, retired_at=now
        )
        pending = version_build(
            credential=credential, material=material, state=VersionState.PENDING,
            valid_from=starts_at, valid_until=_new_valid_until(credential, material, starts_at),
            actor=actor,
        )
    try:
        with transaction.atomic():
            rotation = Rotation.objects.create(
                credential=credential,
                from_version=credential.versions.filter(state=VersionState.CURRENT).first(),
                to_version=pending, replacement=replacement, mode=RotationMode.SCHEDULED,
                starts_at=starts_at, overlap_ends_at=overlap_ends_at, reason=reason,
                requested_by=actor,
            )
    except IntegrityError:
        raise RotationError(
            "A rotation is already scheduled for this credential. Cancel it first."
        ) from None
    audit_record(
        action="rotation.schedule", actor=actor, organization=credential.business_unit.organization,
        target=credential, source_ip=source_ip,
        details={
            "starts_at": starts_at.isoformat(),
            "overlap_ends_at": overlap_ends_at.isoformat() if overlap_ends_at else None,
            "to": version_summary(pending) if pending else {"credential": str(replacement.pk)},
        },
    )
    return rotation


@transaction.atomic
def rotation_cancel(
    *, rotation: Rotation, actor: User | None, source_ip: str | None = None,
    now: datetime | None = None,
) -> Rotation:
    """Cancels a pending scheduled rotation; the credential stays exactly as it was."""
    now = now or timezone.now()
    credential = _lock(rotation.credential)
    require_perm(actor, credential, credential.manage_perm)
    changed = Rotation.objects.filter(pk=rotation.pk, state=RotationState.SCHEDULED).update(
        state=RotationState.CANCELLED, finished_at=now
    )
    if changed != 1:
        raise RotationError("This rotation is no longer scheduled, so it cannot be cancelled.")
    if rotation.to_version_id:
        CredentialVersion.objects.filter(
            pk=rotation.to_version_id, state=VersionState.PENDING
        ).update(state=VersionState.RETIRED, retired_at=now)
    audit_record(
        action="rotation.cancel", actor=actor, organization=credential.business_unit.organization,
        target=credential, source_ip=source_ip,
        details={"rotation": str(rotation.pk), "starts_at": rotation.starts_at.isoformat()},
    )
    rotation.refresh_from_db()
    return rotation


AUTOMATIC_LEAD_TIME = timezone.timedelta(days=30)


@transaction.atomic
def rotation_prepare_automatic(
    *, credential: Credential, material: Material, now: datetime | None = None
) -> Rotation | None:
    """For a credential under automatic rotation whose current version expires within 30
    days: creates the new pending version (it works at once, alongside the old one) and an
    open automatic rotation that completes on the new version's first successful use.

    Returns None, changing nothing, when it is not due or a rotation is already open."""
    now = now or timezone.now()
    credential = _lock(credential)
    current = credential.versions.filter(state=VersionState.CURRENT).first()
    if (
        current is None or current.valid_until is None
        or current.valid_until - now > AUTOMATIC_LEAD_TIME
        or credential.rotations.filter(state__in=OPEN_ROTATION_STATES).exists()
    ):
        return None
    credential.versions.filter(state=VersionState.PENDING).update(
        state=VersionState.RETIRED, retired_at=now
    )
    # The new version's lifetime starts where the old one's ends, so the cadence holds
    # however early or late the integration switches.
    pending = version_build(
        credential=credential, material=material, state=VersionState.PENDING, valid_from=now,
        valid_until=max(current.valid_until, now) + timezone.timedelta(
            days=credential.lifetime_days),
        actor=None,
    )
    rotation = Rotation.objects.create(
        credential=credential, from_version=current, to_version=pending,
        mode=RotationMode.AUTOMATIC, starts_at=now, overlap_ends_at=current.valid_until
        if current.valid_until > now else None,
        reason="Automatic rotation before expiry",
    )
    audit_record(
        action="rotation.prepare", actor=None, organization=credential.business_unit.organization,
        target=credential, details={"mode": "automatic", "to": version_summary(pending)},
    )
    return rotation


def version_activate(*, version: CredentialVersion, now: datetime | None = None) -> bool:
    """Makes a pending version current on its first successful use; the old current version
    retires from `now` on. Exactly once under concurrency: the credential row is locked and
    only a version still pending is switched. Returns True for the call that switched it."""
    now = now or timezone.now()
    with transaction.atomic():
        credential = _lock(version.credential)
        version = CredentialVersion.objects.select_for_update().get(pk=version.pk)
        if version.state != VersionState.PENDING:
            return False
        old = _switch(credential=credential, new=version, overlap_ends_at=None, now=now)
        rotation = credential.rotations.filter(
            to_version=version, state__in=OPEN_ROTATION_STATES
        ).first()
        if rotation is not None:
            rotation.state = RotationState.COMPLETED
            rotation.finished_at = now
            rotation.claimed_at = rotation.claimed_at or now
            rotation.attempts += 1
            rotation.save(update_fields=["state", "finished_at", "claimed_at", "attempts"])
        audit_record(
            action="rotation.activate", actor=None,
            organization=credential.business_unit.organization, target=credential,
            details={"to": version_summary(version),
                     "from": version_summary(old) if old else None,
                     "trigger": "first successful use"},
        )
    return True
