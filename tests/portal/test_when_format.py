"""The pages' times ("2 Dec 2026 09:00 CET") are written without date_format for speed; they
must read exactly as date_format(local, WHEN_FORMAT) writes them, around changes of clocks
too."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django.utils.dateformat import format as date_format

from credentials.templatetags.keyturn import WHEN_FORMAT, format_utc, format_when

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "Pacific/Kiritimati"]


@pytest.mark.parametrize("zone", ZONES)
def test_it_writes_times_as_date_format_does(zone):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        for step in range(0, 366 * 24 * 4, 7):  # every 1 h 45 min through a year
            moment = start + timedelta(minutes=15 * step)
            assert format_when(moment) == date_format(timezone.localtime(moment),
                                                      WHEN_FORMAT), moment
            assert format_utc(moment) == date_format(moment, "j M Y H:i") + " UTC"
        for year in (1, 9999):
            moment = datetime(year, 6, 1, 12, 30, tzinfo=UTC)
            assert format_when(moment) == date_format(timezone.localtime(moment), WHEN_FORMAT)
