"""The pages' times ("2 Dec 2026 09:00 CET") are written without date_format for speed; they
must read exactly as date_format(local, WHEN_FORMAT) writes them, around changes of clocks
too, whether a WhenFormat is made per time (the templates' filters) or once for a page's many
(a list's rows, the timeline), except in one place: where a change of clocks repeats a wall
time, "T" writes no zone name and WhenFormat writes the one that tells the two apart."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone, translation
from django.utils.dateformat import format as date_format

from credentials.templatetags.keyturn import (
    WHEN_FORMAT,
    WhenFormat,
    format_dual,
    format_utc,
    format_when,
)

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "Pacific/Kiritimati"]
CHANGING_CLOCKS = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]


def _repeated(local: datetime) -> bool:
    """Whether a change of clocks repeats this wall time (Django's test for "T")."""
    zone = local.tzinfo
    return zone.utcoffset(local.replace(fold=not local.fold)) != zone.utcoffset(local)


def _as_date_format(local: datetime) -> str:
    """date_format(local, WHEN_FORMAT), with the zone's name where "T" leaves it out."""
    written = date_format(local, WHEN_FORMAT)
    return written + local.tzname() if _repeated(local) else written


@pytest.mark.parametrize("zone", ZONES)
def test_it_writes_times_as_date_format_does(zone):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        for step in range(0, 366 * 24 * 4, 7):  # every 1 h 45 min through a year
            moment = start + timedelta(minutes=15 * step)
            assert format_when(moment) == _as_date_format(timezone.localtime(moment)), moment
            assert format_utc(moment) == date_format(moment, "j M Y H:i") + " UTC"
        for year in (1, 9999):
            moment = datetime(year, 6, 1, 12, 30, tzinfo=UTC)
            assert format_when(moment) == date_format(timezone.localtime(moment), WHEN_FORMAT)


def _ambiguous_moments(zone: zoneinfo.ZoneInfo) -> list[datetime]:
    """Every quarter hour of 2026 whose wall time in `zone` a change of clocks repeats."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    moments = []
    for step in range(365 * 24 * 4):
        local = (start + timedelta(minutes=15 * step)).astimezone(zone)
        if zone.utcoffset(local.replace(fold=not local.fold)) != zone.utcoffset(local):
            moments.append(local.astimezone(UTC))
    return moments


@pytest.mark.parametrize("zone_name", ZONES)
def test_one_format_for_many_times_writes_each_as_date_format_does(zone_name):
    """A WhenFormat bound once (to the activated zone, or to one given) writes every time, the
    repeated wall times of a change of clocks included, as date_format does, and its day
    as date_format(local, "j M Y")."""
    zone = zoneinfo.ZoneInfo(zone_name)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    moments = [start + timedelta(minutes=15 * step) for step in range(0, 366 * 24 * 4, 11)]
    ambiguous = _ambiguous_moments(zone)
    assert bool(ambiguous) == (zone_name in CHANGING_CLOCKS)
    with timezone.override(zone):
        bound = WhenFormat()
    given = WhenFormat(zone)
    for moment in moments + ambiguous:
        local = timezone.localtime(moment, zone)
        expected = _as_date_format(local)
        assert bound.when(moment) == given.when(moment) == expected, moment
        assert bound.utc(moment) == date_format(moment, "j M Y H:i") + " UTC"
        assert bound.day(moment) == date_format(local, "j M Y")
        with timezone.override(zone):
            assert bound.dual(moment) == format_dual(moment)
    for moment in ambiguous:
        assert bound.when(moment).endswith(f" {moment.astimezone(zone).tzname()}"), moment


@pytest.mark.parametrize(("zone", "moment", "first", "second"), [
    ("Europe/Berlin", datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
     "25 Oct 2026 02:30 CEST", "25 Oct 2026 02:30 CET"),
    ("America/New_York", datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
     "1 Nov 2026 01:30 EDT", "1 Nov 2026 01:30 EST"),
])
def test_it_tells_apart_the_two_moments_a_change_of_clocks_writes_alike(zone, moment, first,
                                                                        second):
    """The night clocks go back, the same wall time comes twice, an hour apart: each is
    written with the zone's name it had then, not with none (as Django's "T" writes it)."""
    later = moment + timedelta(hours=1)
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        assert (format_when(moment), format_when(later)) == (first, second)
        assert format_dual(later) == f"{second} ({format_utc(later)})"


def test_a_time_the_zone_cannot_hold_is_written_in_utc():
    """The last minute of 9999 in UTC+14 and the first of year 1 in UTC-5 are past the ends of
    Python's calendar: written in UTC, as the pages did before WhenFormat."""
    last = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    first = datetime(1, 1, 1, 0, 0, tzinfo=UTC)
    kiritimati = WhenFormat(zoneinfo.ZoneInfo("Pacific/Kiritimati"))
    new_york = WhenFormat(zoneinfo.ZoneInfo("America/New_York"))
    assert kiritimati.when(last) == "31 Dec 9999 23:59 UTC"
    assert kiritimati.day(last) == "31 Dec 9999"
    assert kiritimati.dual(last) == "31 Dec 9999 23:59 UTC"
    assert new_york.when(first) == "1 Jan 0001 00:00 UTC"
    assert new_york.when(last) == "31 Dec 9999 18:59 EST"
    with timezone.override(zoneinfo.ZoneInfo("Pacific/Kiritimati")):
        assert format_when(last) == "31 Dec 9999 23:59 UTC"


def test_it_writes_the_month_names_of_the_active_language():
    moment = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    for language in ("de", "en-gb", "fr", "en-gb"):
        with translation.override(language), timezone.override(berlin):
            assert WhenFormat().when(moment) == date_format(timezone.localtime(moment),
                                                            WHEN_FORMAT)
    with translation.override("de"):
        assert WhenFormat(berlin).when(moment) == "2 Dez 2026 09:00 CET"
    assert WhenFormat(berlin).when(moment) == "2 Dec 2026 09:00 CET"


def test_a_naive_time_is_refused_as_localtime_refuses_it():
    with pytest.raises(ValueError, match="naive"):
        WhenFormat(UTC).when(datetime(2026, 1, 1))
