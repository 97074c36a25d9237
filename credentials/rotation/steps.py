"""The scheduled pass's steps about rotations and versions (settings.KEYTURN_SWEEP_STEPS
lists them with the other apps' steps; credentials.sweep runs them in batches of credentials).
Each claims what it does before acting on it, most of them a batch at a time (one conditional
UPDATE, or the rows locked and re-read), so passes running at once in several workers do each
thing once; and what each finds due is one query, whatever the number of credentials."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.db.models import F, QuerySet

from audit.services import audit_record_many
from organizations.access import SYSTEM

from ..errors import log_failure
from ..lifecycle import AUTOMATIC_LEAD_TIME
from ..models import (
    OPEN_ROTATION_STATES,
    CredentialVersion,
    Rotation,
    RotationMode,
    RotationState,
    VersionState,
)
from ..services import version_summary
from ..sweep import batch_size, chunks, due_credentials, restrict, sweep_step
from .automatic import rotation_prepare_automatic, rotations_prepare_automatic_many
from .engine import (
    MAX_ATTEMPTS,
    RUNNING_DEADLINE,
    claim_many,
    record_failure,
    run_claimed,
    run_claimed_batch,
)

logger = logging.getLogger(__name__)


def in_batches(step: Callable[..., list[str]], now: datetime, dry_run: bool) -> list[str]:
    """A step called without a batch (a test, a direct call) does all its due work, a batch
    of credentials at a time."""
    actions: list[str] = []
    for credentials in chunks(due_credentials(step, now), batch_size()):
        actions += step(now=now, dry_run=dry_run, credentials=credentials)
    return actions


def _stuck(now: datetime) -> QuerySet[Rotation]:
    return Rotation.objects.filter(state=RotationState.RUNNING,
                                   claimed_at__lt=now - RUNNING_DEADLINE)


@sweep_step(due=lambda now: [_stuck(now)])
def rotations_recover_stuck(*, now: datetime, dry_run: bool = False,
                            credentials: list[str] | None = None) -> list[str]:
    """Rotations left `running` by a killed worker: claimed again and run (the switch either
    committed, and is recognised, or rolled back), or failed after MAX_ATTEMPTS. Rare, so one
    at a time."""
    done = []
    for rotation in restrict(_stuck(now), credentials).only("pk", "claimed_at", "attempts"):
        if dry_run:
            done.append(f"would resume stuck rotation {rotation.pk}")
            continue
        reclaimed = Rotation.objects.filter(
            pk=rotation.pk, state=RotationState.RUNNING, claimed_at=rotation.claimed_at
        ).update(claimed_at=now, attempts=F("attempts") + 1)
        if reclaimed != 1:
            continue
        if rotation.attempts + 1 > MAX_ATTEMPTS:
            record_failure(rotation.pk, "The rotation was interrupted too many times.", now)
        else:
            run_claimed(rotation.pk, now)
        done.append(f"resumed stuck rotation {rotation.pk}")
    return done


def _due_rotations(now: datetime) -> QuerySet[Rotation]:
    return Rotation.objects.filter(
        state=RotationState.SCHEDULED, starts_at__lte=now,
        mode__in=[RotationMode.SCHEDULED, RotationMode.IMMEDIATE],
    )


@sweep_step(due=lambda now: [_due_rotations(now)])
def rotations_run_due(*, now: datetime, dry_run: bool = False,
                      credentials: list[str] | None = None) -> list[str]:
    """Claims the batch's due rotations in one UPDATE and runs those it won."""
    if credentials is None:
        return in_batches(rotations_run_due, now, dry_run)
    due = restrict(_due_rotations(now), credentials)
    if dry_run:
        return [f"would run rotation {pk} of credential {credential_id}"
                for pk, credential_id in due.order_by("starts_at").values_list(
                    "pk", "credential_id")]
    token = claim_many(due, now)
    return [f"rotation {rotation.pk}: {rotation.state}"
            for rotation in run_claimed_batch(token=token, now=now)]


