"""Who still uses what: every use of every version (SFTP logins, refused SFTP logins with an
old version's user name, token requests, new-credentials requests, connection tests), with
first use, last use, count and source addresses, and what the portal says about them during
an overlap (the Cut-over panel, the overview, the list filter, the CSV export) and before a
version that is still in use stops.

Writes: at most one a minute per version, across every process. A use is added to this
process's buffer (memory); the buffer of a version is written with the first use that comes
a minute or more after the version's row was last written, by one conditional UPDATE of
`VersionUse.written_at` (the claim: of two processes, one wins the minute; the other keeps
its uses and writes them with its next use after the minute). The very first use of a
version is written at once (no row yet: the insert is the claim), so "Partner switched"
shows without waiting. So:

- counts, last use and sources are accurate to the minute;
- the uses a process saw of a version in the minute before it stops (a restart, a crash) are
  lost if it saw no later use of that version; first uses are never lost;
- `CredentialVersion.last_used_at` (last successful use; the SFTP pages read it as "last
  login") is moved forward in the same write, and a caller that loaded it (the token
  endpoint) skips even the claim when it is younger than a minute: no query, no write.

"In the last 24 hours" is counted by the hour (`VersionUse.hours`): the uses of the hours
that began in the last 24.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from config.instances import columns, prefixed, take
from config.prepared import PreparedQuery

from .lifecycle import old_version_stops_at
from .models import (
    Credential,
    CredentialVersion,
    RotationMode,
    UseChannel,
    VersionState,
    VersionUse,
)

WRITE_INTERVAL = timedelta(minutes=1)
SOURCE_LIMIT = 10
TRIED_LIMIT = 10_000
RECENT = timedelta(hours=24)
HOURS_KEPT = timedelta(hours=48)
# A stop this close makes "the version stops" a deliberate act when it is still in use.
STOP_WARNING = timedelta(days=7)
# Uses that prove a version works (they date CredentialVersion.last_used_at).
SUCCESSFUL = frozenset({UseChannel.SFTP_LOGIN, UseChannel.TOKEN, UseChannel.NEW_CREDENTIALS,
                        UseChannel.CONNECTION_TEST})


def _hour(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _iso(at: datetime) -> str:
    """Sources' times in UTC, so that their text sorts as they do."""
    return at.astimezone(UTC).isoformat()


# --- The buffer ----------------------------------------------------------------------------


@dataclass
class _Pending:
    """Uses of one version seen by this process and not written yet."""

    count: int = 0
    first_at: datetime | None = None
    first_source: str = ""
    last_at: datetime | None = None
    last_source: str = ""
    last_success_at: datetime | None = None
    sources: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    channels: Counter = field(default_factory=Counter)
    hours: Counter = field(default_factory=Counter)

    def add(self, *, channel: str, address: str, at: datetime) -> None:
        self.count += 1
        if self.first_at is None or at < self.first_at:
            self.first_at, self.first_source = at, address
        if self.last_at is None or at >= self.last_at:
            self.last_at, self.last_source = at, address
        if channel in SUCCESSFUL and (self.last_success_at is None or at > self.last_success_at):
            self.last_success_at = at
        if address:
            seen = self.sources.get(address)
            if seen is None or at >= seen[0]:
                self.sources[address] = (at, channel)
        self.channels[channel] += 1
        self.hours[_hour(at)] += 1


_lock = threading.Lock()
_pending: dict[object, _Pending] = {}
# When this process last tried to write each version (won or lost the claim).
_tried: dict[object, datetime] = {}


def usage_buffer_clear() -> None:
    """Forgets what this process has not written (tests start from nothing)."""
    with _lock:
        _pending.clear()
        _tried.clear()


def version_use_record(
    *, version: CredentialVersion, channel: str, address: str | None, now: datetime,
) -> None:
    """One use of `version` at `now` from `address` (an IP address, or host:port for a
    connection test). Written at once if nobody wrote this version in the last minute,
    otherwise kept for the next write (see the module's docstring)."""
    address = (address or "")[:300]
    stale = now - WRITE_INTERVAL
    with _lock:
        pending = _pending.setdefault(version.pk, _Pending())
        pending.add(channel=channel, address=address, at=now)
        tried = _tried.get(version.pk)
        if tried is not None and tried > stale:
            return
        # Loaded with the version (the token endpoint's query): written in the last minute by
        # some process, so this one waits without asking the database.
        loaded = version.__dict__.get("last_used_at")
        if loaded is not None and loaded > stale:
            return
        _tried[version.pk] = now
        batch = _pending.pop(version.pk)
        if len(_tried) > TRIED_LIMIT:  # forget versions with nothing waiting
            for key in [k for k, at in _tried.items() if at <= stale and k not in _pending]:
                del _tried[key]
    if not _write(version.pk, batch, now):
        with _lock:  # lost the minute: keep the uses for the next try
            merged = _pending.setdefault(version.pk, _Pending())
            _merge(merged, batch)


