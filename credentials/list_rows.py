"""The rows of a credential list page and its filter sidebar as HTML, written here rather than
by the template engine: a page's 50 rows cost 2 ms through `{% for %}` and its variables, a
fifth of that here; the sidebar's forty links a quarter of a millisecond, a tenth of that
here. What a row shows comes from selectors.ListRow and the view (its address and its badges,
rendered once per combination by credentials/_badges.html, already safe); what the sidebar
shows, from the view's FilterGroups. Every other value goes through html.escape, as the
engine's autoescape does (the same function, without its lazy-string wrappers, which cost
more than the escaping itself)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from html import escape

from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator, add_truncation_text, calculate_truncate_chars_length
from django.utils.translation import get_language

from .selectors import ListRow
from .templatetags.keyturn import WhenFormat

FINGERPRINT_SHOWN = 24  # characters, "…" included, as `truncatechars:24`


@dataclass(frozen=True)
class Shortening:
    """Truncator(text).chars(length) in one language, worked out once per process and
    language rather than per text (13 us each, two translations looked up): an ASCII text
    (every fingerprint) longer than `length` keeps its first `keep` characters between
    `before` and `after` (the language's "…"); any other text goes to Truncator, which also
    normalizes it and skips combining characters."""

    length: int
    keep: int
    before: str
    after: str

    def __call__(self, text: str) -> str:
        if not text.isascii():
            return Truncator(text).chars(self.length)
        if len(text) <= self.length:
            return text
        return f"{self.before}{text[:self.keep]}{self.after}"


@cache
def shortening(length: int, language: str | None) -> Shortening:
    """The Shortening to `length` characters in `language` (the active one when asked)."""
    marker = "\x00"  # in no translation: where the kept text goes in the truncation text
    before, _, after = add_truncation_text(marker).partition(marker)
    return Shortening(length, calculate_truncate_chars_length(length, None), before, after)


def _identity(row: ListRow, shorten: Shortening) -> str:
    cell = f'<span class="mono">{escape(row.identity)}</span>'
    if row.key_id:
        cell += f'<br><span class="mono quiet">/ {escape(row.key_id)}</span>'
    if row.fingerprint:
        shown = shorten(row.fingerprint)
        cell += (f'<br><span class="mono quiet" title="{escape(row.fingerprint)}">'
                 f'{escape(shown)}</span>')
    return cell


def _row(row: ListRow, with_unit: bool, when: WhenFormat, shorten: Shortening) -> str:
    unit = f"<td>{escape(row.unit_name)}</td>" if with_unit else ""
    expires = escape(when.when(row.expires_at)) if row.expires_at is not None \
        else '<span class="quiet">Never</span>'
    return (
        f'\n        <tr>\n'
        f'          <th scope="row"><a href="{escape(row.url)}">{escape(row.name)}</a><br>'
        f'<span class="quiet">{escape(row.kind_label)}</span></th>\n'
        f'          {unit}\n'
        f'          <td class="identity">{_identity(row, shorten)}</td>\n'
        f'          <td class="nowrap">{expires}</td>\n'
        f'          <td class="status">{row.badges_html}</td>\n'
        f'        </tr>\n      '
    )


def rows_html(rows: Iterable[ListRow], *, with_unit: bool) -> SafeString:
    """The `<tr>` of each row, in order; `with_unit` adds the Business unit column. Expiries
    are in the viewer's zone, looked up once for all the rows, and fingerprints shortened in
    the active language, looked up once too."""
    when, shorten = WhenFormat(), shortening(FINGERPRINT_SHOWN, get_language())
    # Safe: every value in a row is escaped above; badges_html is a rendered template.
    return mark_safe("".join(  # noqa: S308
        _row(row, with_unit, when, shorten) for row in rows))


@dataclass(frozen=True)
class FilterLink:
    label: str
    href: str
    selected: bool


@dataclass(frozen=True)
class FilterGroup:
    title: str
    links: list[FilterLink]
    id: str = ""


_SELECTED = ' class="selected"'


def _filter_group(group: FilterGroup) -> str:
    element_id = f' id="{escape(group.id)}"' if group.id else ""
    links = "".join(
        f'<li{_SELECTED if link.selected else ""}>'
        f'<a href="{escape(link.href)}">{escape(str(link.label))}</a></li>'
        for link in group.links)
    return (f'\n    <div class="filter-group"{element_id}>\n'
            f'    <h3>{escape(str(group.title))}</h3>\n'
            f'    <ul>\n      {links}\n    </ul>\n    </div>\n    ')


def filter_groups_html(groups: Iterable[FilterGroup]) -> SafeString:
    """The sidebar's groups, each a title and its links, the selected ones marked."""
    # Safe: every value is escaped above.
    return mark_safe("".join(_filter_group(group) for group in groups))  # noqa: S308
