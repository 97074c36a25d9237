"""The credential list's rows (selectors.CredentialPage, credentials.list_rows): each row says
what the credential and its current version say, as the model path decides it; pages in every
sort are the whole ordered list cut in pieces; every value is escaped."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.text import Truncator

from credentials import list_rows, selectors
from credentials.kinds import kinds_in_family
from credentials.list_rows import FilterGroup, FilterLink, filter_groups_html
from credentials.models import Credential, Kind, VersionState
from credentials.rotation.requests import rotation_schedule
from credentials.services import credential_set_active
from credentials.status import Badge, credential_badges, with_status
from organizations.roles import Role
from tests.factories import make_connection, make_credential, make_user, material_for


def _page(user, organization, now, sort="name", **filters):
    return selectors.CredentialPage(
        user=user, organization=organization, now=now,
        filters=selectors.CredentialFilters(sort=sort, **filters))


@pytest.fixture
def every_badge(unit, acme, alice):
    """Credentials of every kind showing every combination of badges the list can show."""
    finance = acme.business_units.get(slug="finance")
    now = timezone.now()
    made = [
        make_credential(unit, name="Active far", expires_in=timedelta(days=200), actor=alice),
        make_credential(unit, name="Active soon", expires_in=timedelta(days=5), actor=alice),
        make_credential(unit, name="Active expired", valid_until=now - timedelta(days=1),
                        actor=alice, now=now - timedelta(days=30)),
        make_credential(unit, name="Scheduled", expires_in=timedelta(days=12), actor=alice),
        make_credential(unit, name="Deactivated", actor=alice),
        make_credential(finance, Kind.SFTP_KEY, name="Key", actor=alice),
        make_credential(finance, Kind.API_CLIENT_SECRET, name="Client", actor=alice,
                        client_id="client-42"),
        make_credential(finance, Kind.AS2_CERTIFICATE, name="Cert", actor=alice),
    ]
    for credential in made[:3] + made[4:6]:
        make_connection(credential, alice)
    rotation_schedule(credential=made[3], starts_at=now + timedelta(days=2),
                      material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    credential_set_active(credential=made[4], active=False, actor=alice)
    return made


def test_each_row_says_what_the_credential_and_its_current_version_say(
        alice, acme, every_badge):
    now = timezone.now()
    rows = _page(alice, acme, now)[0:50]
    models = {c.pk: c for c in with_status(Credential.objects.select_related("business_unit"))}
    assert {row.pk for row in rows} == set(models)
    seen_badges = set()
    for row in rows:
        credential = models[row.pk]
        current = credential.versions.get(state=VersionState.CURRENT)
        badges = credential_badges(row, now)
        assert badges == credential_badges(credential, now), row.name
        seen_badges.update(badges)
        assert (row.name, row.kind_label, row.unit_name, row.expires_at) == (
            credential.name, credential.get_kind_display(), credential.business_unit.name,
            credential.expires_at)
        assert (row.username, row.client_id, row.key_id, row.fingerprint) == (
            current.username, current.client_id, current.key_id, current.fingerprint)
        assert row.identity == (current.username or current.client_id or "—")
    assert len(seen_badges) == 5  # every badge is shown by some row


@pytest.mark.parametrize("sort", ["name", "-name", "expiry", "-expiry"])
def test_pages_are_the_whole_ordered_list_cut_in_pieces(alice, acme, unit, sort):
    finance = acme.business_units.get(slug="finance")
    now = timezone.now()
    for n in range(63):
        # Names repeat (the id decides), expiries repeat, some never expire.
        make_credential(unit if n % 2 else finance, name=f"Partner {n % 20:02}", actor=alice,
                        expires_in=None if n % 7 == 0 else timedelta(days=n % 9 + 1))
    page = _page(alice, acme, now, sort=sort)
    pieces = [row.pk for start in (0, 25, 50) for row in page[start:start + 25]]
    expected = list(with_status(Credential.objects.all()).order_by(
        *selectors.SORTS[sort]).values_list("pk", flat=True))
    assert pieces == expected
    assert page.count() == 63


def test_pages_hold_only_what_the_filters_keep(alice, acme, unit, every_badge):
    now = timezone.now()
    page = _page(alice, acme, now, status="expiring_soon", unit=unit, sort="expiry")
    assert [row.name for row in page[0:50]] == ["Active soon", "Scheduled"]
    assert page.count() == 2


def test_another_organizations_member_gets_no_rows(globex, acme, every_badge):
    outsider = make_user("gina", globex, Role.OWNER)
    page = _page(outsider, acme, timezone.now())
    assert page[0:50] == [] and page.count() == 0


def test_every_value_of_a_row_is_escaped(client, alice, unit):
    make_credential(unit, name='<script>alert("x")</script> & co', actor=alice)
    unit.name = "<b>R&D</b>"
    unit.save()
    client.force_login(alice)
    html = client.get("/o/acme/credentials/").content.decode()
    rows = html.split('id="result_list"', 1)[1].split("</table>", 1)[0]
    assert "<script>alert" not in rows and "<b>R&D</b>" not in rows
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co</a>" in rows
    assert "<td>&lt;b&gt;R&amp;D&lt;/b&gt;</td>" in rows


@pytest.mark.parametrize("status", ["", "active", "inactive", "rotation_scheduled", "expired",
                                    "expiring_soon"])
def test_each_filter_keeps_what_the_status_rule_keeps_for_each_unit_and_kind(
        alice, acme, unit, every_badge, status):
    """The same shape of filters (prepared once, or compiled per request for a status that is
    a matter of time) with other values: each unit and kind gets its own credentials."""
    now = timezone.now()
    finance = acme.business_units.get(slug="finance")
    models = list(with_status(Credential.objects.all()))
    for business_unit in (unit, finance, unit):
        for kind in ("", Kind.SFTP_PASSWORD, Kind.SFTP_KEY):
            page = _page(alice, acme, now, status=status, unit=business_unit, kind=kind)
            expected = sorted(
                c.name for c in models if c.business_unit_id == business_unit.pk
                 and (not kind or c.kind == kind)
                 and (not status or status in credential_badges(c, now)))
            assert [row.name for row in page[0:50]] == expected, (business_unit, kind)
            assert page.count() == len(expected)


@pytest.mark.parametrize("unit_slug", ["", "warehouse", "finance"])
@pytest.mark.parametrize("family", ["", "sftp", "api"])
@pytest.mark.parametrize("kind", ["", Kind.SFTP_PASSWORD, Kind.SFTP_KEY])
def test_it_counts_a_list_by_unit_kind_and_family_from_the_tallies(
        alice, acme, globex, every_badge, unit_slug, family, kind):
    """Counted from the units' tallies, as many as a real COUNT of the credentials, and by
    one query that reads no credential."""
    make_credential(globex.business_units.get(), name="Other organization's")
    Credential.objects.filter(name="Key").update(  # a move the tally follows
        business_unit=acme.business_units.get(slug="warehouse"), kind=Kind.SFTP_PASSWORD)
    unit = acme.business_units.get(slug=unit_slug) if unit_slug else None
    page = _page(alice, acme, timezone.now(), unit=unit, family=family, kind=kind)
    with CaptureQueriesContext(connection) as captured:
        counted = page.count()
    expected = Credential.objects.filter(business_unit__organization=acme)
    if unit is not None:
        expected = expected.filter(business_unit=unit)
    if family:
        expected = expected.filter(kind__in=kinds_in_family(family))
    if kind:
        expected = expected.filter(kind=kind)
    assert counted == expected.count()
    assert counted == len(page[0:50])
    [query] = captured.captured_queries
    assert 'FROM "credentials_credentialtally"' in query["sql"]
    assert '"credentials_credential"' not in query["sql"]


def test_a_non_member_counts_no_credential_from_the_tallies(globex, acme, unit, every_badge):
    outsider = make_user("gina", globex, Role.OWNER)
    assert every_badge and _page(outsider, acme, timezone.now(), unit=unit).count() == 0
    assert _page(outsider, acme, timezone.now(), family="sftp").count() == 0


def test_a_list_filtered_by_status_counts_the_credentials_themselves(alice, acme, every_badge):
    with CaptureQueriesContext(connection) as captured:
        counted = _page(alice, acme, timezone.now(), status="inactive").count()
    assert counted == 4  # Scheduled, Deactivated, Client and Cert
    assert "credentials_credentialtally" not in captured.captured_queries[0]["sql"]


def test_a_unit_page_names_one_of_the_organizations_units(client, alice, acme, globex):
    client.force_login(alice)
    assert client.get("/o/acme/units/finance/").status_code == 200
    assert client.get("/o/acme/units/nope/").status_code == 404
    assert client.get("/o/acme/units/operations/").status_code == 404  # globex's unit
    assert [u.slug for u in selectors.organization_units(acme)] == list(
        acme.business_units.order_by("name").values_list("slug", flat=True))
    assert [u.slug for u in selectors.organization_units(globex)] == ["operations"]


def _sidebar(html: str) -> dict[str, list[tuple[str, str, bool]]]:
    """Each filter group's links: (label, href, selected)."""
    nav = html.split('<nav id="changelist-filter"', 1)[1].split("</nav>", 1)[0]
    groups = {}
    for title, items in re.findall(r"<h3>([^<]+)</h3>\s*<ul>(.*?)</ul>", nav, re.S):
        groups[title] = [(label, href.replace("&amp;", "&"), selected == ' class="selected"')
                         for selected, href, label in re.findall(
                             r'<li( class="selected")?><a href="([^"]*)">([^<]+)</a></li>',
                             items)]
    return groups