def _merge(into: _Pending, batch: _Pending) -> None:
    into.count += batch.count
    if batch.first_at is not None and (into.first_at is None or batch.first_at < into.first_at):
        into.first_at, into.first_source = batch.first_at, batch.first_source
    if batch.last_at is not None and (into.last_at is None or batch.last_at >= into.last_at):
        into.last_at, into.last_source = batch.last_at, batch.last_source
    if batch.last_success_at is not None and (
            into.last_success_at is None or batch.last_success_at > into.last_success_at):
        into.last_success_at = batch.last_success_at
    for address, (at, channel) in batch.sources.items():
        seen = into.sources.get(address)
        if seen is None or at >= seen[0]:
            into.sources[address] = (at, channel)
    into.channels.update(batch.channels)
    into.hours.update(batch.hours)


def _sources(kept: list[dict[str, str]], batch: _Pending) -> list[dict[str, str]]:
    by_address = {entry["address"]: entry for entry in kept}
    for address, (at, channel) in batch.sources.items():
        old = by_address.get(address)
        if old is None or old["at"] <= _iso(at):
            by_address[address] = {"address": address, "at": _iso(at),
                                   "channel": channel}
    newest = sorted(by_address.values(), key=lambda entry: entry["at"], reverse=True)
    return newest[:SOURCE_LIMIT]


def _write(version_id: object, batch: _Pending, now: datetime) -> bool:
    """Writes `batch` if this process wins the version's minute; False if another process
    wrote it less than a minute ago (or created its row at the same moment)."""
    assert batch.first_at is not None and batch.last_at is not None
    with transaction.atomic():
        claimed = VersionUse.objects.filter(
            version_id=version_id, written_at__lte=now - WRITE_INTERVAL
        ).update(written_at=now)
        if claimed:
            use = VersionUse.objects.select_for_update().get(version_id=version_id)
            if batch.first_at < use.first_used_at:
                use.first_used_at, use.first_source = batch.first_at, batch.first_source
            if batch.last_at >= use.last_used_at:
                use.last_used_at, use.last_source = batch.last_at, batch.last_source
            use.count += batch.count
            use.sources = _sources(use.sources, batch)
            use.channels = dict(Counter(use.channels) + batch.channels)
            cutoff = _hour(now - HOURS_KEPT)
            use.hours = {hour: n for hour, n in (Counter(use.hours) + batch.hours).items()
                         if hour >= cutoff}
            use.save()
        else:
            try:
                with transaction.atomic():
                    VersionUse.objects.create(
                        version_id=version_id, first_used_at=batch.first_at,
                        first_source=batch.first_source, last_used_at=batch.last_at,
                        last_source=batch.last_source, count=batch.count,
                        sources=_sources([], batch), channels=dict(batch.channels),
                        hours=dict(batch.hours), written_at=now,
                    )
            except IntegrityError:  # a row exists: written in the last minute, or just now
                return False
        if batch.last_success_at is not None:
            CredentialVersion.objects.filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=batch.last_success_at),
                pk=version_id,
            ).update(last_used_at=batch.last_success_at)
    return True


# --- SFTP refusals with an old user name ---------------------------------------------------


def sftp_failed_login_record(*, username: str, address: str | None, now: datetime) -> None:
    """A refused SFTP login whose user name is an old version's of a credential, and no
    longer its current (or pending) version's: the partner still uses the old credential.
    Recorded against the newest such old version."""
    if not username:
        return
    live_same_name = CredentialVersion.objects.filter(
        credential=OuterRef("credential"), username=username,
        state__in=[VersionState.CURRENT, VersionState.PENDING],
    )
    old = (CredentialVersion.objects.filter(
        username=username, state__in=[VersionState.PREVIOUS, VersionState.RETIRED])
        .exclude(Exists(live_same_name))
        .only("id", "credential_id", "number")
        .order_by("-retired_at", "-number").first())
    if old is not None:
        version_use_record(version=old, channel=UseChannel.SFTP_LOGIN_OLD_USERNAME,
                           address=address, now=now)


# --- Reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecentUse:
    """A version's uses in the last 24 hours (counted by the hour)."""

    count: int
    last_at: datetime
    last_source: str
    sources: list[str]


def _recent_count(use: VersionUse, now: datetime) -> int:
    since = _hour(now - RECENT + timedelta(hours=1))
    return sum(n for hour, n in use.hours.items() if hour >= since)


def _use_of(version: CredentialVersion) -> VersionUse | None:
    try:
        return version.use
    except VersionUse.DoesNotExist:
        return None


