"""Rotate Credential and Cancel Scheduled Rotation through the pages: the plan, the
confirmation that says in plain words when the old credential stops working, the viewer's
time zone, and refusals that change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from credentials.models import Credential, CredentialVersion, Kind, Rotation, RotationState
from credentials.rotation.requests import rotation_schedule
from credentials.services import version_secret
from tests.factories import (
    make_connection,
    make_credential,
    make_user,
    material_for,
    partner_certificate,
)
from tests.portal.helpers import assert_refused

NOW = datetime(2030, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def berta(acme, time_machine):
    """A credential manager in Berlin, at a fixed moment."""
    time_machine.move_to(NOW, tick=False)
    return make_user("berta", acme, "manager", time_zone="Europe/Berlin")


@pytest.fixture
def credential(unit, alice, berta):
    credential = make_credential(unit, actor=alice, name="Partner drop", username="partner",
                                 expires_in=timedelta(days=90))
    make_connection(credential, alice)
    return credential


def _rotate(client, credential, step: str, **data: str):
    return client.post(reverse("credential_rotate", args=["acme", credential.pk]),
                       {"step": step, **data})


def _state(credential) -> tuple:
    """Everything a refused rotation must leave as it was."""
    return (
        sorted(credential.versions.values_list("number", "state", "secret_ciphertext"), key=repr),
        list(Rotation.objects.values_list("pk", "state")),
        AuditEvent.objects.count(),
    )


def test_it_rotates_immediately_with_generated_material_after_confirmation(
        client, berta, credential):
    client.force_login(berta)
    old = credential.versions.get()
    plan = {"method": "new", "timing": "immediate", "reason": "Partner left"}
    confirm = _rotate(client, credential, "1", **plan)
    html = confirm.content.decode()
    assert "The new password works immediately." in html
    assert "The current password stops working immediately." in html
    assert credential.versions.count() == 1  # step 1 changes nothing
    done = _rotate(client, credential, "2", **plan, username="partner", source="generate")
    assert done.status_code == 302
    old.refresh_from_db()
    current = credential.versions.get(state="current")
    assert (old.state, current.number, current.username) == ("retired", 2, "partner")
    rotation = Rotation.objects.get()
    assert (rotation.state, rotation.requested_by, rotation.reason) == (
        "completed", berta, "Partner left")
    page = client.get(done["Location"]).content.decode()
    assert "the new password works now" in page and "use Reveal to copy it" in page
    assert version_secret(current) not in page


def test_it_keeps_the_old_password_working_until_the_overlap_end(client, berta, credential):
    client.force_login(berta)
    plan = {"method": "new", "timing": "immediate", "overlap_ends_at": "2030-11-27T18:00"}
    html = _rotate(client, credential, "1", **plan).content.decode()
    assert ("The current password keeps working until 27 Nov 2030 18:00 CET "
            "(27 Nov 2030 17:00 UTC), then stops working.") in html
    _rotate(client, credential, "2", **plan, username="partner", source="enter",
            password="the-new-long-password")
    previous = credential.versions.get(number=1)
    assert previous.state == "previous"
    assert previous.valid_until == datetime(2030, 11, 27, 17, 0, tzinfo=UTC)
    assert version_secret(credential.versions.get(state="current")) == "the-new-long-password"


def test_it_schedules_in_the_viewers_time_zone_and_says_when_the_old_one_stops(
        client, berta, credential):
    client.force_login(berta)
    plan = {"method": "new", "timing": "scheduled", "starts_at": "2030-12-02T09:00"}
    html = _rotate(client, credential, "1", **plan).content.decode()
    assert "The new password starts working at 2 Dec 2030 09:00 CET (2 Dec 2030 08:00 UTC)." \
        in html
    assert "The current password stops working at 2 Dec 2030 09:00 CET" in html
    # The plan travels in hidden fields; the material is entered on this step.
    assert 'type="hidden" name="starts_at" value="2030-12-02T09:00"' in html
    done = _rotate(client, credential, "2", **plan, username="partner", source="generate")
    rotation = Rotation.objects.get()
    assert rotation.starts_at == datetime(2030, 12, 2, 8, 0, tzinfo=UTC)
    assert (rotation.mode, rotation.state) == ("scheduled", "scheduled")
    assert credential.versions.get(state="pending").valid_from == rotation.starts_at
    page = client.get(done["Location"]).content.decode()
    assert "Rotation scheduled for 2 Dec 2030 09:00 CET (2 Dec 2030 08:00 UTC)." in page
    assert 'id="rotation-banner"' in page


def test_it_swaps_in_another_credential_only_on_a_schedule(client, berta, credential, unit,
                                                            alice):
    spare = make_credential(unit, actor=alice, name="Spare drop")
    make_credential(unit, Kind.SFTP_KEY, actor=alice, name="A key")  # not the same kind
    client.force_login(berta)
    refused = _rotate(client, credential, "1", method="swap", timing="immediate")
    assert_refused(refused, "timing", "can only be scheduled")
    plan = {"method": "swap", "timing": "scheduled", "starts_at": "2030-12-01T10:00",
            "overlap_ends_at": "2030-12-03T10:00"}
    html = _rotate(client, credential, "1", **plan).content.decode()
    choices = html.split('name="replacement"')[1].split("</select>")[0]
    assert "Spare drop" in choices and "A key" not in choices and "Partner drop" not in choices
    _rotate(client, credential, "2", **plan, replacement=str(spare.pk))
    rotation = Rotation.objects.get()
    assert (rotation.replacement, rotation.to_version) == (spare, None)
    assert rotation.overlap_ends_at == datetime(2030, 12, 3, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("plan", "field", "words"), [
    ({"timing": "scheduled"}, "starts_at", "Choose when"),
    ({"timing": "scheduled", "starts_at": "yesterday"}, "starts_at", "valid date"),
    # 02:30 does not exist in Berlin on the night clocks go forward.
    ({"timing": "scheduled", "starts_at": "2031-03-30T02:30"}, "starts_at", "time zone"),
])
def test_it_refuses_a_bad_plan_on_its_field(client, berta, credential, plan, field, words):
    client.force_login(berta)
    before = _state(credential)
    assert_refused(_rotate(client, credential, "1", method="new", **plan), field, words)
    assert _state(credential) == before


@pytest.mark.parametrize(("plan", "field", "words"), [
    # Yesterday, and a minute ago (12:59 in Berlin is 11:59 UTC).
    ({"timing": "scheduled", "starts_at": "2030-11-19T13:00"}, "starts_at", "in the future"),
    ({"timing": "scheduled", "starts_at": "2030-11-20T12:59"}, "starts_at", "in the future"),
    ({"timing": "scheduled", "starts_at": "2030-12-01T10:00",
      "overlap_ends_at": "2030-12-01T10:00"}, "overlap_ends_at", "after the rotation starts"),
    ({"timing": "immediate", "overlap_ends_at": "2030-11-20T12:30"}, "overlap_ends_at",
     "after the rotation starts"),
])
def test_it_refuses_a_time_in_the_past_on_step_one_before_the_material_is_entered(
        client, berta, credential, plan, field, words):
    client.force_login(berta)
    response = _rotate(client, credential, "1", method="new", **plan)
    assert_refused(response, field, words)
    html = response.content.decode()
    assert "Step 1 of 2" in html and "starts working at" not in html
    assert Rotation.objects.count() == 0


@pytest.mark.parametrize(("plan", "field", "words"), [
    ({"timing": "scheduled", "starts_at": "2030-11-01T10:00"}, "starts_at", "in the future"),
    ({"timing": "scheduled", "starts_at": "2030-12-01T10:00",
      "overlap_ends_at": "2030-11-30T10:00"}, "overlap_ends_at", "after the rotation starts"),
    ({"timing": "immediate", "overlap_ends_at": "2030-11-01T10:00"}, "overlap_ends_at",
     "after the rotation starts"),
])
def test_it_turns_a_refusal_of_the_engine_into_an_error_on_the_plan_and_changes_nothing(
        client, berta, credential, plan, field, words):
    client.force_login(berta)
    before = _state(credential)
    response = _rotate(client, credential, "2", method="new", **plan, username="partner",
                       source="generate")
    assert_refused(response, field, words)
    assert "Step 1 of 2" in response.content.decode()
    assert _state(credential) == before


def test_it_refuses_bad_material_on_its_field_and_changes_nothing(client, berta, credential):
    client.force_login(berta)
    before = _state(credential)
    response = _rotate(client, credential, "2", method="new", timing="immediate",
                       username="partner", source="enter", password="short")
    assert_refused(response, "password", "at least 12")
    assert "Step 2 of 2" in response.content.decode()
    assert 'value="short"' not in response.content.decode()  # never echoed back
    assert _state(credential) == before


# A partner's next certificate, valid from 1 Dec 2030 09:00:30 UTC (10:00:30 in Berlin).
NEXT_VALID_FROM = datetime(2030, 12, 1, 9, 0, 30, tzinfo=UTC)


@pytest.fixture
def as2(unit, alice, berta):
    credential = make_credential(unit, Kind.AS2_CERTIFICATE, actor=alice, name="Partner AS2")
    make_connection(credential, alice)
    return credential


def _next_certificate() -> dict[str, SimpleUploadedFile]:
    cert_pem, key_pem = partner_certificate(NEXT_VALID_FROM + timedelta(days=365),
                                            not_before=NEXT_VALID_FROM)
    return {"source": "enter", "certificate": SimpleUploadedFile("next.pem", cert_pem),
            "private_key": SimpleUploadedFile("next.key", key_pem)}


@pytest.mark.parametrize(("plan", "field", "step"), [
    ({"timing": "immediate"}, "certificate", "Step 2 of 2"),
    # Scheduled a minute before it is valid (10:00:30 in Berlin shows as 10:01).
    ({"timing": "scheduled", "starts_at": "2030-12-01T10:00"}, "starts_at", "Step 1 of 2"),
])
def test_it_refuses_a_certificate_not_valid_yet_when_the_rotation_starts(client, berta, as2,
                                                                         plan, field, step):
    client.force_login(berta)
    before = _state(as2)
    response = _rotate(client, as2, "2", method="new", **plan, **_next_certificate())
    assert_refused(response, field, "valid only from 1 Dec 2030 10:01 CET")
    assert step in response.content.decode()
    assert _state(as2) == before
    assert as2.versions.get().state == "current"  # the certificate that works stays


def test_it_says_when_a_certificate_expires_before_a_scheduled_start(client, berta, as2):
    client.force_login(berta)
    before = _state(as2)
    cert_pem, key_pem = partner_certificate(datetime(2030, 12, 10, 8, 0, tzinfo=UTC))
    response = _rotate(client, as2, "2", method="new", timing="scheduled",
                       starts_at="2030-12-20T10:00", source="enter",
                       certificate=SimpleUploadedFile("next.pem", cert_pem),
                       private_key=SimpleUploadedFile("next.key", key_pem))
    # Not "already expired": it still works today, but no longer on 20 Dec.
    assert_refused(response, "certificate", "expires at 10 Dec 2030 09:00 CET (10 Dec 2030 "
                                            "08:00 UTC), before the rotation starts")
    assert _state(as2) == before


def test_it_schedules_a_certificate_to_start_when_it_becomes_valid(client, berta, as2):
    client.force_login(berta)
    response = _rotate(client, as2, "2", method="new", timing="scheduled",
                       starts_at="2030-12-01T10:01", **_next_certificate())
    assert response.status_code == 302
    rotation = Rotation.objects.get(credential=as2)
    assert rotation.starts_at == datetime(2030, 12, 1, 9, 1, tzinfo=UTC)
    assert rotation.to_version.cert_not_before == NEXT_VALID_FROM


def test_it_refuses_a_second_rotation_while_one_is_scheduled(client, berta, credential, alice):
    rotation_schedule(credential=credential, starts_at=NOW + timedelta(days=3), actor=alice,
                      material=material_for(Kind.SFTP_PASSWORD))
    client.force_login(berta)
    before = _state(credential)
    response = _rotate(client, credential, "2", method="new", timing="immediate",
                       username="partner", source="generate")
    assert "already scheduled" in response.content.decode()
    assert _state(credential) == before


def test_it_goes_back_to_the_plan_without_changing_anything(client, berta, credential):
    client.force_login(berta)
    response = _rotate(client, credential, "2", method="new", timing="scheduled",
                       starts_at="2030-12-02T09:00", back="1")
    assert "Step 1 of 2" in response.content.decode()
    assert 'value="2030-12-02T09:00"' in response.content.decode()
    assert not Rotation.objects.exists()


@pytest.mark.parametrize("kind", Kind.values)
def test_it_rotates_every_kind_with_generated_material(client, berta, unit, alice, kind):
    credential = make_credential(unit, kind, actor=alice)
    current = credential.versions.get()
    client.force_login(berta)
    plan = {"method": "new", "timing": "immediate"}
    form = _rotate(client, credential, "1", **plan)
    # The new material's public fields start from the current ones.
    for value in (current.username, current.client_id, current.key_id):
        if value:
            assert f'value="{value}"' in form.content.decode()
    extra = {"source": "generate", "username": current.username or "", "client_id":
             current.client_id, "key_id": current.key_id, "common_name": "as2.acme.example"}
    assert _rotate(client, credential, "2", **plan, **extra).status_code == 302
    assert credential.versions.get(state="current").number == 2


def test_it_cancels_a_scheduled_rotation_after_confirmation(client, berta, credential, alice):
    rotation = rotation_schedule(credential=credential, starts_at=NOW + timedelta(days=3),
                                 actor=alice, material=material_for(Kind.SFTP_PASSWORD))
    url = reverse("rotation_cancel", args=["acme", credential.pk, rotation.pk])
    client.force_login(berta)
    page = client.get(url).content.decode()
    assert "Cancel the rotation scheduled for 23 Nov 2030 13:00 CET" in page
    assert "The current password keeps working" in page
    assert Rotation.objects.get().state == RotationState.SCHEDULED
    done = client.post(url)
    assert Rotation.objects.get().state == RotationState.CANCELLED
    # The new material never went live: it is shown as never used and took no number.
    withdrawn = credential.versions.get(pk=rotation.to_version_id)
    assert (withdrawn.state, withdrawn.number) == ("unused", None)
    detail = client.get(done["Location"]).content.decode()
    assert 'id="rotation-banner"' not in detail and "Nothing changed." in detail
    # Cancelling again is refused with a message, not an error page.
    client.post(url)
    assert "no longer scheduled" in client.get(done["Location"]).content.decode()


def test_it_answers_404_for_a_rotation_of_another_credential(client, berta, credential, unit,
                                                             alice):
    other = make_credential(unit, actor=alice)
    rotation = rotation_schedule(credential=other, starts_at=NOW + timedelta(days=3),
                                 actor=alice, material=material_for(Kind.SFTP_PASSWORD))
    client.force_login(berta)
    url = reverse("rotation_cancel", args=["acme", credential.pk, rotation.pk])
    assert client.post(url).status_code == 404
    assert Rotation.objects.get().state == RotationState.SCHEDULED
    assert Credential.objects.count() == 2 and CredentialVersion.objects.count() == 3


def test_it_offers_a_test_before_the_switch_only_for_sftp_credentials(client, berta, unit,
                                                                      alice, credential):
    client.force_login(berta)
    url = reverse("credential_rotate", args=["acme", credential.pk])
    assert 'name="test_before_switch"' in client.get(url).content.decode()
    api = make_credential(unit, Kind.API_CLIENT_SECRET, actor=alice)
    url = reverse("credential_rotate", args=["acme", api.pk])
    assert 'name="test_before_switch"' not in client.get(url).content.decode()
    plan = {"method": "new", "timing": "scheduled", "starts_at": "2030-12-02T09:00",
            "test_before_switch": "on"}
    html = _rotate(client, credential, "1", **plan).content.decode()
    assert "First the new password is tried on the active outbound connections" in html
    _rotate(client, credential, "2", **plan, username="partner", source="generate")
    assert Rotation.objects.get().test_before_switch is True


def test_it_never_sends_a_pasted_key_back_when_the_rotation_is_refused(client, berta, unit,
                                                                       alice):
    from credentials import crypto

    api_key = make_credential(unit, Kind.API_KEY, actor=alice)
    client.force_login(berta)
    pem = crypto.generate_pem_private_key()
    response = _rotate(client, api_key, "2", method="new", timing="immediate", source="enter",
                       client_id="x", key_id="key-2", private_key=pem)
    assert response.status_code == 200
    assert pem.splitlines()[1] not in response.content.decode()
    assert api_key.versions.count() == 1


@pytest.mark.parametrize("kind", [Kind.API_CLIENT_SECRET, Kind.API_KEY])
def test_it_keeps_a_colon_client_id_from_before_the_rule_and_refuses_a_new_one(
        client, berta, unit, alice, kind):
    credential = make_credential(unit, kind, actor=alice)
    # Made when ids could hold ":" (no way in accepts one now).
    credential.versions.update(client_id="partner:prod")
    client.force_login(berta)
    plan = {"method": "new", "timing": "immediate"}
    step2 = {"step": "2", **plan, "source": "generate", "key_id": "k-2"}
    before = _state(credential)
    other = client.post(reverse("credential_rotate", args=["acme", credential.pk]),
                        {**step2, "client_id": "partner:test"})
    assert_refused(other, "client_id", "Client IDs are")
    assert _state(credential) == before
    kept = client.post(reverse("credential_rotate", args=["acme", credential.pk]),
                       {**step2, "client_id": "partner:prod"})
    assert kept.status_code == 302
    assert credential.versions.get(state="current").client_id == "partner:prod"
