"""The audit log page: filters by actor, action, credential and dates (in the viewer's time
zone), and a CSV export with the same filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.services import audit_record
from credentials.services import secret_reveal
from organizations.access import SYSTEM
from tests.factories import make_credential, make_user

URL = "/o/acme/audit/"
CSV_URL = "/o/acme/audit/export.csv"


def _rows(response) -> list[str]:
    html = response.content.decode()
    table = html.split('id="audit-events"')[1].split("</table>")[0]
    return [row for row in table.split("<tr>")[2:] if "<td" in row and "empty" not in row]


def _csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def trail(unit, alice, bob, acme, globex, charlie, time_machine):
    time_machine.move_to(datetime(2030, 5, 10, 22, 30, tzinfo=UTC), tick=False)
    drop = make_credential(unit, actor=alice, name="Partner drop")
    key = make_credential(unit, actor=bob, name="Bank key")
    time_machine.move_to(datetime(2030, 5, 11, 8, 0, tzinfo=UTC), tick=False)
    secret_reveal(credential=drop, actor=bob, source_ip="192.0.2.4")
    secret_reveal(credential=key, actor=alice, source_ip="192.0.2.5")
    with transaction.atomic():
        audit_record(action="test.formula", actor=SYSTEM, organization=acme,
                     target_label="=HYPERLINK(\"http://evil\")")
    make_credential(globex.business_units.get(), actor=charlie, name="Not ours")
    return {"drop": drop, "key": key}


def test_it_lists_only_the_organizations_events_newest_first(client, rita, trail):
    client.force_login(rita)
    rows = _rows(client.get(URL))
    assert len(rows) == AuditEvent.objects.filter(organization__slug="acme").count()
    assert "test.formula" in rows[0]
    assert not any("Not ours" in row for row in rows)


def test_it_filters_by_actor_action_and_credential(client, rita, bob, trail):
    client.force_login(rita)
    assert len(_rows(client.get(URL, {"action": "secret.reveal"}))) == 2
    bobs = _rows(client.get(URL, {"actor": str(bob.pk)}))
    assert len(bobs) == 2 and all("bob" in row for row in bobs)
    reveals_of_drop = _rows(client.get(URL, {"action": "secret.reveal",
                                             "credential": str(trail["drop"].pk)}))
    assert len(reveals_of_drop) == 1 and "192.0.2.4" in reveals_of_drop[0]
    by_name = _rows(client.get(URL, {"credential": "bank"}))
    assert len(by_name) == 2  # created and revealed
    system = _rows(client.get(URL, {"actor": "system"}))  # the fixtures' memberships too
    assert "test.formula" in system[0]
    assert all('<td class="who">system</td>' in row for row in system)
    assert not any("secret.reveal" in row for row in system)


def test_it_filters_by_days_in_the_viewers_time_zone(client, acme, trail):
    # 22:30 UTC on 10 May is already 11 May in Berlin.
    client.force_login(make_user("berta", acme, "reviewer", time_zone="Europe/Berlin"))
    on_the_11th = _rows(client.get(URL, {"since": "2030-05-11", "until": "2030-05-11"}))
    # 2 creations at 00:30 local, 2 reveals, the formula and berta's own membership.
    assert len(on_the_11th) == 6
    # Before the 11th (Berlin) there are only the memberships the fixtures made in 2026.
    earlier = _rows(client.get(URL, {"until": "2030-05-10"}))
    assert earlier and all("member.add" in row for row in earlier)


def test_it_refuses_an_end_before_the_start_on_its_field(client, rita, trail):
    client.force_login(rita)
    response = client.get(URL, {"since": "2030-05-12", "until": "2030-05-01"})
    assert "The end date is before the start date." in response.content.decode()
    assert _rows(response) == []


def test_it_exports_the_filtered_events_as_csv_without_formulas(client, rita, trail):
    client.force_login(rita)
    response = client.get(CSV_URL, {"action": "secret.reveal"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    rows = _csv(response)
    assert {row["actor"] for row in rows} == {"alice", "bob"}
    assert {row["source_ip"] for row in rows} == {"192.0.2.4", "192.0.2.5"}
    assert rows[0]["at_utc"] == "2030-05-11T08:00:00Z"
    everything = _csv(client.get(CSV_URL))
    formula = next(row for row in everything if row["action"] == "test.formula")
    assert formula["target"].startswith("'=")


def test_it_keeps_secrets_out_of_the_export(client, rita, trail):
    from credentials.services import version_secret

    client.force_login(rita)
    body = b"".join(client.get(CSV_URL).streaming_content).decode()
    for credential in trail.values():
        assert version_secret(credential.versions.get()) not in body


def test_it_links_a_credentials_history_to_its_events(client, rita, trail):
    client.force_login(rita)
    drop = trail["drop"]
    page = client.get(f"/o/acme/credentials/{drop.pk}/?tab=history").content.decode()
    assert f"/o/acme/audit/?credential={drop.pk}" in page
    assert len(_rows(client.get(URL, {"credential": str(drop.pk)}))) == 2



def test_it_tells_apart_events_in_the_hour_that_comes_twice(client, acme, unit, alice,
                                                            time_machine):
    """The night Berlin's clocks go back, 02:30 comes twice: a reviewer there reads which."""
    for moment, name in ((datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "First"),
                         (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "Second")):
        time_machine.move_to(moment, tick=False)
        make_credential(unit, actor=alice, name=name)
    client.force_login(make_user("berlin", acme, "reviewer", time_zone="Europe/Berlin"))
    second, first = [row for row in _rows(client.get(URL + "?action=credential.create"))
                     if "First" in row or "Second" in row]
    assert "25 Oct 2026 02:30 CET<" in second and "Second" in second
    assert "25 Oct 2026 02:30 CEST<" in first and "First" in first
