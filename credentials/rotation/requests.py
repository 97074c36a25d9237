"""Asking for rotations: now, on a schedule, or by swapping in another credential; and
cancelling or retrying them. Each request is checked and recorded in one transaction; the
engine (credentials.rotation.engine) runs it.

One open (scheduled or running) rotation per credential: the database enforces it, and
`_refuse_if_open` says so in words first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from organizations.access import Actor, require_perm, user_of

from ..errors import RotationError
from ..kinds import interchangeable, kind_for
from ..lifecycle import (
    rotated_version_valid_until,
    versions_plan_stops,
    versions_unplan_stops,
)
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
from ..templatetags.keyturn import format_dual
from .engine import RUNNING_DEADLINE, claim, rotation_execute, run_claimed, withdraw_pending

ALREADY_OPEN = "A rotation is already scheduled for this credential. Cancel it first."


def _refuse_if_open(credential: Credential, *, exclude: Rotation | None = None) -> None:
    open_rotations = credential.rotations.open()
    if exclude is not None:
        open_rotations = open_rotations.exclude(pk=exclude.pk)
    if open_rotations.exists():
        raise RotationError(ALREADY_OPEN)


def rotation_times_check(*, mode: str, starts_at: datetime, overlap_ends_at: datetime | None,
                         now: datetime) -> None:
    """The times a rotation may have: a scheduled one starts in the future, and an overlap
    ends after the start. Step 1 of Rotate Credential asks this before any material is
    entered; the engine asks again when the rotation is requested."""
    if mode == RotationMode.SCHEDULED and starts_at <= now:
        raise RotationError("A scheduled rotation must start in the future.", field="starts_at")
    if overlap_ends_at is not None and overlap_ends_at <= max(starts_at, now):
        raise RotationError("The overlap must end after the rotation starts.",
                            field="overlap_ends_at")


@transaction.atomic
def _open_rotation(
    *,
    credential: Credential,
    actor: Actor,
    mode: str,
    starts_at: datetime,
    overlap_ends_at: datetime | None,
    material: Material | None,
    replacement: Credential | None,
    reason: str,
    test_before_switch: bool,
    source_ip: str | None,
    now: datetime,
) -> Rotation:
    credential = credential_lock(credential)
    require_perm(actor, credential.organization, credential.manage_perm)
    if not credential.is_active:
        raise RotationError("This credential is deactivated; reactivate it before rotating.")
    if (material is None) == (replacement is None):
        raise RotationError("Give either new material or a credential to swap in.")
    rotation_times_check(mode=mode, starts_at=starts_at, overlap_ends_at=overlap_ends_at,
                         now=now)
    if replacement is not None:
        _check_replacement(credential, replacement)
    _refuse_if_open(credential)
    to_kind = _kind_after(credential, material) if material is not None else ""
    pending = None
    if material is not None:
        pending = _pending_version(credential, material, mode=mode, starts_at=starts_at,
                                   overlap_ends_at=overlap_ends_at, actor=actor, now=now)
    try:
        with transaction.atomic():
            rotation = Rotation.objects.create(
                credential=credential,
                from_version=credential.versions.filter(state=VersionState.CURRENT).first(),
                to_version=pending, replacement=replacement, mode=mode, starts_at=starts_at,
                overlap_ends_at=overlap_ends_at, reason=reason, requested_by=user_of(actor),
                test_before_switch=test_before_switch, to_kind=to_kind,
            )
    except IntegrityError:
        raise RotationError(ALREADY_OPEN) from None
    audit_record(
        action="rotation.schedule" if mode == RotationMode.SCHEDULED else "rotation.request",
        actor=actor, organization=credential.business_unit.organization, target=credential,
        source_ip=source_ip,
        details={
            "mode": mode,
            "starts_at": starts_at,
            "overlap_ends_at": overlap_ends_at,
            "to": version_summary(pending) if pending else {"credential": str(replacement.pk)},
        },
    )
    return rotation


def _check_replacement(credential: Credential, replacement: Credential) -> None:
    if (
        replacement.pk == credential.pk
        or replacement.kind != credential.kind
        or replacement.business_unit.organization_id != credential.business_unit.organization_id
    ):
        raise RotationError(
            "Choose another credential of the same kind in this organization.",
            field="replacement",
        )


def _kind_after(credential: Credential, material: Material) -> str:
    """The kind the credential takes at the switch ("": its own). New material of another
    kind is refused unless the two kinds are interchangeable (credentials.kinds)."""
    if material.kind == credential.kind:
        return ""
    if not interchangeable(credential.kind, material.kind):
        raise RotationError(f"This material is for a {kind_for(material.kind).label}, not "
                            f"a {credential.get_kind_display()}.")
    return material.kind


def _pending_version(credential: Credential, material: Material, *, mode: str,
                     starts_at: datetime, overlap_ends_at: datetime | None, actor: Actor,
                     now: datetime) -> CredentialVersion:
    """The new material as the credential's pending version (replacing any left pending);
    a scheduled rotation plans when the current version stops."""
    if material.valid_until is not None and material.valid_until <= now:
        raise RotationError("The new certificate has already expired.", field="certificate")
    if material.valid_until is not None and material.valid_until <= starts_at:
        raise RotationError(f"The new certificate expires at {format_dual(material.valid_until)}"
                            ", before the rotation starts.", field="certificate")
    not_before = material.certificate.not_before if material.certificate else None
    if not_before is not None and not_before > max(starts_at, now):
        # It would replace a certificate that works with one partners refuse until then. The
        # form takes minutes: the first whole minute it is valid is the time to suggest.
        minute = not_before.replace(second=0, microsecond=0)
        earliest = minute if minute == not_before else minute + timedelta(minutes=1)
        valid_from = f"The new certificate is valid only from {format_dual(earliest)}"
        if mode == RotationMode.IMMEDIATE:
            raise RotationError(f"{valid_from}: schedule the rotation to start then or later.",
                                field="certificate")
        raise RotationError(f"{valid_from}: start the rotation then or later.",
                            field="starts_at")
    withdraw_pending(credential, now)
    pending = version_build(
        credential=credential, material=material, state=VersionState.PENDING,
        valid_from=starts_at,
        valid_until=rotated_version_valid_until(
            credential=credential, material_valid_until=material.valid_until,
            current_valid_until=_current_valid_until(credential), starts_at=starts_at),
        actor=actor, kind=material.kind,
    )
    if mode == RotationMode.SCHEDULED:
        versions_plan_stops(credential, starts_at=starts_at, overlap_ends_at=overlap_ends_at)
    return pending


def _current_valid_until(credential: Credential) -> datetime | None:
    current = credential.versions.filter(state=VersionState.CURRENT).first()
    return current.valid_until if current is not None else None


def rotation_rotate_now(
    *,
    credential: Credential,
    material: Material,
    actor: Actor,
    overlap_ends_at: datetime | None = None,
    reason: str = "",
    test_before_switch: bool = False,
    source_ip: str | None = None,
    now: datetime | None = None,
    with_switch: Callable[[Credential], object] | None = None,
) -> Rotation:
    """Immediate rotation: the new material works now; the old stops now, or at the overlap
    end when one is given. A failed switch is recorded (History tab: the rotation can be
    retried; the "Rotation failed" email) and raised as a RotationError; the old credential
    keeps working. A refusal (no permission, a rotation already open...) records nothing.

    It runs in transactions of its own and refuses to run inside a caller's (the durable
    block raises RuntimeError): a caller's rollback would erase the record of a failure along
    with the failure. What the caller must change together with the switch (a rename, an
    import marked applied, its own audit event) goes in `with_switch(credential)`, called in
    the switch transaction with the credential locked: it commits with the switch or not at
    all, and if it raises, the rotation fails with its message. A later retry runs the switch
    alone. New material of the other SFTP kind (password or key) switches the kind too."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        rotation = _open_rotation(
            credential=credential, actor=actor, mode=RotationMode.IMMEDIATE, starts_at=now,
            overlap_ends_at=overlap_ends_at, material=material, replacement=None,
            reason=reason, test_before_switch=test_before_switch, source_ip=source_ip, now=now,
        )
    if not claim(rotation, now):  # a worker took it first (it is due): it finishes it
        rotation = Rotation.objects.get(pk=rotation.pk)
    else:
        rotation = run_claimed(rotation.pk, now, with_switch=with_switch)
    if rotation.state == RotationState.FAILED:
        raise RotationError(
            f"The rotation failed: {rotation.failure_reason} The current credential still "
            "works; correct the problem and retry."
        )
    if rotation.state != RotationState.COMPLETED:  # not even its failure could be recorded
        raise RotationError(
            "The rotation was interrupted and could not be recorded as failed; the current "
            "credential still works for now. The scheduled pass finishes or fails it within "
            f"{int(RUNNING_DEADLINE.total_seconds() // 60)} minutes: see the History tab "
            "before trying again.")
    return rotation


