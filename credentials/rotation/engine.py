"""Running a rotation: claim it, check the new material, switch versions in one transaction,
and record the outcome. A failure at any step leaves the old credential working, deletes
nothing, and is recorded (History tab, the "Rotation failed" email) for a retry.

- Due work is claimed with a conditional UPDATE before it runs, so two workers never run the
  same rotation; a worker killed mid-rotation leaves it `running`, and the next sweep after
  RUNNING_DEADLINE claims it again (the switch transaction either committed or rolled back).
- Locks are taken credential first, then its versions and rotations.
- Every change is audited in its transaction, and what must follow the outcome (the email) is
  recorded in it by the handlers in credentials.hooks.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone

from audit.services import audit_record, audit_record_many
from organizations.access import SYSTEM

from ..bulk import rows_update
from ..errors import RotationStepError, log_failure, readable_reason
from ..hooks import CONNECTION_TESTERS, ROTATION_OUTCOME_HANDLERS
from ..kinds import kind_for
from ..lifecycle import old_version_stops_at, stopped_at, versions_unplan_stops
from ..models import (
    Connection,
    Credential,
    CredentialVersion,
    Rotation,
    RotationMode,
    RotationState,
    VersionState,
)
from ..services import credential_lock, next_version_number, version_secret, version_summary

logger = logging.getLogger(__name__)

# Longer than django-q2's task timeout plus its retry delay: a rotation still `running` after
# this was abandoned by a killed worker, not merely slow.
RUNNING_DEADLINE = timedelta(minutes=10)
MAX_ATTEMPTS = 3


def announce(rotations: list[Rotation], *, background: bool = False) -> None:
    """Inside the transaction that completes or fails `rotations`: the outcome handlers
    (credentials.hooks) record what must follow them. `background` asks for anything slow (the
    email) to go through the django-q2 worker, for callers a partner is waiting on (a token
    request, an SFTP login)."""
    if not rotations:
        return
    for handler in ROTATION_OUTCOME_HANDLERS:
        handler(rotations=rotations, background=background)


def rotation_execute(*, rotation: Rotation, now: datetime | None = None) -> Rotation:
    """Claims a due rotation and runs it; returns it as it ends (completed or failed), or as
    another worker left it when that worker claimed it first."""
    now = now or timezone.now()
    if not claim(rotation, now):
        return Rotation.objects.get(pk=rotation.pk)
    return run_claimed(rotation.pk, now)


def claim(rotation: Rotation, now: datetime) -> bool:
    """Takes a due rotation for this worker: exactly one concurrent caller gets True."""
    return Rotation.objects.filter(
        pk=rotation.pk, state=RotationState.SCHEDULED, starts_at__lte=now
    ).update(state=RotationState.RUNNING, claimed_at=now, attempts=F("attempts") + 1) == 1


def claim_many(due: QuerySet[Rotation], now: datetime) -> uuid.UUID:
    """Takes every rotation of `due` still scheduled, in one conditional UPDATE, for this
    batch: returns the token that marks the ones it won (a concurrent batch gets the others,
    or none)."""
    token = uuid.uuid4()
    due.filter(state=RotationState.SCHEDULED).update(
        state=RotationState.RUNNING, claimed_at=now, attempts=F("attempts") + 1, claim=token)
    return token


def run_claimed_batch(*, token: uuid.UUID, now: datetime) -> list[Rotation]:
    """Runs the rotations a batch claimed with `token`. Plain switches to new material go
    through one transaction for the whole batch (one lock per kind of row, bulk writes, one
    audit statement, the emails recorded together); swaps, rotations that test connections
    first and any batch that fails as a whole run one by one (run_claimed), so one broken
    rotation stops no other."""
    rotations = list(Rotation.objects.filter(claim=token, state=RotationState.RUNNING)
                     .select_related("credential__business_unit__organization", "to_version",
                                     "requested_by").order_by("starts_at"))
    together = [r for r in rotations if not r.test_before_switch and not r.replacement_id
                and r.to_version_id is not None and r.credential.is_active]
    finished: list[Rotation] = []
    if together:
        try:
            finished = switch_versions_many(together, token, now)
        except Exception as exc:  # nothing of the batch was committed: one by one instead
            log_failure(logger, f"a batch of {len(together)} rotations failed; running them "
                        "one by one", exc)
    done = {r.pk for r in finished}
    for rotation in rotations:
        if rotation.pk not in done:
            finished.append(run_claimed(rotation.pk, now))
    return finished


def switch_versions_many(rotations: list[Rotation], token: uuid.UUID,
                         now: datetime) -> list[Rotation]:
    """run_claimed's switch for many rotations (one per credential) in one transaction; the
    batch's rotations whose material does not hold are failed after it, one by one."""
    credential_ids = sorted(r.credential_id for r in rotations)
    failures: dict[object, str] = {}
    completed: list[Rotation] = []
    with transaction.atomic():
        # Credentials first, in one order for every worker, then rotations and versions.
        active = dict(Credential.objects.select_for_update().filter(pk__in=credential_ids)
                      .order_by("pk").values_list("pk", "is_active"))
        ours = set(Rotation.objects.select_for_update().filter(
            pk__in=[r.pk for r in rotations], state=RotationState.RUNNING, claim=token,
        ).values_list("pk", flat=True))
        versions = list(CredentialVersion.objects.select_for_update().filter(
            credential_id__in=credential_ids,
            state__in=[VersionState.CURRENT, VersionState.PREVIOUS, VersionState.PENDING]))
        numbers = dict(CredentialVersion.objects.filter(credential_id__in=credential_ids)
                       .order_by().values("credential_id").annotate(n=Max("number"))
                       .values_list("credential_id", "n"))
        retiring, leaving, arriving, events = [], [], [], []
        for rotation in rotations:
            if rotation.pk not in ours:
                continue  # taken over meanwhile: whoever holds it finishes it
            credential = rotation.credential
            mine = [v for v in versions if v.credential_id == credential.pk]
            new = next((v for v in mine if v.pk == rotation.to_version_id), None)
            try:
                if not active.get(credential.pk):
                    raise RotationStepError(
                        "The credential is deactivated; reactivate it first.")
                if new is None or new.state != VersionState.PENDING:
                    raise RotationStepError("The new version is no longer pending.")
                _verify_material(new, now, kind=rotation.to_kind or credential.kind)
            except Exception as exc:
                failures[rotation.pk] = readable_reason(exc)
                log_failure(logger, f"rotation {rotation.pk} failed: {failures[rotation.pk]}",
                            exc)
                continue
            old = next((v for v in mine if v.state == VersionState.CURRENT), None)
            for previous in mine:
                if previous.state == VersionState.PREVIOUS:
                    _retire_previous(previous, now)
                    retiring.append(previous)
            if old is not None:
                _leave(old, rotation.overlap_ends_at, now)
                leaving.append(old)
            _arrive(new, (numbers.get(credential.pk) or 0) + 1, now)
            arriving.append(new)
            details = {"to": version_summary(new),
                       "from": version_summary(old) if old else None,
                       **take_kind(credential, rotation)}
            rotation.state, rotation.finished_at = RotationState.COMPLETED, now
            completed.append(rotation)
            events.append(_completion_event(rotation, credential, details))
        # In this order, so that no moment has two current or two previous versions.
        rows_update(retiring, ["state", "retired_at", "stops_at"])
        rows_update(leaving, ["state", "valid_until", "retired_at", "stops_at"])
        rows_update(arriving, ["state", "number", "activated_at", "valid_from", "retired_at"])
        if completed:
            Rotation.objects.filter(pk__in=[r.pk for r in completed]).update(
                state=RotationState.COMPLETED, finished_at=now)
        audit_record_many(events)
        announce(completed)
    for rotation_id, reason in failures.items():
        completed.append(record_failure(rotation_id, reason, now))
    return completed


