"""Rotations: the writes that move a credential from one version (or credential) to another.

Invariants:
- one open (scheduled or running) rotation per credential, enforced by the database;
- a rotation checks the new material first, then switches versions in one transaction, so the
  old version is retired only by the transaction that makes the new one current: a failure at
  any step leaves the old credential working and deletes nothing;
- due work is claimed with a conditional UPDATE before it runs, so two workers never run the
  same rotation; a worker killed mid-rotation leaves it `running`, and the next sweep after
  RUNNING_DEADLINE claims it again (the switch transaction either committed or rolled back);
- every change is audited in its transaction, and the email it calls for is recorded in it
  (ROTATION_OUTCOME_HANDLERS) and sent after commit, or by the next sweep.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.services import audit_record
from organizations.access import SYSTEM, Actor, require_perm, user_of

from . import crypto
from . import material as m
from .crypto import KeyRingError, MaterialError
from .material import Material
from .models import (
    INTERCHANGEABLE_KINDS,
    OPEN_ROTATION_STATES,
    Connection,
    Credential,
    CredentialVersion,
    Kind,
    Rotation,
    RotationMode,
    RotationState,
    VersionState,
)
from .services import (
    CredentialError,
    next_version_number,
    version_build,
    version_secret,
    version_summary,
)

logger = logging.getLogger(__name__)

AUTOMATIC_LEAD_TIME = timedelta(days=30)
# Longer than django-q2's task timeout plus its retry delay: a rotation still `running` after
# this was abandoned by a killed worker, not merely slow.
RUNNING_DEADLINE = timedelta(minutes=10)
MAX_ATTEMPTS = 3


class RotationError(CredentialError):
    pass


class RotationStepError(Exception):
    """A step of a rotation failed; the message is the readable reason shown to people."""


def _lock(credential: Credential) -> Credential:
    return Credential.objects.select_for_update().select_related(
        "business_unit__organization"
    ).get(pk=credential.pk)


def _ensure_no_open_rotation(credential: Credential, *, exclude: Rotation | None = None) -> None:
    open_rotations = credential.rotations.filter(state__in=OPEN_ROTATION_STATES)
    if exclude is not None:
        open_rotations = open_rotations.exclude(pk=exclude.pk)
    if open_rotations.exists():
        raise RotationError(
            "A rotation is already scheduled for this credential. Cancel it first."
        )


# What must happen with a rotation's outcome, recorded in the very transaction that completes
# or fails it: each handler is called there with (rotation=, background=). Upper apps fill the
# list from their AppConfig.ready(): notifications records the "Rotation complete" / "Rotation
# failed" email (its outbox row) and sends it after commit. A list here, rather than an import
# of notifications, keeps the dependency pointing notifications -> credentials.
ROTATION_OUTCOME_HANDLERS: list[Callable[..., object]] = []


def _announce(rotation: Rotation, *, background: bool = False) -> None:
    """Inside the transaction that completes or fails `rotation`. `background` asks for
    anything slow (the email) to go through the django-q2 worker, for callers a partner is
    waiting on (a token request, an SFTP login). If a handler cannot record its part, the
    transaction fails with it, as when the audit event cannot be written."""
    for handler in ROTATION_OUTCOME_HANDLERS:
        handler(rotation=rotation, background=background)


def old_version_stops_at(
    *, mode: str, starts_at: datetime, overlap_ends_at: datetime | None,
    valid_until: datetime | None,
) -> datetime | None:
    """When the current version stops working if a rotation goes ahead: at the overlap end,
    or without one at the switch; never later than its own expiry. An automatic rotation
    switches on first use, at a time nobody knows, so only its overlap end bounds it.

    The switch, the rotation form's warning and the expiry timeline all ask this."""
    stop = overlap_ends_at
    if stop is None and mode != RotationMode.AUTOMATIC:
        stop = starts_at
    if valid_until is not None and (stop is None or valid_until < stop):
        return valid_until
    return stop


