"""Dates at the edges of the calendar: a partner certificate's "no expiry" end date
(99991231235959Z) and times typed or imported near year 1 or year 9999. Every date Keyturn
accepts shows on every page in every zone (UTC+14, UTC-12, Berlin, Pago Pago); anything
outside organizations.dates' range is refused on its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from api.services import api_key_create
from credentials.kinds import as2_certificate
from credentials.models import Credential, CredentialVersion, Kind, Rotation
from credentials.rotation.requests import rotation_schedule
from credentials.services import credential_create
from imports import services as import_services
from imports.models import ImportSource, ImportState, PendingImport
from organizations.access import SYSTEM
from organizations.dates import LATEST
from organizations.roles import Role
from tests.factories import (
    NO_EXPIRY,
    make_connection,
    make_credential,
    make_user,
    partner_certificate,
)
from tests.imports.helpers import PAYLOAD_PASSWORD, seal
from tests.portal.helpers import (
    CREDENTIAL_FORM,
    assert_refused,
    credential_pages,
    organization_pages,
)

NOW = datetime(2030, 11, 20, 12, 0, tzinfo=UTC)
# How LATEST (30 Dec 9999 00:00 UTC) reads in each zone: UTC+14, UTC-12, Berlin, UTC-11.
LATEST_IN = {
    "Pacific/Kiritimati": "30 Dec 9999 14:00 +14",
    "Etc/GMT+12": "29 Dec 9999 12:00 -12",
    "Europe/Berlin": "30 Dec 9999 01:00 CET",
    "Pacific/Pago_Pago": "29 Dec 9999 13:00 SST",
}


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def viewers(acme, now):
    """An owner (who sees every page) in each zone."""
    return {zone: make_user(f"owner-{n}", acme, Role.OWNER, time_zone=zone)
            for n, zone in enumerate(LATEST_IN)}


def _every_page(client, user, credential: Credential) -> dict[str, str]:
    client.force_login(user)
    pages = {}
    for url in [*organization_pages("acme"), *credential_pages(credential),
                reverse("sftp_endpoint", args=["acme"]),
                reverse("sftp_unit", args=["acme", "warehouse"])]:
        response = client.get(url)
        assert response.status_code == 200, (user.time_zone, url)
        pages[url] = response.content.decode()
    return pages


def test_it_accepts_a_partner_certificate_that_never_expires_and_shows_it_in_every_zone(
        client, bob, alice, viewers, now):
    cert_pem, key_pem = partner_certificate()
    assert b"99991231235959Z" in x509.load_pem_x509_certificate(cert_pem).public_bytes(
        serialization.Encoding.DER)
    client.force_login(bob)
    response = client.post(reverse("credential_create", args=["acme", "as2_certificate"]), {
        **CREDENTIAL_FORM, "name": "Forever partner", "source": "enter",
        "certificate": SimpleUploadedFile("partner.pem", cert_pem),
        "private_key": SimpleUploadedFile("partner.key", key_pem)})
    assert response.status_code == 302
    credential = Credential.objects.get(name="Forever partner")
    # The credential expires at the last moment Keyturn keeps, which every zone can show.
    assert credential.versions.get().valid_until == LATEST
    make_connection(credential, alice)
    new_cert, new_key = partner_certificate()
    rotation_schedule(credential=credential, starts_at=now + timedelta(days=5), actor=alice,
                      material=as2_certificate.material(certificate=new_cert,
                                                 private_key=new_key.decode()))
    for zone, user in viewers.items():
        pages = _every_page(client, user, credential)
        detail = pages[reverse("credential_detail", args=["acme", credential.pk])]
        assert f"{LATEST_IN[zone]} (30 Dec 9999 00:00 UTC)" in detail, zone
        assert "badge-expiring_soon" not in detail and "badge-expired" not in detail
        listing = pages[reverse("credential_list", args=["acme"])]
        assert LATEST_IN[zone] in listing


def test_it_still_shows_an_end_date_stored_before_the_limit_existed(client, unit, alice,
                                                                      viewers):
    """A version saved with the certificate's own 31 Dec 9999 23:59:59 UTC: zones east of
    UTC have no such local day, so it shows in UTC there instead of breaking every page."""
    credential = make_credential(unit, Kind.AS2_CERTIFICATE, actor=alice, name="Stored before")
    make_connection(credential, alice)
    CredentialVersion.objects.filter(credential=credential).update(valid_until=NO_EXPIRY)
    shown = {"Pacific/Kiritimati": "31 Dec 9999 23:59 UTC",
             "Europe/Berlin": "31 Dec 9999 23:59 UTC",
             "Etc/GMT+12": "31 Dec 9999 11:59 -12",
             "Pacific/Pago_Pago": "31 Dec 9999 12:59 SST"}
    for zone, user in viewers.items():
        detail = _every_page(client, user, credential)[
            reverse("credential_detail", args=["acme", credential.pk])]
        assert shown[zone] in detail, zone


@pytest.mark.parametrize(("zone", "typed"), [
    ("Europe/Berlin", "9999-12-31T23:59"),
    ("Pacific/Kiritimati", "9999-12-30T14:01"),
    ("Etc/GMT+12", "9999-12-29T12:01"),
])
def test_it_refuses_an_expiry_past_the_last_day_on_its_field(client, acme, now, zone, typed):
    client.force_login(make_user("typist", acme, Role.MANAGER, time_zone=zone))
    response = client.post(reverse("credential_create", args=["acme", "sftp_password"]), {
        **CREDENTIAL_FORM, "name": "Forever password", "username": "partner", "source": "generate",
        "valid_until": typed})
    assert_refused(response, "valid_until", "30 Dec 9999 00:00 UTC")
    assert not Credential.objects.exists()


def test_it_accepts_an_expiry_on_the_last_day_and_shows_it_everywhere(client, acme, alice,
                                                                     viewers):
    client.force_login(viewers["Pacific/Kiritimati"])
    response = client.post(reverse("credential_create", args=["acme", "sftp_password"]), {
        **CREDENTIAL_FORM, "name": "Last day", "username": "partner", "source": "generate",
        "valid_until": "9999-12-30T14:00"})
    assert response.status_code == 302
    credential = Credential.objects.get(name="Last day")
    assert credential.versions.get().valid_until == LATEST
    make_connection(credential, alice)
    for zone, user in viewers.items():
        detail = _every_page(client, user, credential)[
            reverse("credential_detail", args=["acme", credential.pk])]
        assert LATEST_IN[zone] in detail


@pytest.fixture
def berta(acme, now):
    return make_user("berta", acme, Role.MANAGER, time_zone="Europe/Berlin")


@pytest.mark.parametrize(("plan", "field"), [
    ({"timing": "scheduled", "starts_at": "9999-12-31T23:59"}, "starts_at"),
    ({"timing": "scheduled", "starts_at": "0001-01-01T00:30"}, "starts_at"),
    ({"timing": "immediate", "overlap_ends_at": "9999-12-31T23:59"}, "overlap_ends_at"),
])
def test_it_refuses_a_rotation_time_out_of_range_on_step_one(client, berta, unit, alice, plan,
                                                             field):
    credential = make_credential(unit, actor=alice, expires_in=timedelta(days=90))
    client.force_login(berta)
    for step in ("1", "2"):
        response = client.post(reverse("credential_rotate", args=["acme", credential.pk]), {
            "step": step, "method": "new", **plan, "username": "partner", "source": "generate"})
        assert_refused(response, field, "30 Dec 9999 00:00 UTC")
        assert "Step 1 of 2" in response.content.decode()
    assert not Rotation.objects.exists()


@pytest.mark.parametrize(("query", "field"), [
    ("until=9999-12-31", "until"),
    ("since=0001-01-01", "since"),
])
def test_it_refuses_an_audit_filter_day_out_of_range(client, berta, query, field):
    client.force_login(berta)
    page = client.get(reverse("audit_list", args=["acme"]) + "?" + query)
    assert page.status_code == 200
    assert field in page.context["form"].errors
    export = client.get(reverse("audit_export", args=["acme"]) + "?" + query)
    assert export.status_code == 200
    # A malformed filter exports nothing rather than everything.
    assert b"".join(export.streaming_content).decode().splitlines() == [
        "at_utc,actor,action,target_type,target_id,target,source_ip,details"]


def test_it_accepts_the_last_audit_day_in_every_zone(client, viewers):
    for user in viewers.values():
        client.force_login(user)
        query = "?since=1970-01-01&until=9999-12-30"
        page = client.get(reverse("audit_list", args=["acme"]) + query)
        assert page.status_code == 200 and not page.context["form"].errors
        assert "owner-" in page.content.decode()  # the members' creation is in range
        export = client.get(reverse("audit_export", args=["acme"]) + query)
        assert len(b"".join(export.streaming_content).decode().splitlines()) > 1


@pytest.mark.parametrize("valid_until", ["9999-12-31T23:59:59-23:59",
                                         "0001-01-01T00:00:00+14:00"])
def test_it_refuses_an_imported_expiry_out_of_range_before_the_preview(
        client, acme, berta, valid_until):
    content = {"kind": "sftp_password", "name": "Imported forever", "business_unit": "warehouse",
               "valid_until": valid_until,
               "material": {"username": "partner", "password": "imported-password-123"}}
    pending = import_services.pending_import_receive(
        organization=acme, data=seal(content), file_name="forever.json",
        source=ImportSource.UPLOAD, actor=SYSTEM)
    client.force_login(make_user("olga", acme, Role.OWNER, time_zone="Pacific/Kiritimati"))
    response = client.post(f"/o/acme/imports/{pending.pk}/password/?action=add",
                           {"action": "add", "password": PAYLOAD_PASSWORD}, follow=True)
    assert response.status_code == 200
    assert "valid_until is out of range" in response.content.decode()
    assert PendingImport.objects.get().state == ImportState.FAILED
    assert not Credential.objects.exists()


def test_it_answers_the_api_with_the_capped_end_date(client, unit, alice, now):
    cert_pem, key_pem = partner_certificate()
    forever = credential_create(
        business_unit=unit, kind=Kind.AS2_CERTIFICATE, name="Forever",
        material=as2_certificate.material(certificate=cert_pem, private_key=key_pem.decode()),
        valid_until=None, actor=alice)
    _row, key = api_key_create(organization=unit.organization, name="Security tool",
                               actor=alice, now=now)
    body = client.get("/api/v1/headless/as2/certificates/", HTTP_X_KEYTURN_KEY=key).json()
    assert [(r["id"], r["valid_until"]) for r in body["results"]] == [
        (str(forever.pk), "9999-12-30T00:00:00Z")]


@pytest.mark.parametrize(("not_after", "expiry"), [
    (NO_EXPIRY, LATEST),  # RFC 5280's "no well-defined expiration date"
    (datetime(9999, 12, 30, 12, 0, tzinfo=UTC), LATEST),
    (datetime(2040, 5, 1, 8, 30, tzinfo=UTC), datetime(2040, 5, 1, 8, 30, tzinfo=UTC)),
])
def test_it_caps_a_certificates_end_date_to_the_last_day_keyturn_keeps(not_after, expiry):
    cert_pem, key_pem = partner_certificate(not_after)
    material = as2_certificate.material(certificate=cert_pem, private_key=key_pem.decode())
    assert material.certificate.not_after == not_after  # the certificate is kept as it is
    assert material.valid_until == expiry