def test_the_filter_links_keep_the_other_parameters_and_mark_the_current_one(
        client, alice, every_badge):
    client.force_login(alice)
    html = client.get("/o/acme/credentials/", {"q": "a", "family": "sftp", "kind": "sftp_key",
                                               "unit": "finance", "page": "1"}).content.decode()
    groups = _sidebar(html)
    assert list(groups) == ["By status", "By kind family", "By kind", "By business unit",
                            "By use"]
    assert groups["By status"][0] == ("All", "?q=a&family=sftp&kind=sftp_key&unit=finance",
                                      True)
    assert ("Expired", "?q=a&family=sftp&kind=sftp_key&unit=finance&status=expired",
            False) in groups["By status"]
    # A family drops the kind; the kinds offered are the family's.
    assert ("API Credentials", "?q=a&family=api&unit=finance", False) in groups[
        "By kind family"]
    assert [selected for _, _, selected in groups["By kind family"]] == [
        False, True, False, False]
    assert [(label, selected) for label, _, selected in groups["By kind"]] == [
        ("All", False), ("SFTP password", False), ("SFTP key", True)]
    assert ("Warehouse", "?q=a&family=sftp&kind=sftp_key&unit=warehouse", False) in groups[
        "By business unit"]
    assert ("Finance", "?q=a&family=sftp&kind=sftp_key&unit=finance", True) in groups[
        "By business unit"]
    assert groups["By use"][1] == (
        "Old version still in use",
        "?q=a&family=sftp&kind=sftp_key&unit=finance&usage=old_in_use", False)
    assert 'id="usage-filter"' in html