def _stopped(version: CredentialVersion, now: datetime) -> datetime:
    """When a version that leaves now stopped working: at the second a scheduled start
    stopped it (stops_at) if that has passed already, otherwise now."""
    return version.stops_at if version.stops_at is not None and version.stops_at < now else now


def _switch(
    *, credential: Credential, new: CredentialVersion, overlap_ends_at: datetime | None,
    now: datetime,
) -> CredentialVersion | None:
    """Makes `new` current. The old current version becomes previous until the overlap end,
    or retired at once. Runs inside the caller's transaction."""
    old = credential.versions.select_for_update().filter(state=VersionState.CURRENT).first()
    # A version still in an earlier overlap leaves now: one overlap at a time.
    for previous in credential.versions.filter(state=VersionState.PREVIOUS):
        previous.state, previous.retired_at = VersionState.RETIRED, _stopped(previous, now)
        previous.stops_at = None
        previous.save(update_fields=["state", "retired_at", "stops_at"])
    if old is not None:
        stops_at = old_version_stops_at(mode=RotationMode.IMMEDIATE, starts_at=now,
                                        overlap_ends_at=overlap_ends_at,
                                        valid_until=old.valid_until)
        if stops_at is not None and stops_at > now:
            old.state = VersionState.PREVIOUS
            old.valid_until = stops_at
        else:
            old.state = VersionState.RETIRED
            old.retired_at = _stopped(old, now)
        old.stops_at = None
        old.save(update_fields=["state", "valid_until", "retired_at", "stops_at"])
    new.state = VersionState.CURRENT
    new.number = next_version_number(credential)
    new.activated_at = now
    new.retired_at = None
    if new.valid_from > now:
        new.valid_from = now
    new.save(update_fields=["state", "number", "activated_at", "valid_from", "retired_at"])
    return old


def _plan_stops(credential: Credential, *, starts_at: datetime,
                overlap_ends_at: datetime | None) -> None:
    """A scheduled rotation to new material takes effect at its start to the second, whether
    or not the sweep has run: the new version works from `starts_at` (its valid_from), the
    current one stops at the start or at the overlap end, and one still in an earlier overlap
    stops at the start (one overlap at a time). A swap is left to the sweep, which moves the
    connections: the other credential may have none that its partners can use before."""
    current = credential.versions.filter(state=VersionState.CURRENT).first()
    if current is not None:
        current.stops_at = old_version_stops_at(
            mode=RotationMode.SCHEDULED, starts_at=starts_at, overlap_ends_at=overlap_ends_at,
            valid_until=current.valid_until)
        current.save(update_fields=["stops_at"])
    credential.versions.filter(state=VersionState.PREVIOUS, valid_until__gt=starts_at).update(
        stops_at=starts_at)


def _unplan_stops(credential_id: object) -> None:
    """The rotation will not happen (cancelled or failed): its planned stops are lifted."""
    CredentialVersion.objects.filter(credential_id=credential_id, stops_at__isnull=False).update(
        stops_at=None)


def _withdraw_pending(credential: Credential, now: datetime) -> None:
    """A pending version left behind without an open rotation never went live: it is marked
    unused before a new one is prepared (one pending version per credential)."""
    credential.versions.filter(state=VersionState.PENDING).update(
        state=VersionState.UNUSED, retired_at=now
    )


def _new_valid_until(credential: Credential, material: Material, now: datetime) -> datetime | None:
    """A new version expires after the credential's lifetime if the credential expires at all;
    material with its own expiry (a certificate) keeps it."""
    current = credential.versions.filter(state=VersionState.CURRENT).first()
    if material.valid_until or current is None or current.valid_until is None:
        return None
    return now + timedelta(days=credential.lifetime_days)


