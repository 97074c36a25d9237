"""A list's paginator (keyturn.pagination_html) is written in Python: on every page of lists
of every length it must read exactly as its template (pagination_template.html, the one it
replaced) wrote it, its links keeping the page's other parameters, every value escaped."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.paginator import Paginator
from django.http import QueryDict
from django.template import Context, Template
from django.test import RequestFactory, override_settings

from credentials.templatetags.keyturn import pagination_html

# The template's `page|elided` filter went with it: the test gives the same range.
TEMPLATE = Template((Path(__file__).parent / "pagination_template.html").read_text().replace(
    "page|elided", "elided"))


def _reference(page, params: QueryDict, noun: str) -> str:
    request = RequestFactory().get("/", params)
    return TEMPLATE.render(Context({
        "page": page, "request": request, "noun": noun,
        "elided": list(page.paginator.get_elided_page_range(page.number, on_each_side=2,
                                                             on_ends=1))}))


@pytest.mark.parametrize("total", [0, 1, 2, 50, 51, 149, 1_000, 10_000])
@pytest.mark.parametrize("query", ["", "q=R%26D+%3Cb%3E&status=expired&page=3",
                                   "page=x&sort=-name"])
def test_it_writes_each_page_of_a_list_as_its_template_did(total, query):
    paginator = Paginator(range(total), 50)
    params = QueryDict(query)
    pages = paginator.num_pages
    for number in sorted({1, 2, 3, 4, 5, pages // 2, pages - 1, pages} & set(range(1, pages + 1))):
        page = paginator.page(number)
        for noun in ("credential", ""):
            written = pagination_html(page, params, noun or "item")
            assert written == _reference(page, params, noun), (total, number, noun)


def test_it_escapes_the_links_and_the_noun_and_localizes_numbers():
    page = Paginator(range(12_345), 50).page(2)
    params = QueryDict("q=%22%3E%3Cscript%3E")
    written = pagination_html(page, params, "<i>event</i>")
    assert written == _reference(page, params, "<i>event</i>")
    assert "<script>" not in written and "<i>" not in written
    assert 'href="?q=%22%3E%3Cscript%3E&amp;page=3"' in written
    with override_settings(USE_THOUSAND_SEPARATOR=True):
        written = pagination_html(page, params, "event")
        assert "12,345 events" in written
        assert written == _reference(page, params, "event")
