"""Credential lists and the overview: filters, search, sort and pagination as shareable GET
parameters, and a cost in queries that does not grow with the number of credentials."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from credentials.models import Credential, Kind
from credentials.rotation.requests import rotation_schedule
from credentials.services import credential_set_active
from tests.factories import make_connection, make_credential, material_for

LIST = "/o/acme/credentials/"


def _names(response) -> list[str]:
    """Credential names in the result table, in order."""
    html = response.content.decode()
    table = html.split('id="result_list"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', table)


@pytest.fixture
def assorted(unit, acme, alice):
    """Credentials that show each badge, in two units and of several kinds."""
    finance = acme.business_units.get(slug="finance")
    now = timezone.now()
    made = {
        "far": make_credential(unit, name="Far away", expires_in=timedelta(days=200),
                               actor=alice, username="far-user"),
        "soon": make_credential(unit, name="Soon gone", expires_in=timedelta(days=5),
                                actor=alice),
        "later": make_credential(unit, name="Later gone", expires_in=timedelta(days=12),
                                 actor=alice),
        "expired": make_credential(unit, name="Long expired", valid_until=now - timedelta(days=3),
                                   actor=alice, now=now - timedelta(days=30)),
        "key": make_credential(finance, Kind.SFTP_KEY, name="Bank key", actor=alice),
        "api": make_credential(finance, Kind.API_CLIENT_SECRET, name="Billing API",
                               actor=alice, client_id="billing-client-77"),
        "cert": make_credential(finance, Kind.AS2_CERTIFICATE, name="EDI cert", actor=alice),
    }
    for key in ("far", "soon", "key"):
        make_connection(made[key], alice)
    rotation_schedule(credential=made["later"], starts_at=now + timedelta(days=2),
                      material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    return made


def test_it_filters_by_each_status_badge(client, alice, assorted):
    client.force_login(alice)
    expected = {
        "active": {"Far away", "Soon gone", "Bank key"},
        "inactive": {"Later gone", "Long expired", "Billing API", "EDI cert"},
        "expiring_soon": {"Soon gone", "Later gone"},
        "expired": {"Long expired"},
        "rotation_scheduled": {"Later gone"},
    }
    for status, names in expected.items():
        assert set(_names(client.get(LIST, {"status": status}))) == names, status


def test_it_filters_by_kind_family_and_business_unit(client, alice, assorted):
    client.force_login(alice)
    assert _names(client.get(LIST, {"kind": "sftp_key"})) == ["Bank key"]
    assert set(_names(client.get(LIST, {"family": "api"}))) == {"Billing API"}
    assert set(_names(client.get(LIST, {"unit": "finance"}))) == {
        "Bank key", "Billing API", "EDI cert"}
    assert set(_names(client.get(LIST, {"unit": "finance", "family": "sftp"}))) == {"Bank key"}
    # The unit's page shows its credentials of one family per tab.
    assert set(_names(client.get("/o/acme/units/finance/as2/"))) == {"EDI cert"}
    assert set(_names(client.get("/o/acme/units/warehouse/"))) == {
        "Far away", "Soon gone", "Later gone", "Long expired"}


def test_it_combines_filters_into_a_shareable_url(client, alice, assorted):
    client.force_login(alice)
    response = client.get(LIST, {"status": "expiring_soon", "unit": "warehouse",
                                 "sort": "-expiry"})
    assert _names(response) == ["Later gone", "Soon gone"]
    html = response.content.decode()
    # The filter links keep the other parameters (and drop the page).
    assert "?status=expired&amp;unit=warehouse&amp;sort=-expiry" in html


def test_it_ignores_unknown_filter_values_instead_of_failing(client, alice, assorted):
    client.force_login(alice)
    response = client.get(LIST, {"status": "bogus", "kind": "nope", "unit": "x", "sort": "?",
                                 "page": "999"})
    assert response.status_code == 200
    assert len(_names(response)) == len(assorted)


def test_it_searches_name_user_client_id_and_fingerprint_of_the_current_version(
        client, alice, assorted):
    client.force_login(alice)
    key_fingerprint = assorted["key"].versions.get().fingerprint
    cert_fingerprint = assorted["cert"].versions.get().fingerprint
    assert _names(client.get(LIST, {"q": "far-user"})) == ["Far away"]
    assert _names(client.get(LIST, {"q": "BILLING-client"})) == ["Billing API"]
    assert _names(client.get(LIST, {"q": key_fingerprint})) == ["Bank key"]
    assert _names(client.get(LIST, {"q": cert_fingerprint[:20]})) == ["EDI cert"]
    assert _names(client.get(LIST, {"q": "soon"})) == ["Soon gone"]
    assert _names(client.get(LIST, {"q": "no such thing"})) == []


def test_it_searches_only_the_current_version_not_old_ones(client, alice, assorted):
    from credentials.rotation.requests import rotation_rotate_now

    client.force_login(alice)
    rotation_rotate_now(credential=assorted["far"], actor=alice,
                        material=material_for(Kind.SFTP_PASSWORD, username="new-user"))
    assert _names(client.get(LIST, {"q": "far-user"})) == []
    assert _names(client.get(LIST, {"q": "new-user"})) == ["Far away"]


def test_it_sorts_by_expiry_both_ways_with_no_expiry_last(client, alice, assorted):
    client.force_login(alice)
    # API client secrets expire after their lifetime (180 days), certificates after a year;
    # the SFTP key never expires and comes last either way.
    soonest_first = _names(client.get(LIST, {"sort": "expiry"}))
    assert soonest_first == ["Long expired", "Soon gone", "Later gone", "Billing API",
                             "Far away", "EDI cert", "Bank key"]
    latest_first = _names(client.get(LIST, {"sort": "-expiry"}))
    assert latest_first == [*soonest_first[-2::-1], "Bank key"]
    assert _names(client.get(LIST))[:2] == ["Bank key", "Billing API"]


def test_it_paginates_and_keeps_the_filters_across_pages(client, alice, unit):
    for n in range(55):
        make_credential(unit, name=f"Cred {n:03}", actor=alice)
    client.force_login(alice)
    first = client.get(LIST, {"q": "Cred"})
    assert _names(first) == [f"Cred {n:03}" for n in range(50)]
    assert "?q=Cred&amp;page=2" in first.content.decode()
    second = client.get(LIST, {"q": "Cred", "page": "2"})
    assert _names(second) == [f"Cred {n:03}" for n in range(50, 55)]
    assert "55 credentials" in second.content.decode()


def _fill(unit, alice, count: int) -> None:
    """Credentials that need every relation a row shows: a connection, an expiry close
    enough for a badge and, for some, a scheduled rotation."""
    now = timezone.now()
    start = Credential.objects.count()
    for n in range(start, start + count):
        credential = make_credential(unit, name=f"Bulk {n:04}", actor=alice,
                                     expires_in=timedelta(days=n % 20 + 1))
        if n % 3 == 0:
            make_connection(credential, alice)
        if n % 5 == 0:
            rotation_schedule(credential=credential, starts_at=now + timedelta(days=1),
                              material=material_for(Kind.SFTP_PASSWORD), actor=alice)


PAGES = [
    LIST,
    LIST + "?status=expiring_soon&sort=expiry&q=Bulk",
    "/o/acme/units/warehouse/sftp/",
    "/o/acme/",
    "/o/acme/units/",
]
# A list page: session, user, organization, units (filter), count, the page (its rows with
# their current versions, in one query), the role (menu) and the organizations (switcher).
# Whatever other apps' context processors add to every page comes on top, so the bound leaves
# some room.
MOST_QUERIES = 15


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_it_costs_the_same_queries_for_10_or_130_credentials(
        client, alice, unit, django_assert_num_queries):
    _fill(unit, alice, 10)
    client.force_login(alice)
    few = {url: _queries(client, url) for url in PAGES}
    assert max(few.values()) <= MOST_QUERIES, few
    _fill(unit, alice, 120)
    for url, queries in few.items():
        with django_assert_num_queries(queries):
            response = client.get(url)
        assert response.status_code == 200
    assert len(_names(client.get(LIST))) == 50


def test_it_shows_status_counts_and_worklists_on_the_overview(client, rita, alice, assorted):
    client.force_login(rita)
    response = client.get("/o/acme/")
    html = response.content.decode()
    counts = {badge: n for n, badge in re.findall(
        r'<span class="n">(\d+)</span><span class="badge badge-(\w+)">', html)}
    assert counts == {"active": "3", "inactive": "4", "expiring_soon": "2", "expired": "1",
                      "rotation_scheduled": "1"}
    expiring = html.split('id="expiring"')[1].split("</table>")[0]
    assert expiring.index("Soon gone") < expiring.index("Later gone")
    assert "Far away" not in expiring  # 200 days away
    assert "Long expired" in html.split('id="expired"')[1].split("</table>")[0]
    assert "Later gone" in html.split('id="scheduled"')[1].split("</table>")[0]
    assert "credential.create" in html.split('id="recent-changes"')[1]


def test_it_shows_recent_reveals_to_auditors_but_not_to_viewers(client, alice, vic, assorted):
    client.force_login(alice)
    client.post(reverse("credential_reveal", args=["acme", assorted["far"].pk]))
    assert "Far away" in client.get("/o/acme/").content.decode().split(
        'id="recent-reveals"')[1].split("</table>")[0]
    client.force_login(vic)
    html = client.get("/o/acme/").content.decode()
    assert 'id="recent-reveals"' not in html and 'id="recent-changes"' not in html


def test_it_counts_a_deactivated_credential_as_inactive(client, alice, assorted):
    credential_set_active(credential=assorted["far"], active=False, actor=alice)
    client.force_login(alice)
    assert "Far away" in _names(client.get(LIST, {"status": "inactive"}))
    assert Credential.objects.count() == len(assorted)


def test_it_lists_business_units_with_their_counts(client, vic, assorted):
    client.force_login(vic)
    html = client.get("/o/acme/units/").content.decode()
    finance = html.split(">Finance</a>")[1].split("</tr>")[0]
    assert re.findall(r">(\d+)</a>", finance) == ["1", "1", "1"]
