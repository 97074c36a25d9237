"""Presentation helpers for the portal's templates: times in the viewer's zone and in UTC,
shareable query strings, the footer's role, the expiry timeline and the lists' paginator (the
last two written as HTML here, every text escaped). They decide nothing: badges come from
credentials.status, permissions from organizations.roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from html import escape
from typing import Any
from urllib.parse import urlencode

from django import template
from django.http import QueryDict
from django.template.defaultfilters import pluralize
from django.utils import timezone, translation
from django.utils.dates import MONTHS_3
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe

from credentials.lifecycle import old_version_stops_at
from organizations.roles import Role

register = template.Library()

WHEN_FORMAT = "j M Y H:i T"


@cache
def month_abbreviations(language: str | None) -> tuple[str, ...]:
    """"Jan" ... "Dec" (index 1 to 12) as date_format's "M" writes them in `language` (the
    active one when asked): translated once per process and language, not per time."""
    return ("", *(str(MONTHS_3[month]).title() for month in range(1, 13)))


class WhenFormat:
    """Times as the pages write them, bound to one zone (the viewer's, activated per request,
    unless given) and to the active language's month names. A page that writes many times (a
    list's 50 rows, a history's versions and rotations) makes one and looks its zone and
    language up once, rather than per time (each a lookup in asgiref's Local, and each month
    name a gettext)."""

    __slots__ = ("months", "zone")

    def __init__(self, zone: tzinfo | None = None) -> None:
        self.zone = zone if zone is not None else timezone.get_current_timezone()
        self.months = month_abbreviations(translation.get_language())

    def local(self, value: datetime) -> datetime | None:
        """The time in the zone, or None when that zone's calendar has no such day: Keyturn
        keeps times inside organizations.dates' range, but a value stored before that rule
        (a certificate's 31 Dec 9999 23:59:59 UTC seen from UTC+14) must still show, in UTC,
        rather than break the page."""
        try:
            return timezone.localtime(value, self.zone)
        except OverflowError:
            return None

    def when(self, value: datetime | None) -> str:
        """'2 Dec 2026 09:00 CET': as date_format(local, WHEN_FORMAT) writes it, in a fraction
        of its time; UTC's when the zone cannot hold the time. Unlike Django's "T", which
        writes no name for a wall time that a change of clocks repeats, it names the zone
        then too: the local time knows which of the two it is (its fold), and "25 Oct 2026
        02:30" alone could be either of two moments an hour apart."""
        if value is None:
            return ""
        local = self.local(value)
        if local is None:
            return self.utc(value)
        return (f"{local.day} {self.months[local.month]} {local.year:04d} "
                f"{local.hour:02d}:{local.minute:02d} {local.tzinfo.tzname(local)}")

    def utc(self, value: datetime | None) -> str:
        """As date_format(utc, "j M Y H:i") + " UTC" writes it."""
        if value is None:
            return ""
        utc = value.astimezone(UTC)
        return (f"{utc.day} {self.months[utc.month]} {utc.year:04d} "
                f"{utc.hour:02d}:{utc.minute:02d} UTC")

    def dual(self, value: datetime | None) -> str:
        """The zone's time with UTC in brackets, or UTC alone when the zone's time reads as
        UTC's."""
        if value is None:
            return ""
        local, utc = self.when(value), self.utc(value)
        return utc if local == utc else f"{local} ({utc})"

    def day(self, value: datetime) -> str:
        """'2 Dec 2026', as date_format(local, "j M Y") writes it (UTC's day when the zone
        cannot hold the time)."""
        local = self.local(value) or value.astimezone(UTC)
        return f"{local.day} {self.months[local.month]} {local.year:04d}"


def format_when(value: datetime | None) -> str:
    """A time in the viewer's zone (WhenFormat.when); one WhenFormat for many times costs
    less."""
    return WhenFormat().when(value)


def format_utc(value: datetime | None) -> str:
    return WhenFormat(UTC).utc(value)


def format_dual(value: datetime | None) -> str:
    """The viewer's time with UTC in brackets, or UTC alone when the viewer lives in UTC."""
    return WhenFormat().dual(value)


@register.filter
def when(value: datetime | None) -> str:
    return format_when(value)


@register.filter
def dual(value: datetime | None) -> str:
    return format_dual(value)


@register.filter
def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


@register.simple_tag(takes_context=True)
def query(context: template.Context, **changes: Any) -> str:
    """The current page's query string with some parameters replaced (None or "" removes
    one). Any change of filter goes back to the first page."""
    request = context.get("request")
    return query_string(request.GET if request is not None else QueryDict(), changes)


def query_string(params: QueryDict, changes: dict[str, Any]) -> str:
    """`params` with `changes` made, as `?...`: a replaced parameter keeps its place, an added
    one comes last (as QueryDict writes it, without copying one per link: a list page has
    forty such links)."""
    kept = dict(params.lists())
    if "page" not in changes:
        kept.pop("page", None)
    for name, value in changes.items():
        if value is None or value == "":
            kept.pop(name, None)
        else:
            kept[name] = [str(value)]
    encoded = urlencode([(name, value) for name, values in kept.items() for value in values])
    return f"?{encoded}" if encoded else "?"


# --- Expiry timeline -----------------------------------------------------------------------

WIDTH, LEFT, RIGHT = 640, 92, 16
ROW_HEIGHT, TOP = 22, 10


@dataclass
class Bar:
    label: str
    x: float
    width: float
    y: float
    text_y: float
    css: str
    open_ended: bool
    title: str


@dataclass
class Mark:
    label: str
    x: float
    css: str
    text_y: float
    anchor: str


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


@dataclass(frozen=True)
class _Axis:
    """Time along the SVG's x axis, in seconds (not datetimes: padding an end date near the
    last day Python knows, a certificate's 9999, must not overflow)."""

    start: float
    end: float

    @classmethod
    def spanning(cls, moments: list[datetime], now: datetime, open_ended: bool) -> _Axis:
        points = [moment.timestamp() for moment in moments]
        start, end = min(points), max(points)
        month, week = timedelta(days=30).total_seconds(), timedelta(days=7).total_seconds()
        if open_ended or end - start < week:
            end = max(end, now.timestamp() + month, start + month)
        pad = (end - start) * 0.04
        return cls(start - pad, end + pad)

    def x(self, moment: datetime | None) -> float:
        """Where `moment` falls; None (no expiry) is the axis' right end."""
        seconds = self.end if moment is None else moment.timestamp()
        share = (seconds - self.start) / (self.end - self.start)
        return round(LEFT + _clamp(share, 0, 1) * (WIDTH - LEFT - RIGHT), 1)


def timeline(*, current: Any, pending: Any, previous: Any, rotation: Any,
             now: datetime) -> dict[str, Any] | None:
    """Geometry of the SVG: one bar per living version, the overlap window in which two
    versions work, and marks for today, the new version's start and the expiry."""
    versions = [(v, label) for v, label in ((previous, "Previous"), (current, "Current"),
                                             (pending, "New")) if v is not None]
    if not versions:
        return None
    # When the current version stops: at its expiry, or earlier when a scheduled rotation
    # retires it (at the start, or at the overlap end when one was given).
    current_end = current.valid_until if current is not None else None
    if current is not None and rotation is not None and pending is not None:
        current_end = old_version_stops_at(
            mode=rotation.mode, starts_at=rotation.starts_at,
            overlap_ends_at=rotation.overlap_ends_at, valid_until=current.valid_until)
    ends = {id(v): (current_end if v is current else v.valid_until) for v, _ in versions}
    when = WhenFormat()
    axis = _Axis.spanning([now] + [v.valid_from for v, _ in versions]
                          + [e for e in ends.values() if e],
                          now, open_ended=any(e is None for e in ends.values()))
    bars = [_bar(version, label, row, ends[id(version)], axis, now, when)
            for row, (version, label) in enumerate(versions)]
    others = [v for v, _ in versions if v is not current]
    overlap = _overlap(current, others[0], ends, axis, when) if current and others else None
    marks = _marks(current, pending, previous, current_end, axis, now, when)
    rows_bottom = TOP + len(versions) * ROW_HEIGHT
    levels = _place_labels(marks, rows_bottom)
    return {
        "width": WIDTH, "height": rows_bottom + 14 * levels + 8, "left": LEFT,
        "right": WIDTH - RIGHT, "rows_bottom": rows_bottom, "bars": bars, "overlap": overlap,
        "marks": marks, "label_x": LEFT - 8,
    }


def _bar(version: Any, label: str, row: int, version_end: datetime | None, axis: _Axis,
         now: datetime, when: WhenFormat) -> Bar:
    left, right = axis.x(version.valid_from), axis.x(version_end)
    expired = version_end is not None and version_end <= now
    return Bar(
        label=label, x=left, width=max(right - left, 2), y=TOP + row * ROW_HEIGHT,
        text_y=TOP + row * ROW_HEIGHT + 11,
        css=f"tl-bar tl-{label.lower()}" + (" tl-expired" if expired else ""),
        open_ended=version_end is None,
        title=f"{label} version {version.number or ''}".rstrip()
              + f": {when.when(version.valid_from)} to "
              + (when.when(version_end) if version_end else "no expiry"),
    )


def _overlap(current: Any, other: Any, ends: dict[int, datetime | None],
             axis: _Axis, when: WhenFormat) -> dict[str, Any] | None:
    """The window in which the current version and the other one both work, if any."""
    begin = max(current.valid_from, other.valid_from)
    known_ends = [e for e in (ends[id(current)], ends[id(other)]) if e is not None]
    finish = min(known_ends) if known_ends else None
    if finish is not None and finish <= begin:
        return None
    until = f"to {when.when(finish)}" if finish else "on"
    return {"x": axis.x(begin), "width": max(axis.x(finish) - axis.x(begin), 2),
            "title": f"Overlap: both work from {when.when(begin)} {until}"}


def _marks(current: Any, pending: Any, previous: Any, current_end: datetime | None,
           axis: _Axis, now: datetime, when: WhenFormat) -> list[Mark]:
    marks = [Mark("Today", axis.x(now), "tl-today", 0, "middle")]
    if pending is not None:
        marks.append(Mark("New ready " + when.day(pending.valid_from), axis.x(pending.valid_from),
                          "tl-ready", 0, "middle"))
    if current_end is not None:
        word = "Stops "
        if current is not None and current_end == current.valid_until:
            word = "Expires "
        if current_end <= now:
            word = "Expired "
        marks.append(Mark(word + when.day(current_end), axis.x(current_end), "tl-expiry", 0,
                          "middle"))
    if previous is not None and previous.valid_until is not None:
        marks.append(Mark("Previous stops " + when.day(previous.valid_until),
                          axis.x(previous.valid_until), "tl-ready", 0, "middle"))
    return marks


def _place_labels(marks: list[Mark], rows_bottom: float) -> int:
    """Puts each mark's label on the first line below the axis where it does not overlap
    another label; returns how many lines are used."""
    taken: list[list[tuple[float, float]]] = []
    for mark in sorted(marks, key=lambda m: m.x):
        width = 6.2 * len(mark.label)
        if mark.x - width / 2 < LEFT:
            mark.anchor, left = "start", mark.x
        elif mark.x + width / 2 > WIDTH - RIGHT:
            mark.anchor, left = "end", mark.x - width
        else:
            left = mark.x - width / 2
        span = (left - 6, left + width + 6)
        level = next((n for n, spans in enumerate(taken)
                      if all(span[1] <= a or span[0] >= b for a, b in spans)), len(taken))
        if level == len(taken):
            taken.append([])
        taken[level].append(span)
        mark.text_y = rows_bottom + 14 * (level + 1)
    return len(taken)


@register.simple_tag
def expiry_timeline(current: Any, pending: Any, previous: Any, rotation: Any,
                    now: datetime) -> SafeString:
    return timeline_html(timeline(current=current, pending=pending, previous=previous,
                                  rotation=rotation, now=now))


_LEGEND = {"New": '<li><span class="swatch swatch-new"></span>New version</li>',
           "Previous": '<li><span class="swatch swatch-previous"></span>Previous version</li>'}


def timeline_html(tl: dict[str, Any] | None) -> SafeString:
    """The timeline's SVG and legend (or a line saying there is no version), written here
    rather than by a template: its thirty-odd values and loops cost a detail page 0.2 ms
    through the engine, a tenth of that here. Numbers are written unlocalized (str()), every
    text escaped as autoescape does (html.escape)."""
    if not tl:
        return mark_safe('<p class="quiet">No version to show.</p>\n')
    overlap, bars, marks = tl["overlap"], tl["bars"], tl["marks"]
    titles = "".join(f"{escape(bar.title)}. " for bar in bars)
    overlap_rect = ""
    if overlap:
        titles += f"{escape(overlap['title'])}."
        overlap_rect = (
            f'<rect class="tl-overlap" x="{overlap["x"]}" y="4" width="{overlap["width"]}" '
            f'height="{tl["rows_bottom"]}"><title>{escape(overlap["title"])}</title></rect>')
    bar_rows = "".join(
        f'\n    <text class="tl-row-label" x="{tl["label_x"]}" y="{bar.text_y}" '
        f'text-anchor="end">{escape(bar.label)}</text>\n'
        f'    <rect class="{escape(bar.css)}" x="{bar.x}" y="{bar.y}" width="{bar.width}" '
        f'height="14" rx="3"><title>{escape(bar.title)}</title></rect>\n    '
        for bar in bars)
    mark_rows = "".join(
        f'\n    <line class="{escape(mark.css)}" x1="{mark.x}" x2="{mark.x}" y1="4" '
        f'y2="{int(mark.text_y) - 10}"/>\n'
        f'    <text class="{escape(mark.css)}-label" x="{mark.x}" y="{mark.text_y}" '
        f'text-anchor="{escape(mark.anchor)}">{escape(mark.label)}</text>\n    '
        for mark in marks)
    legend = "".join(_LEGEND.get(bar.label, "") for bar in bars)
    overlap_legend = ('<li><span class="swatch swatch-overlap"></span>Overlap: both work</li>'
                      if overlap else "")
    # Safe: every text above is escaped; the rest are numbers and fixed markup.
    return mark_safe(  # noqa: S308
        f'\n<figure class="timeline">\n'
        f'  <svg viewBox="0 0 {tl["width"]} {tl["height"]}" role="img" '
        f'aria-labelledby="tl-title" xmlns="http://www.w3.org/2000/svg">\n'
        f'    <title id="tl-title">{titles}</title>\n'
        f'    {overlap_rect}\n'
        f'    {bar_rows}\n'
        f'    <line class="tl-axis" x1="{tl["left"]}" x2="{tl["right"]}" '
        f'y1="{tl["rows_bottom"]}" y2="{tl["rows_bottom"]}"/>\n'
        f'    {mark_rows}\n'
        f'  </svg>\n'
        f'  <ul class="timeline-legend">\n'
        f'    <li><span class="swatch swatch-current"></span>Current version</li>\n'
        f'    {legend}\n'
        f'    {overlap_legend}\n'
        f'    <li><span class="swatch swatch-today"></span>Today</li>\n'
        f'  </ul>\n'
        f'</figure>\n\n')


@register.simple_tag(takes_context=True)
def org_role(context: template.Context, organization: Any) -> str:
    """The label of the signed-in user's role in the organization, for the footer."""
    user = context.get("user")
    if organization is None or user is None or not user.is_authenticated:
        return ""
    role = user.role_in(organization)
    return Role(role).label if role else ""


@register.simple_tag(takes_context=True)
def pagination(context: template.Context, page: Any, noun: str = "") -> SafeString:
    """A list's paginator: the previous and next pages, the page numbers around the current
    one with ellipses (each link keeping the page's other parameters), and how many `noun`s
    ("item" when none is given) there are."""
    request = context.get("request")
    return pagination_html(page, request.GET if request is not None else QueryDict(),
                           noun or "item")


def _page_item(page: Any, number: Any, params: QueryDict) -> str:
    if number is page.paginator.ELLIPSIS:  # the range's only item that is not a number
        return "<span>…</span>\n    "
    if number == page.number:
        return (f'<span class="this-page" aria-current="page">{escape(localize(number))}'
                f'</span>\n    ')
    href = escape(query_string(params, {"page": number}))
    return f'<a href="{href}">{escape(localize(number))}</a>'


def pagination_html(page: Any, params: QueryDict, noun: str) -> SafeString:
    """The paginator's markup, written here rather than by a template (a list page's eight
    links and their conditions cost 0.2 ms through the engine): every link through
    query_string and html.escape, numbers localized as the engine writes them."""
    paginator = page.paginator
    links = ""
    if paginator.num_pages > 1:
        previous = next_ = ""
        if page.has_previous():
            href = escape(query_string(params, {"page": page.previous_page_number()}))
            previous = f'<a href="{href}" rel="prev">‹ Previous</a>'
        if page.has_next():
            href = escape(query_string(params, {"page": page.next_page_number()}))
            next_ = f'<a href="{href}" rel="next">Next ›</a>'
        numbers = "".join(
            f"\n    {_page_item(page, number, params)}\n  "
            for number in paginator.get_elided_page_range(page.number, on_each_side=2,
                                                          on_ends=1))
        links = f"\n  {previous}\n  {numbers}\n  {next_}\n  "
    count = paginator.count
    # Safe: every value is escaped above.
    return mark_safe(  # noqa: S308
        f'\n<nav class="paginator" aria-label="Pages">\n  {links}\n'
        f'  <span>{escape(localize(count))} {escape(noun)}{pluralize(count)}</span>\n'
        f'</nav>\n')
