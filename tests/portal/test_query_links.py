"""The `{% query %}` links (credentials.templatetags.keyturn.query_string) write what a copy of
the request's QueryDict, changed and urlencoded, writes: same order, same encoding."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from credentials.templatetags.keyturn import query_string


def _by_copy(params: QueryDict, changes: dict) -> str:
    """The QueryDict way the tag took before (one deep copy per link)."""
    copied = params.copy()
    if "page" not in changes:
        copied.pop("page", None)
    for name, value in changes.items():
        if value is None or value == "":
            copied.pop(name, None)
        else:
            copied[name] = str(value)
    encoded = copied.urlencode()
    return f"?{encoded}" if encoded else "?"


@pytest.mark.parametrize("query", [
    "", "page=3", "q=a&page=2&sort=-name", "x=1&x=2&q=%C3%A9t%C3%A9+%26+co&status=expired",
    "unit=finance&usage=old_in_use&kind=sftp_key&family=sftp&page=9",
    "a=%3D%3F%23&b=&c=+&d=%2F%3A%40", "page=2&page=3&q=r%C3%A9sum%C3%A9",
])
@pytest.mark.parametrize("changes", [
    {}, {"page": 4}, {"q": ""}, {"sort": "expiry"}, {"status": None},
    {"x": "3"}, {"family": "api", "kind": ""}, {"unit": "r&d"}, {"q": "é ü/?"},
])
def test_it_writes_what_a_changed_copy_of_the_query_dict_writes(query, changes):
    params = QueryDict(query)
    assert query_string(params, changes) == _by_copy(params, changes)
    assert params.urlencode() == QueryDict(query).urlencode()  # the request's is untouched
