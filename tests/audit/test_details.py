"""Audit details: services write times one way (ISO 8601 UTC with Z, to the second); the log
page words them as labelled, human values in the viewer's zone; the CSV keeps them for
machines."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.db import transaction

from audit.display import DetailRow, detail_rows, export_details
from audit.models import AuditEvent
from audit.services import audit_record
from credentials.models import Kind
from credentials.rotation.requests import rotation_cancel, rotation_schedule
from organizations.access import SYSTEM
from organizations.roles import Role
from tests.factories import make_credential, make_user, material_for

BERLIN = ZoneInfo("Europe/Berlin")


def _scheduled_and_cancelled(unit, time_machine):
    """A Berlin user schedules a rotation for 2 Dec 2030 09:00 their time, then cancels it."""
    time_machine.move_to(datetime(2030, 11, 20, 10, 0, 0, 123456, tzinfo=UTC), tick=False)
    berta = make_user("berta", unit.organization, Role.OWNER, time_zone="Europe/Berlin")
    credential = make_credential(unit, Kind.SFTP_PASSWORD, name="Partner drop", actor=berta)
    rotation = rotation_schedule(
        credential=credential, actor=berta, material=material_for(Kind.SFTP_PASSWORD),
        starts_at=datetime(2030, 12, 2, 9, 0, 0, 500000, tzinfo=BERLIN),
        overlap_ends_at=None,
    )
    rotation_cancel(rotation=rotation, actor=berta)
    return berta, credential


def test_services_write_times_in_utc_with_z_to_the_second(unit, time_machine):
    _scheduled_and_cancelled(unit, time_machine)
    scheduled = AuditEvent.objects.get(action="rotation.schedule").details
    cancelled = AuditEvent.objects.get(action="rotation.cancel").details
    # Entered as 09:00:00.5 in Berlin, kept as the same instant, one way, in both events.
    assert scheduled["starts_at"] == "2030-12-02T08:00:00Z"
    assert cancelled["starts_at"] == "2030-12-02T08:00:00Z"
    assert scheduled["overlap_ends_at"] is None


def test_audit_record_writes_any_datetime_that_way_at_any_depth(acme):
    with transaction.atomic():
        event = audit_record(action="test.times", actor=SYSTEM, organization=acme, details={
            "at": datetime(2030, 7, 1, 12, 0, 59, 999999, tzinfo=ZoneInfo("America/New_York")),
            "nested": {"when": datetime(2030, 1, 1, tzinfo=UTC)},
            "many": [datetime(2030, 1, 1, 1, tzinfo=UTC)],
        })
    event.refresh_from_db()
    assert event.details == {"at": "2030-07-01T16:00:59Z",
                             "nested": {"when": "2030-01-01T00:00:00Z"},
                             "many": ["2030-01-01T01:00:00Z"]}


def test_it_words_details_as_labelled_human_values():
    rows = detail_rows({
        "to": {"version": 4, "state": "pending", "client_id": "carrier", "fingerprint": "SHA256:x"},
        "overlap_ends_at": None, "mode": "scheduled", "starts_at": "2030-12-02T08:00:00Z",
        "active": True, "elapsed_ms": 41,
    })
    assert rows == [
        DetailRow("Mode", text="scheduled"),
        DetailRow("Starts", time=datetime(2030, 12, 2, 8, 0, tzinfo=UTC)),
        DetailRow("Overlap ends", text="—"),
        DetailRow("New version",
                  text="version 4 (pending), Client ID carrier, fingerprint SHA256:x"),
        DetailRow("Took", text="41 ms"),
        DetailRow("Active", text="yes"),
    ]


def test_it_reads_times_that_older_events_wrote_with_an_offset():
    (row,) = detail_rows({"starts_at": "2030-12-02T09:00:00.123456+01:00"})
    assert row.time == datetime(2030, 12, 2, 8, 0, 0, 123456, tzinfo=UTC)
    assert export_details({"starts_at": "2030-12-02T09:00:00.123456+01:00",
                           "to": {"version": 2}, "file": "2030-12-02.json"}) == {
        "starts_at": "2030-12-02T08:00:00Z", "to": {"version": 2}, "file": "2030-12-02.json"}


def test_the_log_page_shows_details_in_the_viewers_zone(client, unit, time_machine, acme):
    berta, _credential = _scheduled_and_cancelled(unit, time_machine)
    viewer = make_user("yuki", acme, Role.REVIEWER, time_zone="Asia/Tokyo")
    for user, shown in ((berta, "2 Dec 2030 09:00 CET"), (viewer, "2 Dec 2030 17:00 JST")):
        client.force_login(user)
        page = client.get("/o/acme/audit/", {"action": "rotation.schedule"}).content.decode()
        table = page.split('id="audit-events"')[1].split("</table>")[0]
        assert f"<dt>Starts</dt><dd>{shown}</dd>" in table
        assert "<dt>Overlap ends</dt><dd>—</dd>" in table
        assert "<dt>New version</dt><dd>a new version (pending), user name " in table
        for raw in ("{", "None", "+01:00", "+00:00", "T08:00", "overlap_ends_at", "starts_at"):
            assert raw not in table, raw


def test_the_csv_keeps_details_for_machines_in_utc(client, unit, time_machine):
    berta, _credential = _scheduled_and_cancelled(unit, time_machine)
    client.force_login(berta)
    response = client.get("/o/acme/audit/export.csv", {"action": "rotation.cancel"})
    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert row["at_utc"] == "2030-11-20T10:00:00Z"
    details = json.loads(row["details"])
    assert details["starts_at"] == "2030-12-02T08:00:00Z"