def version_recently_used(version: CredentialVersion, now: datetime) -> RecentUse | None:
    """The version's uses in the last 24 hours, or None if it had none. The confirmation
    before a version stops and the reminder emails ask this."""
    use = _use_of(version)
    if use is None or use.last_used_at < now - RECENT:
        return None
    return RecentUse(
        count=max(_recent_count(use, now), 1), last_at=use.last_used_at,
        last_source=use.last_source,
        sources=[entry["address"] for entry in use.sources
                 if entry["at"] >= _iso(now - RECENT)],
    )


class CutoverState:
    WAITING = "waiting"
    SWITCHED = "switched"
    SWITCHED_OLD_IN_USE = "switched_old_in_use"

    LABELS = {
        WAITING: "Waiting for the partner",
        SWITCHED: "Switched",
        SWITCHED_OLD_IN_USE: "Switched, old version still in use",
    }


@dataclass(frozen=True)
class Cutover:
    """An overlap (old and new versions both working) and where the partner is in it."""

    credential: Credential
    old: CredentialVersion
    new: CredentialVersion
    new_use: VersionUse | None
    old_use: VersionUse | None
    old_recent: RecentUse | None

    @property
    def state(self) -> str:
        if self.new_use is None:
            return CutoverState.WAITING
        if self.old_recent is not None:
            return CutoverState.SWITCHED_OLD_IN_USE
        return CutoverState.SWITCHED

    @property
    def state_label(self) -> str:
        return CutoverState.LABELS[self.state]

    @property
    def switched_at(self) -> datetime | None:
        return self.new_use.first_used_at if self.new_use else None


def cutover_of(credential: Credential, versions: list[CredentialVersion],
               now: datetime) -> Cutover | None:
    """The overlap of a credential whose `versions` are loaded with their `use`: the
    previous version and the current one, or the current one and a pending one that already
    works (an automatic rotation waiting for its first use). None without an overlap."""
    by_state = {v.state: v for v in versions}
    current = by_state.get(VersionState.CURRENT)
    previous = by_state.get(VersionState.PREVIOUS)
    pending = by_state.get(VersionState.PENDING)
    if current is None:
        return None
    if previous is not None and previous.works_at(now):
        old, new = previous, current
    elif pending is not None and pending.works_at(now):
        old, new = current, pending
    else:
        return None
    return Cutover(credential=credential, old=old, new=new, new_use=_use_of(new),
                   old_use=_use_of(old), old_recent=version_recently_used(old, now))


def _overlap_q(now: datetime) -> Q:
    """Credentials with an overlap in the database's terms (cutover_of has the last word):
    found from the versions' (state, valid_until) index, the few previous and pending ones,
    rather than by asking each of the organization's credentials."""
    in_overlap = CredentialVersion.objects.filter(
        Q(state=VersionState.PREVIOUS) | Q(state=VersionState.PENDING, valid_from__lte=now)
    ).values("credential_id")
    return Q(is_active=True, pk__in=in_overlap)


# The versions a cut-over reads, with their use (one query for any number of credentials).
CUTOVER_STATES = (VersionState.CURRENT, VersionState.PREVIOUS, VersionState.PENDING)


def _live_versions() -> Prefetch:
    return Prefetch(
        "versions",
        queryset=CredentialVersion.objects.filter(state__in=CUTOVER_STATES).select_related(
            "use").only(*CUTOVER_VERSION_FIELDS, *USE_FIELDS),
        to_attr="live_versions",
    )


CUTOVER_VERSION_FIELDS = ("id", "credential", "number", "state", "username", "client_id",
                          "valid_from", "valid_until", "stops_at", "retired_at",
                          "last_used_at")
USE_FIELDS = tuple(f"use__{name}" for name in (
    "first_used_at", "first_source", "last_used_at", "last_source", "count", "sources",
    "channels", "hours"))


def cutovers(credentials: QuerySet[Credential], now: datetime,
             limit: int | None = None) -> list[Cutover]:
    """The overlaps in progress among `credentials` (the first `limit` by name), with their
    cut-over state, in two queries whatever their number (the overview, the CSV export)."""
    rows = credentials.filter(_overlap_q(now)).select_related(
        "business_unit__organization").prefetch_related(_live_versions()).order_by("name", "pk")
    if limit is not None:
        rows = rows[:limit]
    found = []
    for credential in rows:
        cutover = cutover_of(credential, credential.live_versions, now)
        if cutover is not None:
            found.append(cutover)
    return found


OLD_IN_USE = "old_in_use"


def list_filter(value: str | None) -> str:
    """The list's `usage` parameter: "old_in_use", or "" (an unknown value is ignored)."""
    return OLD_IN_USE if value == OLD_IN_USE else ""


