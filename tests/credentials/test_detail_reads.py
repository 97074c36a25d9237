"""The reads every credential page starts with (selectors.credential_for_detail,
credential_versions, credential_rotations) are prepared queries building the instances
themselves: they hold what the ORM's querysets load, only for members of the credential's
organization, and never a version's secret."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials import selectors, usage
from credentials.models import Connection, Credential, CredentialVersion, Kind, Rotation, UseChannel
from credentials.rotation.requests import rotation_cancel, rotation_rotate_now, rotation_schedule
from credentials.status import credential_badges, with_status
from credentials.usage import usage_buffer_clear, version_use_record
from organizations.roles import Role
from tests.factories import make_connection, make_credential, make_user, material_for


@pytest.fixture
def rotated(unit, alice):
    """A credential rotated now, then scheduled to swap to another, then rotated by nobody
    (the system); and a cancelled rotation: versions with and without creators."""
    now = timezone.now()
    credential = make_credential(unit, name="Rotated", actor=alice,
                                 expires_in=timedelta(days=10))
    other = make_credential(unit, name="Other", actor=alice)
    make_connection(credential, alice)
    rotation_rotate_now(credential=credential, actor=alice,
                        material=material_for(Kind.SFTP_PASSWORD, username="second"))
    cancelled = rotation_schedule(credential=credential, starts_at=now + timedelta(days=1),
                                  material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    rotation_cancel(rotation=cancelled, actor=alice)
    rotation_schedule(credential=credential, starts_at=now + timedelta(days=3),
                      replacement=other, actor=alice)
    return credential, other


def test_the_credential_holds_what_the_orm_loads(alice, acme, rotated):
    credential, _ = rotated
    now = timezone.now()
    read = selectors.credential_for_detail(user=alice, organization=acme, pk=credential.pk)
    expected = with_status(Credential.objects.select_related(
        "business_unit__organization", "created_by")).get(pk=credential.pk)
    for field in Credential._meta.concrete_fields:
        assert getattr(read, field.attname) == getattr(expected, field.attname), field.name
    assert (read.expires_at, read.in_use, read.rotation_scheduled) == (
        expected.expires_at, True, True)
    assert credential_badges(read, now) == credential_badges(expected, now)
    assert read.business_unit.name == expected.business_unit.name
    assert read.business_unit.organization == acme
    assert read.business_unit.organization.slug == "acme"
    assert read.created_by.get_username() == "alice"


def test_a_credential_created_by_nobody_has_no_creator(alice, acme, unit):
    credential = make_credential(unit, name="By the system")
    read = selectors.credential_for_detail(user=alice, organization=acme, pk=credential.pk)
    assert read.created_by is None and read.expires_at is None and not read.in_use


def test_only_members_of_its_organization_read_it(alice, acme, globex, rotated):
    credential, _ = rotated
    outsider = make_user("gina", globex, Role.OWNER)
    with pytest.raises(Credential.DoesNotExist):
        selectors.credential_for_detail(user=outsider, organization=acme, pk=credential.pk)
    with pytest.raises(Credential.DoesNotExist):  # its own organization named instead
        selectors.credential_for_detail(user=outsider, organization=globex, pk=credential.pk)
    with pytest.raises(Credential.DoesNotExist):
        selectors.credential_for_detail(user=alice, organization=globex, pk=credential.pk)
    with pytest.raises(Credential.DoesNotExist):
        selectors.credential_for_detail(user=alice, organization=acme,
                                        pk=CredentialVersion.objects.first().pk)


def test_versions_are_the_orms_newest_first_without_their_secrets(rotated):
    credential, _ = rotated
    versions = selectors.credential_versions(credential)
    expected = list(credential.versions.order_by("-created_at", "-number"))
    assert [v.pk for v in versions.all] == [v.pk for v in expected]
    assert len(versions.all) == 3  # retired, current, the cancelled one; none for the swap
    for read, orm in zip(versions.all, expected, strict=True):
        for name in selectors.PUBLIC_VERSION_FIELDS:
            attname = CredentialVersion._meta.get_field(name).attname
            assert getattr(read, attname) == getattr(orm, attname), name
        assert "secret_ciphertext" not in read.__dict__
        assert "secret_digest" not in read.__dict__
        assert (read.created_by.get_username() if read.created_by else None) == (
            orm.created_by.get_username() if orm.created_by else None)
    assert versions.current.username == "second"
    assert versions.previous is None and versions.pending is None
    assert [v.state for v in versions.all] == ["unused", "current", "retired"]


def test_rotations_are_the_orms_newest_first_with_who_asked_and_the_replacement(rotated):
    credential, other = rotated
    rotations = selectors.credential_rotations(credential)
    expected = list(Rotation.objects.filter(credential=credential).order_by("-created_at"))
    assert [r.pk for r in rotations] == [r.pk for r in expected]
    for read, orm in zip(rotations, expected, strict=True):
        for field in Rotation._meta.concrete_fields:
            assert getattr(read, field.attname) == getattr(orm, field.attname), field.name
        assert read.requested_by.get_username() == "alice"
    assert rotations[0].replacement.name == other.name
    assert "secret_ciphertext" not in rotations[0].replacement.__dict__
    assert [r.replacement for r in rotations[1:]] == [None, None]


def test_connections_are_the_orms_active_first_with_their_unit(alice, unit, rotated):
    credential, _ = rotated
    make_connection(credential, alice, active=False)
    make_connection(credential, alice)
    read = selectors.credential_connections(credential)
    expected = list(credential.connections.select_related("business_unit").order_by(
        "-is_active", "name"))
    assert [c.pk for c in read] == [c.pk for c in expected]
    assert [c.is_active for c in read] == [True, True, False]
    for one, orm in zip(read, expected, strict=True):
        for field in Connection._meta.concrete_fields:
            assert getattr(one, field.attname) == getattr(orm, field.attname), field.name
        assert one.business_unit.name == unit.name


def test_each_versions_use_is_read_with_it_and_a_missing_one_asks_nothing(
        alice, unit, django_assert_num_queries):
    now = timezone.now()
    credential = make_credential(unit, name="Used", actor=alice)
    rotation_rotate_now(credential=credential, actor=alice, overlap_ends_at=now + timedelta(days=2),
                        material=material_for(Kind.SFTP_PASSWORD, username="next-user"))
    old = credential.versions.get(state="previous")
    now = timezone.now()
    usage_buffer_clear()
    version_use_record(version=old, channel=UseChannel.SFTP_LOGIN, address="203.0.113.9",
                       now=now)
    credential = selectors.credential_for_detail(user=alice, organization=unit.organization,
                                                 pk=credential.pk)
    with django_assert_num_queries(1):
        rows, cutover = usage.credential_usage(credential, now)
        by_state = {row.version.state: row for row in rows}
        assert by_state["current"].use is None
        assert by_state["previous"].use.count == 1
        assert by_state["previous"].recent.sources == ["203.0.113.9"]
        assert cutover is not None and cutover.state == "waiting"
        assert "secret_ciphertext" not in by_state["current"].version.__dict__
    usage_buffer_clear()
