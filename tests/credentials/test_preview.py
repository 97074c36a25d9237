"""A preview says what the services will do: its "Valid until" is the expiry that
credentials.lifecycle gives the version the migration (a rotation) or the new credential
(credential_create) stores, whatever the kind and whether an expiry was given; a stored API
key shows its type and size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from credentials.models import Kind
from credentials.preview import creation_preview, rotation_preview, version_public_values
from credentials.rotation.requests import rotation_rotate_now
from credentials.services import credential_create, current_version
from credentials.templatetags.keyturn import format_when
from tests.factories import make_credential, material_for

PREVIEWED_AT = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
# The administrator reads the preview, then confirms a while later.
CONFIRMED_AT = PREVIEWED_AT + timedelta(minutes=7)


def _valid_until(rows: list) -> str:
    return {row.label: row.new for row in rows}["Valid until"]


@pytest.fixture
def at_preview(time_machine):
    time_machine.move_to(PREVIEWED_AT, tick=False)


@pytest.mark.parametrize(("kind", "lifetime_days", "expires"), [
    (Kind.API_KEY, 90, True),  # rotated automatically: expires
    (Kind.SFTP_PASSWORD, 30, False),  # never expired: nor does its next version
])
def test_it_says_a_rotated_version_lives_the_credentials_lifetime_if_it_expires_at_all(
        unit, alice, at_preview, time_machine, kind, lifetime_days, expires):
    credential = make_credential(unit, kind, actor=alice, now=PREVIEWED_AT)
    credential.lifetime_days = lifetime_days
    credential.save()
    material = material_for(kind, now=PREVIEWED_AT)

    said = _valid_until(rotation_preview(credential=credential, name=credential.name,
                                         material=material))

    time_machine.move_to(CONFIRMED_AT, tick=False)
    rotation_rotate_now(credential=credential, material=material, actor=alice)
    stored = current_version(credential).valid_until
    if expires:
        assert said == f"{lifetime_days} days after the migration"
        assert stored == CONFIRMED_AT + timedelta(days=lifetime_days)
    else:
        assert (said, stored) == ("—", None)


def test_it_says_a_certificates_own_end_date_for_a_rotation(unit, alice, at_preview):
    credential = make_credential(unit, Kind.AS2_CERTIFICATE, actor=alice, now=PREVIEWED_AT)
    material = material_for(Kind.AS2_CERTIFICATE, now=PREVIEWED_AT)

    said = _valid_until(rotation_preview(credential=credential, name=credential.name,
                                         material=material))

    rotation_rotate_now(credential=credential, material=material, actor=alice)
    stored = current_version(credential).valid_until
    assert stored == material.valid_until and said == format_when(stored)


GIVEN = datetime(2031, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "given", "expected"), [
    (Kind.API_KEY, None, "180 days after it is added"),  # rotated automatically by default
    (Kind.API_CLIENT_SECRET, GIVEN, format_when(GIVEN)),
    (Kind.SFTP_PASSWORD, None, "—"),
    (Kind.SFTP_KEY, GIVEN, format_when(GIVEN)),
])
def test_it_says_when_a_new_credential_expires(unit, alice, at_preview, time_machine, kind,
                                               given, expected):
    material = material_for(kind, now=PREVIEWED_AT)

    said = _valid_until(creation_preview(name="New", material=material, valid_until=given))

    time_machine.move_to(CONFIRMED_AT, tick=False)
    credential = credential_create(business_unit=unit, kind=kind, name="New", material=material,
                                   valid_until=given, actor=alice)
    stored = current_version(credential).valid_until
    assert said == expected
    if given is not None:
        assert stored == given
    elif kind == Kind.API_KEY:
        assert stored == CONFIRMED_AT + timedelta(days=180)
    else:
        assert stored is None


def test_it_says_a_certificates_own_end_date_for_a_new_credential_whatever_expiry_is_given(
        unit, alice, at_preview):
    material = material_for(Kind.AS2_CERTIFICATE, now=PREVIEWED_AT)

    said = _valid_until(creation_preview(name="New", material=material, valid_until=GIVEN))

    credential = credential_create(business_unit=unit, kind=Kind.AS2_CERTIFICATE, name="New",
                                   material=material, valid_until=GIVEN, actor=alice)
    stored = current_version(credential).valid_until
    assert stored == material.valid_until != GIVEN
    assert said == format_when(stored)


def test_it_records_the_type_and_size_of_an_api_key_made_in_the_portal(unit, alice):
    credential = make_credential(unit, Kind.API_KEY, name="Carrier API", actor=alice)
    version = current_version(credential)
    assert version.public_key.startswith("ecdsa-sha2-nistp256 ")
    rows = dict(version_public_values(version, Kind.API_KEY))
    assert rows["Key"] == "ECDSA 256-bit"


def test_it_says_not_recorded_only_for_keys_saved_before_keyturn_kept_their_type(unit, alice):
    credential = make_credential(unit, Kind.API_KEY, name="Carrier API", actor=alice)
    version = current_version(credential)
    version.public_key = ""
    assert dict(version_public_values(version, Kind.API_KEY))["Key"] == "not recorded"
