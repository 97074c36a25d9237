"""The dates and times Keyturn accepts: one range, used by every form field that takes a date,
the import payload reader, certificates' end dates and the display helpers.

Times are stored in UTC and shown in the viewer's zone, which may be anything from UTC-12 to
UTC+14. Python's datetime stops at 1 Jan 0001 and 31 Dec 9999, so a time near either end
(a certificate's 99991231235959Z, a typed 9999-12-31 23:59) cannot be shown in every zone.
Keyturn therefore keeps every time between EARLIEST and LATEST, which lie well inside
Python's range, more than any zone's offset away from its ends: whatever a user or a file
gives outside it is refused on its field, and a certificate's later end date is capped to
LATEST. The range lives here, in the lowest app, because the audit filters need it too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django import forms

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
RANGE_MESSAGE = "Enter a date and time from 1 Jan 1970 00:00 to 30 Dec 9999 00:00 UTC."
DAY_RANGE_MESSAGE = "Enter a day from 1 Jan 1970 to 30 Dec 9999."


def in_range(value: datetime) -> bool:
    """Whether an aware time is one Keyturn accepts (offsets of any size compare safely)."""
    try:
        return EARLIEST <= value <= LATEST
    except (OverflowError, TypeError):
        return False


def day_in_range(value: date) -> bool:
    """Whether a day can be a filter bound: its start and the next day's start exist in
    every zone."""
    return EARLIEST.date() <= value <= LATEST.date()


def capped(value: datetime) -> datetime:
    """An end date given by material (a certificate's notAfter), brought inside the range:
    a later one, such as RFC 5280's "no well-defined expiry" 99991231235959Z, becomes
    LATEST."""
    return min(value, LATEST)


class DateTimeField(forms.DateTimeField):
    """A date and time typed in the viewer's zone, refused on its field outside the range."""

    def to_python(self, value: Any) -> datetime | None:
        result = super().to_python(value)
        if result is not None and not in_range(result):
            raise forms.ValidationError(RANGE_MESSAGE, code="out_of_range")
        return result


class DateField(forms.DateField):
    """A day, refused on its field outside the range."""

    def to_python(self, value: Any) -> date | None:
        result = super().to_python(value)
        if result is not None and not day_in_range(result):
            raise forms.ValidationError(DAY_RANGE_MESSAGE, code="out_of_range")
        return result