def rotation_schedule(
    *,
    credential: Credential,
    starts_at: datetime,
    actor: Actor,
    material: Material | None = None,
    replacement: Credential | None = None,
    overlap_ends_at: datetime | None = None,
    reason: str = "",
    test_before_switch: bool = False,
    source_ip: str | None = None,
    now: datetime | None = None,
) -> Rotation:
    """Schedules a switch at `starts_at` to new material (kept as a pending version that
    works from the start) or to an existing credential of the same kind (a swap: the
    connections move to it)."""
    now = now or timezone.now()
    return _open_rotation(
        credential=credential, actor=actor, mode=RotationMode.SCHEDULED, starts_at=starts_at,
        overlap_ends_at=overlap_ends_at, material=material, replacement=replacement,
        reason=reason, test_before_switch=test_before_switch, source_ip=source_ip, now=now,
    )


@transaction.atomic
def rotation_cancel(
    *, rotation: Rotation, actor: Actor, source_ip: str | None = None,
    now: datetime | None = None,
) -> Rotation:
    """Cancels a pending scheduled rotation; the credential stays exactly as it was."""
    now = now or timezone.now()
    credential = credential_lock(rotation.credential)
    require_perm(actor, credential.organization, credential.manage_perm)
    changed = Rotation.objects.filter(pk=rotation.pk, state=RotationState.SCHEDULED).update(
        state=RotationState.CANCELLED, finished_at=now
    )
    if changed != 1:
        raise RotationError("This rotation is no longer scheduled, so it cannot be cancelled.")
    if rotation.to_version_id:
        CredentialVersion.objects.filter(
            pk=rotation.to_version_id, state=VersionState.PENDING
        ).update(state=VersionState.UNUSED, retired_at=now)
    versions_unplan_stops(credential.pk)
    audit_record(
        action="rotation.cancel", actor=actor, organization=credential.business_unit.organization,
        target=credential, source_ip=source_ip,
        details={"rotation": str(rotation.pk), "starts_at": rotation.starts_at},
    )
    rotation.refresh_from_db()
    return rotation


