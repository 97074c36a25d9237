"""The scheduled pass's steps about rotations and versions (settings.KEYTURN_SWEEP_STEPS
lists them with the other apps' steps). Each claims every item before acting on it, so passes
running at once in several workers do each thing once, and a pass with nothing due costs a
fixed number of queries."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F

from audit.services import audit_record
from organizations.access import SYSTEM

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
from .automatic import rotation_prepare_automatic
from .engine import MAX_ATTEMPTS, RUNNING_DEADLINE, claim, record_failure, run_claimed


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
            record_failure(rotation.pk, "The rotation was interrupted too many times.", now)
        else:
            run_claimed(rotation.pk, now)
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
        if claim(rotation, now):
            result = run_claimed(rotation.pk, now)
            done.append(f"rotation {rotation.pk}: {result.state}")
    return done


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