def _due_automatic(now: datetime) -> QuerySet[CredentialVersion]:
    return CredentialVersion.objects.filter(
        state=VersionState.CURRENT,
        valid_until__gt=now, valid_until__lte=now + AUTOMATIC_LEAD_TIME,
        credential__rotation_policy="automatic", credential__is_active=True,
    ).exclude(credential__rotations__state__in=OPEN_ROTATION_STATES)


@sweep_step(due=lambda now: [_due_automatic(now)])
def rotations_prepare_automatic_due(*, now: datetime, dry_run: bool = False,
                                    credentials: list[str] | None = None) -> list[str]:
    if credentials is None:
        return in_batches(rotations_prepare_automatic_due, now, dry_run)
    due = list(restrict(_due_automatic(now), credentials).select_related(
        "credential__business_unit__organization"))
    if dry_run:
        return [f"would prepare automatic rotation of {v.credential_id}" for v in due]
    if not due:
        return []
    try:
        prepared = [r.credential_id for r in rotations_prepare_automatic_many(versions=due,
                                                                             now=now)]
    except Exception as exc:  # nothing of the batch was written: one by one instead
        log_failure(logger, "a batch of automatic rotations failed; one by one", exc)
        prepared = []
        for version in due:
            try:
                if rotation_prepare_automatic(credential=version.credential, now=now):
                    prepared.append(version.credential_id)
            except Exception as one:
                log_failure(logger, f"automatic rotation of {version.credential_id} failed",
                            one)
    return [f"prepared automatic rotation of {credential_id}" for credential_id in prepared]


def _versions_settle(
    due: QuerySet[CredentialVersion], credentials: list[str] | None, dry_run: bool, *,
    would: str, did: str, action: str, change: dict[str, object],
    details: Callable[[CredentialVersion], dict[str, object]],
) -> list[str]:
    """Records a change of versions a batch at a time: the due rows are locked and re-read
    (another worker's batch may have taken them meanwhile), changed in one UPDATE and audited
    in one statement."""
    if dry_run:
        return [f"{would} {v.credential_id} v{v.number}" for v in restrict(due, credentials)]
    with transaction.atomic():
        versions = list(restrict(due, credentials).select_for_update(of=("self",)).select_related(
            "credential__business_unit__organization").order_by("pk"))
        if not versions:
            return []
        CredentialVersion.objects.filter(pk__in=[v.pk for v in versions]).update(**change)
        audit_record_many([{
            "action": action, "actor": SYSTEM,
            "organization": v.credential.business_unit.organization, "target": v.credential,
            "details": details(v)} for v in versions])
    return [f"{did} {v.credential_id} v{v.number}" for v in versions]


def _overlaps_ended(now: datetime) -> QuerySet[CredentialVersion]:
    return CredentialVersion.objects.filter(state=VersionState.PREVIOUS, valid_until__lte=now)


@sweep_step(due=lambda now: [_overlaps_ended(now)])
def versions_end_overlaps(*, now: datetime, dry_run: bool = False,
                          credentials: list[str] | None = None) -> list[str]:
    """Previous versions whose overlap has ended become retired (they stopped working at
    their valid_until already: this records it)."""
    if credentials is None:
        return in_batches(versions_end_overlaps, now, dry_run)
    return _versions_settle(
        _overlaps_ended(now), credentials, dry_run, would="would end the overlap of",
        did="ended the overlap of", action="version.overlap_end",
        change={"state": VersionState.RETIRED, "retired_at": F("valid_until")},
        details=version_summary)


def _expiries(now: datetime) -> QuerySet[CredentialVersion]:
    return CredentialVersion.objects.filter(
        state=VersionState.CURRENT, valid_until__lte=now, expiry_recorded_at__isnull=True)


@sweep_step(due=lambda now: [_expiries(now)])
def versions_record_expiries(*, now: datetime, dry_run: bool = False,
                             credentials: list[str] | None = None) -> list[str]:
    """Records, once, that a current version has expired (it stopped working at its
    valid_until, whether or not this ran)."""
    if credentials is None:
        return in_batches(versions_record_expiries, now, dry_run)
    return _versions_settle(
        _expiries(now), credentials, dry_run, would="would record the expiry of",
        did="recorded the expiry of", action="credential.expired",
        change={"expiry_recorded_at": now},
        details=lambda v: {**version_summary(v), "expired_at": v.valid_until})
