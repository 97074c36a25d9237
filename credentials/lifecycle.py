"""When a version starts and stops working: the one place that decides the times a version
carries. `CredentialVersion.works_at(now)` reads them at a request's arrival time, so time
alone decides the edges, whether or not any job has run.

- A version works from `valid_from` until the first of: its expiry (`valid_until`), the second
  a scheduled rotation stops it (`stops_at`), its retirement (`retired_at`).
- When a rotation goes ahead, the current version stops at the overlap end, or without one at
  the switch; never later than its own expiry. An automatic rotation switches on first use,
  at a time nobody knows, so only its overlap end bounds it.
- A scheduled rotation to new material plans those stops when it is scheduled, and lifts them
  if it is cancelled or fails.
- A new version's expiry: material with its own (a certificate) keeps it; otherwise a rotated-in
  version lives the credential's lifetime if the credential expires at all, and an automatic
  one's lifetime starts where the old one's ends, so the cadence holds however early or late
  the integration switches. A new credential of a kind rotated automatically by default
  expires after its lifetime when no expiry is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import Credential, CredentialVersion, RotationMode, VersionState

# How long before expiry an automatic rotation prepares the new version.
AUTOMATIC_LEAD_TIME = timedelta(days=30)


def old_version_stops_at(
    *, mode: str, starts_at: datetime, overlap_ends_at: datetime | None,
    valid_until: datetime | None,
) -> datetime | None:
    """When the current version stops working if a rotation goes ahead. The switch, the
    planned stops, the rotation form's warning and the expiry timeline all ask this."""
    stop = overlap_ends_at
    if stop is None and mode != RotationMode.AUTOMATIC:
        stop = starts_at
    if valid_until is not None and (stop is None or valid_until < stop):
        return valid_until
    return stop


def stopped_at(version: CredentialVersion, now: datetime) -> datetime:
    """When a version leaving now stopped working: at the second a scheduled start stopped it
    (stops_at), if that has passed already; otherwise now."""
    return version.stops_at if version.stops_at is not None and version.stops_at < now else now


@dataclass(frozen=True)
class Expiry:
    """A new version's expiry as the rules decide it before the version exists: a fixed time
    (`at`), `lifetime_days` after the version starts working, or neither (it does not
    expire). The services turn it into the version's `valid_until` with `from_start`; a
    preview says it before anyone knows the second the version will start."""

    at: datetime | None = None
    lifetime_days: int | None = None

    def from_start(self, starts_at: datetime) -> datetime | None:
        if self.lifetime_days is not None:
            return starts_at + timedelta(days=self.lifetime_days)
        return self.at


def rotated_version_expiry(*, credential: Credential, material_valid_until: datetime | None,
                           current_valid_until: datetime | None) -> Expiry:
    """The expiry of a version a rotation brings in: material with its own expiry (a
    certificate) keeps it; otherwise the credential's lifetime from the switch, if the
    credential expires at all."""
    if material_valid_until is not None:
        return Expiry(at=material_valid_until)
    if current_valid_until is None:
        return Expiry()
    return Expiry(lifetime_days=credential.lifetime_days)


def rotated_version_valid_until(*, credential: Credential, material_valid_until: datetime | None,
                                current_valid_until: datetime | None,
                                starts_at: datetime) -> datetime | None:
    return rotated_version_expiry(
        credential=credential, material_valid_until=material_valid_until,
        current_valid_until=current_valid_until,
    ).from_start(starts_at)


def automatic_version_valid_until(*, current_valid_until: datetime, lifetime_days: int,
                                  now: datetime) -> datetime:
    return max(current_valid_until, now) + timedelta(days=lifetime_days)


def first_version_expiry(*, material_valid_until: datetime | None, given: datetime | None,
                         expires_by_default: bool, lifetime_days: int) -> Expiry:
    """The expiry of a new credential's first version: material with its own expiry keeps it;
    otherwise the expiry given, or, for a kind rotated automatically by default, its lifetime
    from the moment it is added."""
    if material_valid_until is not None:
        return Expiry(at=material_valid_until)
    if given is None and expires_by_default:
        return Expiry(lifetime_days=lifetime_days)
    return Expiry(at=given)


def first_version_valid_until(*, material_valid_until: datetime | None, given: datetime | None,
                              expires_by_default: bool, lifetime_days: int,
                              now: datetime) -> datetime | None:
    return first_version_expiry(
        material_valid_until=material_valid_until, given=given,
        expires_by_default=expires_by_default, lifetime_days=lifetime_days,
    ).from_start(now)


def versions_plan_stops(credential: Credential, *, starts_at: datetime,
                        overlap_ends_at: datetime | None) -> None:
    """A scheduled rotation to new material takes effect at its start to the second: the new
    version works from `starts_at` (its valid_from), the current one stops at the start or at
    the overlap end, and one still in an earlier overlap stops at the start (one overlap at a
    time). A swap is left to the sweep, which moves the connections: the other credential may
    have none that its partners can use before."""
    current = credential.versions.filter(state=VersionState.CURRENT).first()
    if current is not None:
        current.stops_at = old_version_stops_at(
            mode=RotationMode.SCHEDULED, starts_at=starts_at, overlap_ends_at=overlap_ends_at,
            valid_until=current.valid_until)
        current.save(update_fields=["stops_at"])
    credential.versions.filter(state=VersionState.PREVIOUS, valid_until__gt=starts_at).update(
        stops_at=starts_at)


def versions_unplan_stops(credential_id: object) -> None:
    """The rotation will not happen (cancelled or failed): its planned stops are lifted."""
    CredentialVersion.objects.filter(credential_id=credential_id, stops_at__isnull=False).update(
        stops_at=None)
