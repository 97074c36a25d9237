"""api.http.iso: every time the API writes, in UTC to the second with a Z."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from api.http import iso


@pytest.mark.parametrize("moment", [
    datetime(2026, 6, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC),  # microseconds dropped, not rounded
    datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC),
    datetime(987, 3, 4, 5, 6, 7, tzinfo=UTC),  # a four-digit year, zero-padded
    datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=5, minutes=45))),
])
def test_it_writes_utc_to_the_second_with_a_z(moment):
    expected = moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    assert iso(moment) == expected
    assert iso(moment).endswith("Z") and len(iso(moment)) == 20


def test_it_writes_another_zones_time_as_the_same_moment_in_utc():
    assert iso(datetime(2026, 1, 1, 0, 30, tzinfo=ZoneInfo("Asia/Kathmandu"))) == \
        "2025-12-31T18:45:00Z"
    assert iso(None) is None
