"""Times in audit details: the one format they are written in, and reading them back.

Services pass datetimes in `details`; audit_record writes each as ISO 8601 in UTC with a Z,
to the second ("2026-12-02T08:00:00Z"), whatever zone the actor entered it in. The log page
shows them in the viewer's zone (audit.display); the CSV export keeps this form. Events
written before this rule may hold an offset and microseconds ("…T09:00:00.123456+01:00");
they are read the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

ISO_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"
)


def iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times must carry their zone")
    return value.astimezone(UTC).strftime(ISO_UTC_FORMAT)


def parse_time(value: object) -> datetime | None:
    """The time a detail holds, or None when it is not a time with its zone."""
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