def test_a_unit_page_filters_neither_by_family_nor_by_unit(client, alice, every_badge):
    client.force_login(alice)
    groups = _sidebar(client.get("/o/acme/units/finance/api/",
                                 {"status": "active"}).content.decode())
    assert list(groups) == ["By status", "By kind", "By use"]
    assert ("Active", "?status=active", True) in groups["By status"]
    assert [label for label, _, _ in groups["By kind"]] == [
        "All", "API client secret", "API key"]


# The sidebar's markup as the list's template wrote it before list_rows.filter_groups_html.
SIDEBAR_TEMPLATE = """{% for group in filter_groups %}
    <div class="filter-group"{% if group.id %} id="{{ group.id }}"{% endif %}>
    <h3>{{ group.title }}</h3>
    <ul>
      {% for link in group.links %}<li{% if link.selected %} class="selected"{% endif %}>\
<a href="{{ link.href }}">{{ link.label }}</a></li>{% endfor %}
    </ul>
    </div>
    {% endfor %}"""


def test_the_filter_sidebar_is_written_as_the_template_wrote_it_every_value_escaped():
    groups = [
        FilterGroup("By status", [FilterLink("All", "?q=a&family=sftp", True),
                                  FilterLink(Badge.EXPIRED.label, "?status=expired", False)]),
        FilterGroup('By "unit" <b>', [FilterLink("<script>R&D</script>", '?unit="x"&y=<z>',
                                                 False)], id="unit-filter"),
        FilterGroup("By use", [], id="usage-filter"),
    ]
    written = filter_groups_html(groups)
    assert written == Template(SIDEBAR_TEMPLATE).render(Context({"filter_groups": groups}))
    assert "<script>" not in written and "<b>" not in written
    assert "&lt;script&gt;R&amp;D&lt;/script&gt;" in written
    assert 'href="?unit=&quot;x&quot;&amp;y=&lt;z&gt;"' in written


@pytest.mark.parametrize("language", ["en-gb", "de", "ckb", "he", "ms", "pt-br", "zh-hans"])
def test_it_shortens_fingerprints_as_truncatechars_does_in_each_language(language):
    """Among them, languages whose "…" is three dots, has a space before it or before the text,
    or a direction mark: the characters kept depend on it."""
    texts = ["", "short", "x" * 24, "y" * 25, "SHA256:" + "Ab3dEf9hIjKlMnOpQrStUvWxYz0123456789",
             "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99",
             "e\u0301" * 30, "ﬁngerprint-é-" * 3, "e\u0301" * 24]  # combining, NFC, ligature
    with translation.override(language):
        shorten = list_rows.shortening(list_rows.FINGERPRINT_SHOWN, translation.get_language())
        for text in texts:
            assert shorten(text) == Truncator(text).chars(list_rows.FINGERPRINT_SHOWN), text
    assert shorten is list_rows.shortening(list_rows.FINGERPRINT_SHOWN, language)