def rotation_retry(
    *, rotation: Rotation, actor: Actor, source_ip: str | None = None,
    now: datetime | None = None,
) -> Rotation:
    """Runs a failed rotation again, now, with the same new material (which was kept)."""
    now = now or timezone.now()
    with transaction.atomic():
        credential = credential_lock(rotation.credential)
        require_perm(actor, credential.organization, credential.manage_perm)
        rotation = Rotation.objects.select_for_update().get(pk=rotation.pk)
        if rotation.state != RotationState.FAILED:
            raise RotationError("Only a failed rotation can be retried.")
        if not credential.is_active:
            raise RotationError("This credential is deactivated; reactivate it before retrying.")
        _refuse_if_open(credential, exclude=rotation)
        if rotation.to_version_id:
            credential.versions.filter(state=VersionState.PENDING).exclude(
                pk=rotation.to_version_id
            ).update(state=VersionState.UNUSED, retired_at=now)
            CredentialVersion.objects.filter(
                pk=rotation.to_version_id, state=VersionState.UNUSED
            ).update(state=VersionState.PENDING, retired_at=None)
        rotation.state = RotationState.SCHEDULED
        rotation.starts_at = min(rotation.starts_at, now)
        if rotation.overlap_ends_at is not None and rotation.overlap_ends_at <= now:
            rotation.overlap_ends_at = None
        rotation.failure_reason = ""
        rotation.finished_at = None
        rotation.save()
        audit_record(
            action="rotation.retry", actor=actor,
            organization=credential.business_unit.organization, target=credential,
            source_ip=source_ip, details={"rotation": str(rotation.pk)},
        )
    return rotation_execute(rotation=rotation, now=now)
