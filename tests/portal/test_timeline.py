"""The detail page's expiry timeline (keyturn.timeline_html) is written in Python: for every
shape of versions it must read exactly as its template (timeline_template.html, the one it
replaced) wrote it, numbers unlocalized and every text escaped."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from credentials.models import RotationMode
from credentials.templatetags.keyturn import Bar, timeline, timeline_html

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # Berlin's clocks go forward that night
DAY = timedelta(days=1)
TEMPLATE = Template((Path(__file__).parent / "timeline_template.html").read_text())


def _version(number: int | None, start: datetime, end: datetime | None) -> SimpleNamespace:
    return SimpleNamespace(number=number, valid_from=start, valid_until=end)


def _rotation(mode: str, starts_at: datetime, overlap_ends_at: datetime | None) -> SimpleNamespace:
    return SimpleNamespace(mode=mode, starts_at=starts_at, overlap_ends_at=overlap_ends_at)


SHAPES = {
    "no version": {},
    "current expiring": {"current": _version(1, NOW - 60 * DAY, NOW + 40 * DAY)},
    "current without expiry": {"current": _version(1, NOW - 3 * DAY, None)},
    "current expired": {"current": _version(2, NOW - 90 * DAY, NOW - DAY)},
    "scheduled with overlap": {
        "current": _version(1, NOW - 60 * DAY, NOW + 40 * DAY),
        "pending": _version(None, NOW + 10 * DAY, NOW + 190 * DAY),
        "rotation": _rotation(RotationMode.SCHEDULED, NOW + 10 * DAY, NOW + 20 * DAY)},
    "scheduled, no overlap": {
        "current": _version(1, NOW - 60 * DAY, None),
        "pending": _version(None, NOW + 2 * DAY, None),
        "rotation": _rotation(RotationMode.SCHEDULED, NOW + 2 * DAY, None)},
    "automatic": {
        "current": _version(3, NOW - 300 * DAY, NOW + 29 * DAY),
        "pending": _version(None, NOW - DAY, NOW + 400 * DAY),
        "rotation": _rotation(RotationMode.AUTOMATIC, NOW - DAY, None)},
    "previous still working": {
        "previous": _version(1, NOW - 400 * DAY, NOW + 5 * DAY),
        "current": _version(2, NOW - 2 * DAY, NOW + 363 * DAY)},
    "all three, close together": {
        "previous": _version(1, NOW - 2 * DAY, NOW + DAY),
        "current": _version(2, NOW - DAY, NOW + 2 * DAY),
        "pending": _version(None, NOW + DAY, NOW + 3 * DAY),
        "rotation": _rotation(RotationMode.SCHEDULED, NOW + DAY, NOW + 2 * DAY)},
    "the end of the calendar": {"current": _version(1, NOW, datetime(9999, 12, 31, 23, 59,
                                                                     tzinfo=UTC))},
}


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Pacific/Kiritimati"])
@pytest.mark.parametrize("shape", SHAPES)
def test_it_writes_the_timeline_as_its_template_did(shape, zone):
    versions = {"current": None, "pending": None, "previous": None, "rotation": None,
                **SHAPES[shape]}
    with timezone.override(zoneinfo.ZoneInfo(zone)), translation.override("de"):
        tl = timeline(**versions, now=NOW)
        written = timeline_html(tl)
        assert written == TEMPLATE.render(Context({"tl": tl}))
    assert ("<svg" in written) == (shape != "no version")


def test_it_escapes_every_text():
    tl = timeline(current=_version(1, NOW - DAY, NOW + DAY), pending=None, previous=None,
                  rotation=None, now=NOW)
    tl["bars"] = [Bar(label='<b>"Current"</b>', x=92.0, width=10.5, y=10, text_y=21,
                      css='tl-bar" onclick="x', open_ended=False, title="A & <i>B</i>")]
    tl["marks"][0].label = "<script>"
    written = timeline_html(tl)
    assert written == TEMPLATE.render(Context({"tl": tl}))
    assert "<b>" not in written and "<i>" not in written and "<script>" not in written
    assert 'class="tl-bar&quot; onclick=&quot;x"' in written