def _completion_event(rotation: Rotation, credential: Credential,
                      details: dict[str, object]) -> dict[str, object]:
    return {
        "action": "rotation.complete", "actor": SYSTEM,
        "organization": credential.business_unit.organization, "target": credential,
        "details": {"mode": rotation.mode, "rotation": str(rotation.pk),
                    "requested_by": rotation.requested_by.get_username()
                    if rotation.requested_by else None, **details},
    }


def _retire_previous(previous: CredentialVersion, now: datetime) -> None:
    """A version still in an earlier overlap leaves now: one overlap at a time."""
    previous.state, previous.retired_at = VersionState.RETIRED, stopped_at(previous, now)
    previous.stops_at = None


def _leave(old: CredentialVersion, overlap_ends_at: datetime | None, now: datetime) -> None:
    """The current version becomes previous until the overlap end, or retires at once."""
    stops_at = old_version_stops_at(mode=RotationMode.IMMEDIATE, starts_at=now,
                                    overlap_ends_at=overlap_ends_at, valid_until=old.valid_until)
    if stops_at is not None and stops_at > now:
        old.state = VersionState.PREVIOUS
        old.valid_until = stops_at
    else:
        old.state = VersionState.RETIRED
        old.retired_at = stopped_at(old, now)
    old.stops_at = None