def old_in_use_q(now: datetime) -> Q:
    """Credentials in an overlap whose old version was used in the last 24 hours: the list
    filter "old version still in use"."""
    pending_working = CredentialVersion.objects.filter(
        credential=OuterRef(OuterRef("pk")), state=VersionState.PENDING, valid_from__lte=now)
    old_used = VersionUse.objects.filter(
        version__credential=OuterRef("pk"), last_used_at__gte=now - RECENT,
    ).filter(Q(version__state=VersionState.PREVIOUS)
             | (Q(version__state=VersionState.CURRENT) & Exists(pending_working)))
    return _overlap_q(now) & Exists(old_used)


@dataclass(frozen=True)
class VersionUsage:
    """One row of the credential page's "Use of each version"."""

    version: CredentialVersion
    use: VersionUse | None
    recent: RecentUse | None

    @property
    def channels(self) -> list[tuple[str, int]]:
        """How it was used: (label, count), in UseChannel's order."""
        counts = self.use.channels if self.use else {}
        return [(label, counts[key]) for key, label in UseChannel.choices if counts.get(key)]


USAGE_VERSIONS = 10  # the credential page shows the use of the newest ten
_USAGE_VERSION_COLUMNS = columns(CredentialVersion, tuple(
    CredentialVersion._meta.get_field(name).attname for name in CUTOVER_VERSION_FIELDS))
_USE_COLUMNS = columns(VersionUse, ("version_id", *(name.removeprefix("use__")
                                                    for name in USE_FIELDS)))
_USAGE_OF = PreparedQuery(
    lambda p: CredentialVersion.objects.filter(credential=p["credential"]).exclude(
        state=VersionState.UNUSED).values_list(
        *_USAGE_VERSION_COLUMNS, *prefixed("use", _USE_COLUMNS),
    ).order_by("-created_at")[:USAGE_VERSIONS],
    credential=CredentialVersion._meta.get_field("credential"),
)


def credential_usage(credential: Credential,
                     now: datetime) -> tuple[list[VersionUsage], Cutover | None]:
    """The newest versions that went live or may (not those never used), each with its use,
    and the credential's cut-over if it is in an overlap: one prepared query."""
    versions = []
    for row in _USAGE_OF.rows(credential=credential.pk):
        values = iter(row)
        version = take(values, CredentialVersion, _USAGE_VERSION_COLUMNS)
        # As select_related("use") leaves it: the use, or none (no query to ask again).
        CredentialVersion.use.related.set_cached_value(
            version, take(values, VersionUse, _USE_COLUMNS))
        version.credential = credential  # works_at reads is_active
        versions.append(version)
    rows = [VersionUsage(v, _use_of(v), version_recently_used(v, now)) for v in versions]
    cutover = cutover_of(credential, versions, now) if credential.is_active else None
    return rows, cutover


def versions_stopping_in_use(versions: list[CredentialVersion],
                             now: datetime) -> list[tuple[CredentialVersion, RecentUse]]:
    """Of the versions an act would stop, those used in the last 24 hours with their uses
    (the confirmation names them and asks for an acknowledgement)."""
    loaded = {v.pk: v for v in CredentialVersion.objects.filter(
        pk__in=[v.pk for v in versions]).select_related("use").only(
        *CUTOVER_VERSION_FIELDS, *USE_FIELDS)}
    found = []
    for version in versions:
        recent = version_recently_used(loaded[version.pk], now) if version.pk in loaded else None
        if recent is not None:
            found.append((version, recent))
    return found


def versions_stopped_by(versions: list[CredentialVersion], *, immediate: bool,
                        starts_at: datetime | None, overlap_ends_at: datetime | None,
                        now: datetime) -> list[CredentialVersion]:
    """Of a credential's `versions`, those a rotation planned with these times stops within
    STOP_WARNING (seven days): the current one at its stop (credentials.lifecycle), one
    still in an earlier overlap at the start."""
    start = now if immediate or starts_at is None else starts_at
    horizon = now + STOP_WARNING
    stopping = []
    for version in versions:
        if version.state == VersionState.CURRENT:
            stop = old_version_stops_at(
                mode=RotationMode.IMMEDIATE if immediate else RotationMode.SCHEDULED,
                starts_at=start, overlap_ends_at=overlap_ends_at, valid_until=None)
        elif version.state == VersionState.PREVIOUS:
            stop = start
        else:
            continue
        if stop is not None and stop <= horizon:
            stopping.append(version)
    return stopping


def versions_working(credential: Credential) -> list[CredentialVersion]:
    """The versions that stop when the credential is deactivated."""
    return list(credential.versions.filter(state__in=CUTOVER_STATES).only("id", "number",
                                                                             "state"))