def regenerated_material(credential: Credential, current: CredentialVersion,
                         now: datetime) -> Material:
    """New material of the same kind and identity (user name, client id) as `current`."""
    if credential.kind == Kind.SFTP_PASSWORD:
        return m.sftp_password(username=current.username, password=m.generate_password())
    if credential.kind == Kind.SFTP_KEY:
        return m.sftp_key_generated(username=current.username)
    if credential.kind == Kind.AS2_CERTIFICATE:
        common_name = crypto.certificate_common_name(current.certificate_pem) or credential.name
        return m.as2_certificate_generated(
            common_name=common_name, days=credential.lifetime_days, now=now
        )
    if credential.kind == Kind.API_CLIENT_SECRET:
        return m.api_client_secret(client_id=current.client_id,
                                   current_client_id=current.client_id)
    return m.api_key(
        client_id=current.client_id, key_id=f"{current.client_id}-{now:%Y%m%d%H%M}",
        private_key=crypto.generate_pem_private_key(), current_client_id=current.client_id,
    )


# --- Asking for rotations ------------------------------------------------------------------


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
    credential = _lock(credential)
    require_perm(actor, credential.organization, credential.manage_perm)
    if not credential.is_active:
        raise RotationError("This credential is deactivated; reactivate it before rotating.")
    if (material is None) == (replacement is None):
        raise RotationError("Give either new material or a credential to swap in.")
    rotation_times_check(mode=mode, starts_at=starts_at, overlap_ends_at=overlap_ends_at,
                         now=now)
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
    to_kind = ""
    if material is not None and material.kind != credential.kind:
        if not {material.kind, credential.kind} <= INTERCHANGEABLE_KINDS:
            raise RotationError(f"This material is for a {Kind(material.kind).label}, not a "
                                f"{credential.get_kind_display()}.")
        to_kind = material.kind
    pending = None
    if material is not None:
        if material.valid_until is not None and material.valid_until <= max(starts_at, now):
            raise RotationError("The new certificate has already expired.", field="certificate")
        _withdraw_pending(credential, now)
        pending = version_build(
            credential=credential, material=material, state=VersionState.PENDING,
            valid_from=starts_at, valid_until=_new_valid_until(credential, material, starts_at),
            actor=actor, kind=material.kind,
        )
        if mode == RotationMode.SCHEDULED:
            _plan_stops(credential, starts_at=starts_at, overlap_ends_at=overlap_ends_at)
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
        raise RotationError(
            "A rotation is already scheduled for this credential. Cancel it first."
        ) from None
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
    if not _claim(rotation, now):  # a worker took it first (it is due): it finishes it
        rotation = Rotation.objects.get(pk=rotation.pk)
    else:
        rotation = _run_claimed(rotation.pk, now, with_switch=with_switch)
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
    credential = _lock(rotation.credential)
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
    _unplan_stops(credential.pk)
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
        credential = _lock(rotation.credential)
        require_perm(actor, credential.organization, credential.manage_perm)
        rotation = Rotation.objects.select_for_update().get(pk=rotation.pk)
        if rotation.state != RotationState.FAILED:
            raise RotationError("Only a failed rotation can be retried.")
        if not credential.is_active:
            raise RotationError("This credential is deactivated; reactivate it before retrying.")
        _ensure_no_open_rotation(credential, exclude=rotation)
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


# --- Running rotations ---------------------------------------------------------------------


def rotation_execute(*, rotation: Rotation, now: datetime | None = None) -> Rotation:
    """Claims a due rotation and runs it; returns it as it ends (completed or failed), or as
    another worker left it when that worker claimed it first."""
    now = now or timezone.now()
    if not _claim(rotation, now):
        return Rotation.objects.get(pk=rotation.pk)
    return _run_claimed(rotation.pk, now)


def _claim(rotation: Rotation, now: datetime) -> bool:
    """Takes a due rotation for this worker: exactly one concurrent caller gets True."""
    return Rotation.objects.filter(
        pk=rotation.pk, state=RotationState.SCHEDULED, starts_at__lte=now
    ).update(state=RotationState.RUNNING, claimed_at=now, attempts=F("attempts") + 1) == 1