def _arrive(new: CredentialVersion, number: int, now: datetime) -> None:
    new.state = VersionState.CURRENT
    new.number = number
    new.activated_at = now
    new.retired_at = None
    if new.valid_from > now:
        new.valid_from = now


def run_claimed(rotation_id: object, now: datetime,
                 with_switch: Callable[[Credential], object] | None = None) -> Rotation:
    try:
        rotation = Rotation.objects.select_related("credential", "to_version").get(
            pk=rotation_id)
        if rotation.test_before_switch and rotation.to_version is not None:
            # Network calls, before the switch transaction: no row is locked while a
            # partner's server answers, and the tests' audit events stay recorded.
            _test_connections(rotation.credential, rotation.to_version)
        with transaction.atomic():
            # Credential first, then rotation: the order version_activate locks them in.
            credential = credential_lock(rotation.credential)
            rotation = Rotation.objects.select_for_update().get(pk=rotation_id)
            if rotation.state != RotationState.RUNNING:
                return rotation
            if not credential.is_active:
                raise RotationStepError("The credential is deactivated; reactivate it first.")
            if rotation.replacement_id:
                details = _swap(rotation, credential, now)
            else:
                details = _switch_to_new_version(rotation, credential, now)
            rotation.state = RotationState.COMPLETED
            rotation.finished_at = now
            rotation.save(update_fields=["state", "finished_at"])
            audit_record(
                action="rotation.complete", actor=SYSTEM,
                organization=credential.business_unit.organization, target=credential,
                details={"mode": rotation.mode, "rotation": str(rotation.pk),
                         "requested_by": rotation.requested_by.get_username()
                         if rotation.requested_by else None, **details},
            )
            announce([rotation])
            if with_switch is not None:
                with_switch(credential)
        return rotation
    except Exception as exc:  # every failure is recorded; nothing of the switch was committed
        reason = readable_reason(exc)
        log_failure(logger, f"rotation {rotation_id} failed: {reason}", exc)
        return record_failure(rotation_id, reason, now)


def switch_versions(
    *, credential: Credential, new: CredentialVersion, overlap_ends_at: datetime | None,
    now: datetime,
) -> CredentialVersion | None:
    """Makes `new` current. The old current version becomes previous until the overlap end,
    or retired at once. Runs inside the caller's transaction."""
    old = credential.versions.select_for_update().filter(state=VersionState.CURRENT).first()
    for previous in credential.versions.filter(state=VersionState.PREVIOUS):
        _retire_previous(previous, now)
        previous.save(update_fields=["state", "retired_at", "stops_at"])
    if old is not None:
        _leave(old, overlap_ends_at, now)
        old.save(update_fields=["state", "valid_until", "retired_at", "stops_at"])
    _arrive(new, next_version_number(credential), now)
    new.save(update_fields=["state", "number", "activated_at", "valid_from", "retired_at"])
    return old


def _switch_to_new_version(rotation: Rotation, credential: Credential,
                           now: datetime) -> dict[str, object]:
    new = CredentialVersion.objects.select_for_update().get(pk=rotation.to_version_id)
    if new.state == VersionState.CURRENT:
        return {"to": version_summary(new), "resumed": True}  # switched before a crash
    if new.state != VersionState.PENDING:
        raise RotationStepError("The new version is no longer pending.")
    _verify_material(new, now, kind=rotation.to_kind or credential.kind)
    old = switch_versions(credential=credential, new=new, overlap_ends_at=rotation.overlap_ends_at,
                  now=now)
    return {"to": version_summary(new), "from": version_summary(old) if old else None,
            **take_kind(credential, rotation)}


