"""Overlaps in progress on the overview, the list filter "old version still in use" and the
CSV export of the cut-over state: what they show, what they cost, who may have them."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.demo import load_demo_data
from credentials.kinds import sftp_password
from credentials.models import Kind, UseChannel
from credentials.rotation.requests import rotation_rotate_now
from credentials.services import current_version
from credentials.usage import version_use_record
from organizations.models import User
from tests.factories import make_credential

OVERVIEW = "/o/acme/"
EXPORT = "/o/acme/cutover.csv"


def _overlap(unit, actor, name, *, old_used_from=None, new_used_from=None):
    """A credential in an overlap of three days, its versions used as asked."""
    credential = make_credential(unit, Kind.SFTP_PASSWORD, actor=actor, name=name,
                                 username=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
    old = current_version(credential)
    rotation_rotate_now(credential=credential, actor=actor,
                        overlap_ends_at=timezone.now() + timedelta(days=3),
                        material=sftp_password.material(username=old.username,
                                                        password="p" * 24))
    now = timezone.now()
    if old_used_from:
        version_use_record(version=old, channel=UseChannel.SFTP_LOGIN, address=old_used_from,
                           now=now - timedelta(hours=1))
    if new_used_from:
        version_use_record(version=current_version(credential), channel=UseChannel.SFTP_LOGIN,
                           address=new_used_from, now=now - timedelta(minutes=30))
    return credential


def _rows(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), len(captured)


def test_the_overview_shows_each_overlap_with_its_cut_over_state(client, unit, alice):
    _overlap(unit, alice, "Waiting drop", old_used_from="203.0.113.1")
    _overlap(unit, alice, "Switched drop", new_used_from="203.0.113.2")
    _overlap(unit, alice, "Both drop", old_used_from="203.0.113.3", new_used_from="203.0.113.4")
    make_credential(unit, actor=alice, name="Quiet drop")
    client.force_login(alice)
    html, _ = _rows(client, OVERVIEW)
    section = html.split('id="cutovers"')[1].split("</table>")[0]
    assert "Quiet drop" not in section
    states = {name: state for name, state in (
        (row.split("</a>")[0].rsplit(">", 1)[1], row.split('"')[0])
        for row in section.split('data-state="')[1:])}
    assert states == {"Waiting drop": "waiting", "Switched drop": "switched",
                      "Both drop": "switched_old_in_use"}


def test_the_overview_costs_the_same_queries_for_two_or_twelve_overlaps(client, unit, alice):
    for n in range(2):
        _overlap(unit, alice, f"Drop {n}", old_used_from="192.0.2.1", new_used_from="192.0.2.2")
    client.force_login(alice)
    _, few = _rows(client, OVERVIEW)
    for n in range(2, 12):
        _overlap(unit, alice, f"Drop {n}", old_used_from="192.0.2.1")
    html, many = _rows(client, OVERVIEW)
    assert html.split('id="cutovers"')[1].count("data-state=") == 12
    assert many == few


def test_the_list_filter_keeps_credentials_whose_old_version_is_still_in_use(
        client, unit, alice):
    _overlap(unit, alice, "Old in use", old_used_from="203.0.113.1", new_used_from="203.0.113.2")
    _overlap(unit, alice, "Switched", new_used_from="203.0.113.4")
    stale = _overlap(unit, alice, "Used long ago")
    version_use_record(version=stale.versions.get(state="previous"),
                       channel=UseChannel.SFTP_LOGIN, address="203.0.113.5",
                       now=timezone.now() - timedelta(hours=30))
    make_credential(unit, actor=alice, name="No overlap")
    client.force_login(alice)
    html = client.get(reverse("credential_list", args=["acme"]) + "?usage=old_in_use"
                      ).content.decode()
    listed = html.split('id="result_list"')[1].split("</table>")[0]
    assert "Old in use" in listed
    for name in ("Switched", "Used long ago", "No overlap"):
        assert f">{name}<" not in listed
    assert 'class="selected"><a href="?usage=old_in_use">' in html
    everything = client.get(reverse("credential_list", args=["acme"]) + "?usage=bogus")
    assert ">No overlap<" in everything.content.decode()


def test_the_export_holds_every_overlap_with_its_uses_and_is_audited(client, unit, alice, rita):
    credential = _overlap(unit, alice, "=Formula drop", old_used_from="203.0.113.1",
                          new_used_from="203.0.113.2")
    client.force_login(rita)
    response = client.get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Cache-Control"].startswith("max-age=0")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1
    row = rows[0]
    assert row["credential"] == "'=Formula drop"  # a spreadsheet shows it as text
    assert row["credential_id"] == str(credential.pk)
    assert (row["unit"], row["state"]) == ("Warehouse", "switched_old_in_use")
    assert (row["old_version"], row["old_state"], row["old_uses"], row["old_uses_24h"],
            row["old_sources"]) == ("1", "previous", "1", "1", "203.0.113.1")
    assert (row["new_version"], row["new_state"], row["new_uses"], row["new_sources"]) == (
        "2", "current", "1", "203.0.113.2")
    assert row["new_first_use_utc"].endswith("Z")
    event = AuditEvent.objects.get(action="usage.export")
    assert (event.actor, event.details["overlaps"]) == (rita, 1)


def test_another_organizations_export_holds_nothing_of_this_one(
        client, unit, alice, charlie, globex):
    _overlap(unit, alice, "Acme drop", old_used_from="203.0.113.1")
    _overlap(globex.business_units.get(), charlie, "Globex drop")
    client.force_login(charlie)
    assert client.get(EXPORT).status_code == 404
    body = b"".join(client.get("/o/globex/cutover.csv").streaming_content).decode()
    assert "Globex drop" in body and "Acme" not in body and "203.0.113.1" not in body


def test_the_demo_has_a_partner_halfway_through_a_cut_over(client, db):
    load_demo_data()
    client.force_login(User.objects.get(username="viewer"))
    html, _ = _rows(client, "/o/northwind/")
    section = html.split('id="cutovers"')[1].split("</table>")[0]
    assert 'data-state="switched_old_in_use"' in section and "Acme inbound drop" in section
    assert "198.51.100.23" in section