def _run_claimed(rotation_id: object, now: datetime,
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
            credential = _lock(rotation.credential)
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
            _announce(rotation)
            if with_switch is not None:
                with_switch(credential)
        return rotation
    except Exception as exc:  # every failure is recorded; nothing of the switch was committed
        reason = _readable(exc)
        log_failure(logger, f"rotation {rotation_id} failed: {reason}", exc)
        return _record_failure(rotation_id, reason, now)


def _switch_to_new_version(rotation: Rotation, credential: Credential,
                           now: datetime) -> dict[str, object]:
    new = CredentialVersion.objects.select_for_update().get(pk=rotation.to_version_id)
    if new.state == VersionState.CURRENT:
        return {"to": version_summary(new), "resumed": True}  # switched before a crash
    if new.state != VersionState.PENDING:
        raise RotationStepError("The new version is no longer pending.")
    _verify_material(new, now, kind=rotation.to_kind or credential.kind)
    old = _switch(credential=credential, new=new, overlap_ends_at=rotation.overlap_ends_at,
                  now=now)
    return {"to": version_summary(new), "from": version_summary(old) if old else None,
            **_take_kind(credential, rotation)}


def _take_kind(credential: Credential, rotation: Rotation) -> dict[str, object]:
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
    """Checks new material of `kind` before it goes live: it decrypts, parses, and still
    holds."""
    if version.valid_until is not None and version.valid_until <= now:
        raise RotationStepError("The new material has already expired.")
    secret = version_secret(version)
    if kind == Kind.SFTP_KEY:
        if not crypto.ssh_public_key_matches(secret, version.public_key):
            raise RotationStepError("The new private key does not match its public key.")
    elif kind == Kind.AS2_CERTIFICATE:
        crypto.check_key_matches_certificate(secret, version.certificate_pem)
    elif kind == Kind.API_KEY:
        crypto.parse_pem_private_key(secret)
    elif kind == Kind.API_CLIENT_SECRET:
        if not crypto.digests_match(version.secret_digest, secret):
            raise RotationStepError("The new client secret does not match its digest.")
    elif not secret:
        raise RotationStepError("The new password is empty.")


def _test_connections(credential: Credential, version: CredentialVersion) -> None:
    """Runs the connection test of every active outbound connection with the new material."""
    from sftpd.client import connection_test

    for connection in credential.connections.filter(is_active=True, kind="outbound_sftp"):
        result = connection_test(connection=connection, version=version, actor=SYSTEM)
        if not result.ok:
            raise RotationStepError(
                f"The connection test of {connection.name} failed with the new material: "
                f"{result.message}"
            )


def log_failure(log: logging.Logger, message: str, exc: Exception) -> None:
    """Logs where an exception came from but not its text, which may quote a secret."""
    if isinstance(exc, RotationStepError | MaterialError | CredentialError):
        log.warning(message)
        return
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s [%s]\n%s", message, type(exc).__name__, stack)


def _readable(exc: Exception) -> str:
    """A reason people can act on. Unknown exceptions are named, not quoted: their text could
    hold anything."""
    if isinstance(exc, RotationStepError | CredentialError):  # written to be shown
        return str(exc)
    if isinstance(exc, MaterialError):
        return f"The new material was refused: {exc.message}"
    if isinstance(exc, KeyRingError):
        return "The new secret could not be decrypted (check KEYTURN_ENCRYPTION_KEYS)."
    if isinstance(exc, DatabaseError):
        return "The database refused the switch; nothing was changed."
    return f"Unexpected error ({type(exc).__name__}); nothing was changed."


def _record_failure(rotation_id: object, reason: str, now: datetime) -> Rotation:
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
            _unplan_stops(rotation.credential_id)
            audit_record(
                action="rotation.fail", actor=SYSTEM,
                organization=rotation.credential.business_unit.organization,
                target=rotation.credential, details={"rotation": str(rotation.pk),
                                                     "reason": reason},
            )
            _announce(rotation)
    except Exception:
        # Even the failure could not be recorded (the database is down): the rotation stays
        # `running` and the next sweep after RUNNING_DEADLINE takes it up again.
        logger.exception("could not record the failure of rotation %s", rotation_id)
    return Rotation.objects.get(pk=rotation_id)


def rotations_recover_stuck(*, now: datetime, dry_run: bool = False) -> list[str]:
    """Rotations left `running` by a killed worker: claimed again and run (the switch either
    committed, and is recognised, or rolled back), or failed after MAX_ATTEMPTS."""
    done = []
    stuck = Rotation.objects.filter(
        state=RotationState.RUNNING, claimed_at__lt=now - RUNNING_DEADLINE
    ).only("pk", "claimed_at", "attempts")
    for rotation in stuck:
        if dry_run:
            done.append(f"would resume stuck rotation {rotation.pk}")
            continue
        reclaimed = Rotation.objects.filter(
            pk=rotation.pk, state=RotationState.RUNNING, claimed_at=rotation.claimed_at
        ).update(claimed_at=now, attempts=F("attempts") + 1)
        if reclaimed != 1:
            continue
        if rotation.attempts + 1 > MAX_ATTEMPTS:
            _record_failure(rotation.pk, "The rotation was interrupted too many times.", now)
        else:
            _run_claimed(rotation.pk, now)
        done.append(f"resumed stuck rotation {rotation.pk}")
    return done


def rotations_run_due(*, now: datetime, dry_run: bool = False) -> list[str]:
    due = Rotation.objects.filter(
        state=RotationState.SCHEDULED, starts_at__lte=now,
        mode__in=[RotationMode.SCHEDULED, RotationMode.IMMEDIATE],
    ).order_by("starts_at").only("pk", "credential_id")
    done = []
    for rotation in due:
        if dry_run:
            done.append(f"would run rotation {rotation.pk} of credential {rotation.credential_id}")
            continue
        if _claim(rotation, now):
            result = _run_claimed(rotation.pk, now)
            done.append(f"rotation {rotation.pk}: {result.state}")
    return done


# --- Automatic rotation and activation -----------------------------------------------------


@transaction.atomic
def rotation_prepare_automatic(
    *, credential: Credential, material: Material | None = None, now: datetime | None = None
) -> Rotation | None:
    """For a credential under automatic rotation whose current version expires within 30
    days: creates the new pending version (it works at once, alongside the old one) and an
    open automatic rotation that completes on the new version's first successful use.

    Returns None, changing nothing, when it is not due or a rotation is already open."""
    now = now or timezone.now()
    credential = _lock(credential)
    current = credential.versions.filter(state=VersionState.CURRENT).first()
    if (
        not credential.is_active or current is None or current.valid_until is None
        or current.valid_until - now > AUTOMATIC_LEAD_TIME
        or credential.rotations.filter(state__in=OPEN_ROTATION_STATES).exists()
    ):
        return None
    material = material or regenerated_material(credential, current, now)
    _withdraw_pending(credential, now)
    # The new version's lifetime starts where the old one's ends, so the cadence holds
    # however early or late the integration switches.
    pending = version_build(
        credential=credential, material=material, state=VersionState.PENDING, valid_from=now,
        valid_until=max(current.valid_until, now) + timedelta(days=credential.lifetime_days),
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


def rotations_prepare_automatic_due(*, now: datetime, dry_run: bool = False) -> list[str]:
    due = CredentialVersion.objects.filter(
        state=VersionState.CURRENT,
        valid_until__gt=now, valid_until__lte=now + AUTOMATIC_LEAD_TIME,
        credential__rotation_policy="automatic", credential__is_active=True,
    ).exclude(
        credential__rotations__state__in=OPEN_ROTATION_STATES
    ).select_related("credential")
    done = []
    for version in due:
        if dry_run:
            done.append(f"would prepare automatic rotation of {version.credential_id}")
        elif rotation_prepare_automatic(credential=version.credential, now=now):
            done.append(f"prepared automatic rotation of {version.credential_id}")
    return done


def version_activate(*, version: CredentialVersion, now: datetime | None = None) -> bool:
    """Makes a pending version current on its first successful use; the old current version
    retires from `now` on (or at the end of a scheduled rotation's overlap). Exactly once under
    concurrency: the credential row is locked and only a version still pending is switched.
    Returns True for the call that switched it."""
    now = now or timezone.now()
    with transaction.atomic():
        credential = _lock(version.credential)
        version = CredentialVersion.objects.select_for_update().get(pk=version.pk)
        if version.state != VersionState.PENDING or not version.works_at(now):
            return False
        rotation = credential.rotations.filter(
            to_version=version, state__in=OPEN_ROTATION_STATES
        ).first()
        overlap = None
        if rotation is not None and rotation.mode == RotationMode.SCHEDULED:
            overlap = rotation.overlap_ends_at
        old = _switch(credential=credential, new=version, overlap_ends_at=overlap, now=now)
        if rotation is not None:
            _take_kind(credential, rotation)
            rotation.state = RotationState.COMPLETED
            rotation.finished_at = now
            rotation.claimed_at = rotation.claimed_at or now
            rotation.attempts += 1
            rotation.save(update_fields=["state", "finished_at", "claimed_at", "attempts"])
            _announce(rotation, background=True)
        audit_record(
            action="rotation.activate", actor=SYSTEM,
            organization=credential.business_unit.organization, target=credential,
            details={"to": version_summary(version),
                     "from": version_summary(old) if old else None,
                     "trigger": "first successful use"},
        )
    return True


# --- Tidying versions by time --------------------------------------------------------------


def versions_end_overlaps(*, now: datetime, dry_run: bool = False) -> list[str]:
    """Previous versions whose overlap has ended become retired (they stopped working at
    their valid_until already: this records it)."""
    ended = list(CredentialVersion.objects.filter(
        state=VersionState.PREVIOUS, valid_until__lte=now
    ).select_related("credential__business_unit__organization"))
    done = []
    for version in ended:
        if dry_run:
            done.append(f"would end the overlap of {version.credential_id} v{version.number}")
            continue
        with transaction.atomic():
            changed = CredentialVersion.objects.filter(
                pk=version.pk, state=VersionState.PREVIOUS
            ).update(state=VersionState.RETIRED, retired_at=version.valid_until)
            if changed:
                audit_record(
                    action="version.overlap_end", actor=SYSTEM,
                    organization=version.credential.business_unit.organization,
                    target=version.credential, details=version_summary(version),
                )
                done.append(f"ended the overlap of {version.credential_id} v{version.number}")
    return done


def versions_record_expiries(*, now: datetime, dry_run: bool = False) -> list[str]:
    """Records, once, that a current version has expired (it stopped working at its
    valid_until, whether or not this ran)."""
    expired = list(CredentialVersion.objects.filter(
        state=VersionState.CURRENT, valid_until__lte=now, expiry_recorded_at__isnull=True
    ).select_related("credential__business_unit__organization"))
    done = []
    for version in expired:
        if dry_run:
            done.append(f"would record the expiry of {version.credential_id} v{version.number}")
            continue
        with transaction.atomic():
            changed = CredentialVersion.objects.filter(
                pk=version.pk, expiry_recorded_at__isnull=True
            ).update(expiry_recorded_at=now)
            if changed:
                audit_record(
                    action="credential.expired", actor=SYSTEM,
                    organization=version.credential.business_unit.organization,
                    target=version.credential,
                    details={**version_summary(version),
                             "expired_at": version.valid_until},
                )
                done.append(f"recorded the expiry of {version.credential_id} v{version.number}")
    return done