def take_kind(credential: Credential, rotation: Rotation) -> dict[str, object]:
    """A rotation to material of the other SFTP kind switches the credential's kind with its
    version, in the same transaction."""
    if not rotation.to_kind or rotation.to_kind == credential.kind:
        return {}
    changed = {"kind": {"from": credential.kind, "to": rotation.to_kind}}
    credential.kind = rotation.to_kind
    credential.save(update_fields=["kind"])
    return changed


def _swap(rotation: Rotation, credential: Credential, now: datetime) -> dict[str, object]:
    replacement = Credential.objects.select_for_update().get(pk=rotation.replacement_id)
    if not replacement.is_active:
        raise RotationStepError(f"The replacement credential {replacement.name} is deactivated.")
    current = replacement.versions.filter(state=VersionState.CURRENT).first()
    if current is None or not current.works_at(now):
        raise RotationStepError(f"The replacement credential {replacement.name} does not work "
                                "now (expired or without a current version).")
    _verify_material(current, now, kind=replacement.kind)
    moved = list(Connection.objects.filter(credential=credential).values_list("pk", flat=True))
    Connection.objects.filter(pk__in=moved).update(credential=replacement)
    old = credential.versions.select_for_update().filter(state=VersionState.CURRENT).first()
    if old is not None:
        overlap = rotation.overlap_ends_at
        if overlap is not None and overlap > now:
            if old.valid_until is None or old.valid_until > overlap:
                old.valid_until = overlap
            old.save(update_fields=["valid_until"])
        else:
            old.state = VersionState.RETIRED
            old.retired_at = now
            old.save(update_fields=["state", "retired_at"])
    return {"swapped_to": str(replacement.pk), "connections_moved": len(moved)}


def _verify_material(version: CredentialVersion, now: datetime, *, kind: str) -> None:
    """Checks new material of `kind` before it goes live: it has not expired, it decrypts,
    and the kind finds that it still holds (an unregistered kind raises UnknownKind, which
    fails the rotation)."""
    spec = kind_for(kind)
    if version.valid_until is not None and version.valid_until <= now:
        raise RotationStepError("The new material has already expired.")
    spec.verify(version, version_secret(version))


def _test_connections(credential: Credential, version: CredentialVersion) -> None:
    """Tests every active connection of a kind that can be tested (credentials.hooks) with
    the new material."""
    testable = credential.connections.filter(is_active=True, kind__in=list(CONNECTION_TESTERS))
    for connection in testable:
        result = CONNECTION_TESTERS[connection.kind](connection=connection, version=version,
                                                     actor=SYSTEM)
        if not result.ok:
            raise RotationStepError(
                f"The connection test of {connection.name} failed with the new material: "
                f"{result.message}"
            )


def record_failure(rotation_id: object, reason: str, now: datetime) -> Rotation:
    """Marks a running rotation failed. Its new version is kept (unused, so that it does not
    work) for a retry to revive; the old version was never touched."""
    try:
        with transaction.atomic():
            rotation = Rotation.objects.select_for_update().select_related(
                "credential__business_unit__organization"
            ).get(pk=rotation_id)
            if rotation.state != RotationState.RUNNING:
                return rotation
            rotation.state = RotationState.FAILED
            rotation.failure_reason = reason
            rotation.finished_at = now
            rotation.save(update_fields=["state", "failure_reason", "finished_at"])
            if rotation.to_version_id:
                CredentialVersion.objects.filter(
                    pk=rotation.to_version_id, state=VersionState.PENDING
                ).update(state=VersionState.UNUSED, retired_at=now)
            versions_unplan_stops(rotation.credential_id)
            audit_record(
                action="rotation.fail", actor=SYSTEM,
                organization=rotation.credential.business_unit.organization,
                target=rotation.credential, details={"rotation": str(rotation.pk),
                                                     "reason": reason},
            )
            announce([rotation])
    except Exception as exc:
        # Even the failure could not be recorded (the database is down): the rotation stays
        # `running` and the next sweep after RUNNING_DEADLINE takes it up again.
        log_failure(logger, f"could not record the failure of rotation {rotation_id}", exc)
    return Rotation.objects.get(pk=rotation_id)


def withdraw_pending(credential: Credential, now: datetime) -> None:
    """A pending version left behind without an open rotation never went live: it is marked
    unused before a new one is prepared (one pending version per credential)."""
    credential.versions.filter(state=VersionState.PENDING).update(
        state=VersionState.UNUSED, retired_at=now
    )
