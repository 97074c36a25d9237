"""The credential detail page: public fields, badges, the Manage menu, the Rotation scheduled
banner, the usage and history tabs, the expiry timeline, and no secret anywhere before
Reveal."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from audit.models import AuditEvent
from credentials.models import Connection, ConnectionKind, CredentialVersion, Kind, Rotation
from credentials.rotation.requests import rotation_rotate_now, rotation_schedule
from credentials.services import credential_set_active, secret_reveal, version_secret
from notifications.models import Milestone, Notification
from tests.factories import make_connection, make_credential, make_user, material_for
from tests.portal.helpers import credential_pages, organization_pages


def _detail(client, credential, tab: str = "") -> str:
    url = reverse("credential_detail", args=["acme", credential.pk])
    response = client.get(url + (f"?tab={tab}" if tab else ""))
    assert response.status_code == 200
    return response.content.decode()


def _menu(html: str) -> list[str]:
    if "manage-menu" not in html:
        return []
    menu = html.split('class="menu manage-menu"')[1].split("</details>")[0]
    return re.findall(r'<a href="[^"]+">([^<]+)</a>', menu)


def test_it_never_puts_a_secret_in_any_page_before_reveal(client, alice, every_kind):
    """Every page a manager can open, for a credential of every kind with a current and a
    pending version, and the second step of a rotation: no secret, raw or escaped."""
    secrets = [version_secret(v) for v in CredentialVersion.objects.all()]
    assert len(secrets) == 2 * len(Kind.values)
    client.force_login(alice)
    pages = organization_pages("acme") + [p for c in every_kind.values()
                                          for p in credential_pages(c)]
    responses = [client.get(url) for url in pages]
    for credential in every_kind.values():
        responses.append(client.post(reverse("credential_rotate", args=["acme", credential.pk]),
                                     {"step": "1", "method": "new", "timing": "immediate"}))
    for response in responses:
        assert response.status_code == 200
        html = response.content.decode()
        for secret in secrets:
            for needle in {secret.strip(), escape(secret.strip())} | _key_body_lines(secret):
                assert needle not in html, response.request["PATH_INFO"]
    # The control: Reveal does show it.
    credential = every_kind[Kind.SFTP_PASSWORD]
    revealed = client.post(reverse("credential_reveal", args=["acme", credential.pk]))
    assert escape(version_secret(credential.versions.get(state="current"))) in \
        revealed.content.decode()


def _key_body_lines(secret: str) -> set[str]:
    """The base64 lines of a PEM or OpenSSH key: a key must not leak line by line either."""
    return {line for line in secret.splitlines() if len(line) > 20 and "-----" not in line}


@pytest.mark.parametrize("kind", Kind.values)
def test_it_shows_the_public_fields_of_the_current_version(client, alice, unit, kind):
    credential = make_credential(unit, kind, actor=alice, name="Shown")
    make_connection(credential, alice, kind=ConnectionKind.OUTBOUND_SFTP, hostname="sftp.example")\
        if credential.family == "sftp" else make_connection(credential, alice)
    version = credential.versions.get()
    client.force_login(alice)
    html = _detail(client, credential)
    for value in (version.username, version.client_id, version.key_id, version.fingerprint,
                  version.cert_subject, version.cert_issuer, version.cert_serial,
                  version.public_key):
        if value:
            assert escape(value) in html
    if credential.family == "sftp":
        assert "sftp.example" in html
    assert "••••" in html and 'id="reveal-button"' in html
    assert "Last rotated</dt><dd>Never" in html


def test_it_shows_when_it_was_last_rotated_and_the_badges(client, alice, unit):
    credential = make_credential(unit, actor=alice, expires_in=timedelta(days=3))
    rotation_rotate_now(credential=credential, actor=alice,
                        material=material_for(Kind.SFTP_PASSWORD))
    client.force_login(alice)
    html = _detail(client, credential)
    assert "Last rotated</dt><dd>Never" not in html
    assert 'badge-inactive">Inactive' in html


@pytest.mark.parametrize(("username", "reveal", "menu"), [
    ("alice", True, ["Cancel Scheduled Rotation", "Edit", "Deactivate", "Send to partner"]),
    ("bob", True, ["Cancel Scheduled Rotation", "Edit", "Deactivate", "Send to partner"]),
    ("rita", False, []),
    ("vic", False, []),
])
def test_it_offers_reveal_and_manage_actions_only_to_those_allowed(
        client, unit, alice, bob, rita, vic, username, reveal, menu):
    users = {"alice": alice, "bob": bob, "rita": rita, "vic": vic}
    credential = make_credential(unit, actor=alice)
    rotation_schedule(credential=credential, starts_at=timezone.now() + timedelta(days=2),
                      material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    client.force_login(users[username])
    html = _detail(client, credential)
    assert ('id="reveal-button"' in html) is reveal
    assert _menu(html) == menu
    assert ("Cancel scheduled rotation</a>" in html) is bool(menu)


def test_it_offers_rotate_and_reactivate_when_they_apply(client, alice, unit):
    credential = make_credential(unit, actor=alice)
    client.force_login(alice)
    assert _menu(_detail(client, credential)) == ["Rotate Credential", "Edit", "Deactivate",
                                                  "Send to partner"]
    credential_set_active(credential=credential, active=False, actor=alice)
    html = _detail(client, credential)
    assert _menu(html) == ["Edit", "Reactivate"]  # reactivate before rotating or sending
    assert "This credential is deactivated" in html


def test_it_shows_the_rotation_banner_in_the_viewers_time_zone_and_utc(
        client, unit, alice, acme, time_machine):
    time_machine.move_to(datetime(2030, 11, 20, 12, 0, tzinfo=UTC), tick=False)
    berliner = make_user("berta", acme, "manager", time_zone="Europe/Berlin")
    credential = make_credential(unit, actor=alice, expires_in=timedelta(days=90))
    rotation = rotation_schedule(
        credential=credential, starts_at=datetime(2030, 12, 2, 8, 0, tzinfo=UTC),
        overlap_ends_at=datetime(2030, 12, 9, 8, 0, tzinfo=UTC),
        material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    client.force_login(berliner)
    html = _detail(client, credential)
    banner = html.split('id="rotation-banner"')[1].split("</div>")[0]
    assert "Rotation scheduled" in banner
    assert "2 Dec 2030 09:00 CET (2 Dec 2030 08:00 UTC)" in banner
    assert "keeps working until 9 Dec 2030 09:00 CET (9 Dec 2030 08:00 UTC)" in banner
    assert reverse("rotation_cancel", args=["acme", credential.pk, rotation.pk]) in banner
    # A viewer in UTC reads the time once.
    client.force_login(alice)
    assert "2 Dec 2030 08:00 UTC</time>." in _detail(client, credential)


def test_it_shows_no_banner_without_a_scheduled_rotation(client, alice, unit):
    credential = make_credential(unit, actor=alice)
    client.force_login(alice)
    assert 'id="rotation-banner"' not in _detail(client, credential)


def test_it_labels_the_usage_tab_for_certificates_as_as2_profile_usage(client, vic, alice, unit):
    certificate = make_credential(unit, Kind.AS2_CERTIFICATE, actor=alice)
    make_connection(certificate, alice, partner_as2_id="RETAILER-AS2")
    make_connection(certificate, alice, active=False, partner_as2_id="OLD-AS2")
    password = make_credential(unit, actor=alice)
    upload = make_connection(password, alice)
    client.force_login(vic)
    html = _detail(client, certificate, "usage")
    assert ">AS2 Profile Usage <span" in html and "Connection Usage" not in html
    usage = html.split('id="usage"')[1].split("</table>")[0]
    assert re.search(r"RETAILER-AS2</td>\s*<td><span class=\"yes\">Active", usage)
    assert re.search(r"OLD-AS2</td>\s*<td><span class=\"no\">Inactive", usage)
    assert "Detach" not in usage  # a viewer changes nothing
    html = _detail(client, password, "usage")
    assert ">Connection Usage <span" in html and "AS2 Profile Usage" not in html
    assert upload.name in html.split('id="usage"')[1]


def test_it_shows_versions_rotations_reveals_and_emails_in_the_history(
        client, alice, rita, vic, unit):
    credential = make_credential(unit, actor=alice)
    rotation_rotate_now(credential=credential, actor=alice,
                        material=material_for(Kind.SFTP_PASSWORD), reason="Partner left")
    failed = rotation_schedule(credential=credential, actor=alice,
                               starts_at=timezone.now() + timedelta(days=1),
                               material=material_for(Kind.SFTP_PASSWORD))
    Rotation.objects.filter(pk=failed.pk).update(state="failed",
                                                 failure_reason="Partner server refused")
    secret_reveal(credential=credential, actor=alice, source_ip="198.51.100.7")
    Notification.objects.create(credential=credential, milestone=Milestone.DAY_30,
                                subject="Expires in 30 days", recipients="ops@example.com",
                                state="sent", sent_at=timezone.now())
    versions = list(credential.versions.order_by("number"))
    client.force_login(rita)
    html = _detail(client, credential, "history")
    table = html.split('id="versions"')[1].split("</table>")[0]
    assert [v.username for v in versions][0] in table and versions[-1].username in table
    assert "Retired" in table and "Current" in table
    rotations = html.split('id="rotations"')[1].split("</table>")[0]
    assert "Partner left" in rotations and "Completed" in rotations
    assert "Partner server refused" in rotations and "alice" in rotations
    reveals = html.split('id="reveals"')[1].split("</table>")[0]
    assert "alice" in reveals and "198.51.100.7" in reveals
    emails = html.split('id="emails"')[1].split("</table>")[0]
    assert "Expires in 30 days" in emails and "ops@example.com" in emails
    # Reveals come from the audit trail, which a viewer may not read.
    client.force_login(vic)
    html = _detail(client, credential, "history")
    assert 'id="reveals"' not in html and "198.51.100.7" not in html
    assert AuditEvent.objects.filter(action="secret.reveal").count() == 1


def test_it_draws_the_expiry_timeline_with_overlap_and_today(client, alice, unit):
    credential = make_credential(unit, actor=alice, expires_in=timedelta(days=40))
    now = timezone.now()
    rotation_schedule(credential=credential, actor=alice, starts_at=now + timedelta(days=10),
                      overlap_ends_at=now + timedelta(days=20),
                      material=material_for(Kind.SFTP_PASSWORD))
    client.force_login(alice)
    html = _detail(client, credential)
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'class="tl-bar tl-current"' in svg and 'class="tl-bar tl-new"' in svg
    assert 'class="tl-overlap"' in svg
    assert 'class="tl-today"' in svg and ">Today<" in svg
    assert "New ready" in svg and "Stops" in svg
    assert "style=" not in svg
    # Geometry: today is left of the new version's start, and the overlap starts there.
    today_x = float(re.search(r'class="tl-today" x1="([\d.]+)"', svg).group(1))
    new_x = float(re.search(r'class="tl-bar tl-new" x="([\d.]+)"', svg).group(1))
    overlap_x = float(re.search(r'class="tl-overlap" x="([\d.]+)"', svg).group(1))
    assert today_x < new_x == overlap_x


def test_it_draws_an_expired_version_and_one_without_expiry(client, alice, unit):
    now = timezone.now()
    expired = make_credential(unit, actor=alice, valid_until=now - timedelta(days=1),
                              now=now - timedelta(days=20))
    forever = make_credential(unit, actor=alice)
    client.force_login(alice)
    assert "tl-expired" in _detail(client, expired) and "Expired " in _detail(client, expired)
    html = _detail(client, forever)
    assert "tl-expired" not in html and "no expiry" in html


def test_it_lists_the_hosts_of_the_connections_that_use_it(client, alice, unit):
    credential = make_credential(unit, actor=alice)
    for host in ("b.example", "a.example"):
        Connection.objects.create(business_unit=unit, name=host, credential=credential,
                                  kind=ConnectionKind.OUTBOUND_SFTP, hostname=host)
    client.force_login(alice)
    assert "a.example, b.example" in _detail(client, credential)


def test_it_shows_a_cancelled_schedule_as_never_used_and_numbers_only_live_versions(
        client, alice, unit):
    from credentials.rotation.requests import rotation_cancel

    credential = make_credential(unit, actor=alice, username="partner")
    start = timezone.now() + timedelta(days=2)
    for _ in range(2):
        cancelled = rotation_schedule(credential=credential, actor=alice, starts_at=start,
                                      material=material_for(Kind.SFTP_PASSWORD))
        rotation_cancel(rotation=cancelled, actor=alice)
    rotation_rotate_now(credential=credential, actor=alice,
                        material=material_for(Kind.SFTP_PASSWORD, username="partner-2"))
    assert sorted(credential.versions.values_list("number", flat=True), key=repr) == [
        1, 2, None, None]  # the two cancelled schedules used up no number
    assert credential.versions.get(state="current").username == "partner-2"
    client.force_login(alice)
    table = _detail(client, credential, "history").split('id="versions"')[1].split(
        "</table>")[0]
    rows = table.split("<tr>")[2:]
    assert [re.search(r'<th scope="row">([^<]+)</th>', row).group(1) for row in rows] == [
        "2", "—", "—", "1"]
    assert "Current" in rows[0] and "Retired" in rows[3]
    for row in rows[1:3]:
        assert "Never used" in row and "rotation cancelled" in row
        assert "Retired" not in row
        assert "never <span" in row  # it never became valid, although it was to start later
