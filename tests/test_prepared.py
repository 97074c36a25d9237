"""config.prepared: queries compiled once, run with each call's values, on the database the
suite runs on (SQLite, and PostgreSQL in its pass), with the ORM's conversions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from config.prepared import PreparationError, PreparedQuery
from credentials.models import Credential, CredentialVersion, Kind
from organizations.models import BusinessUnit
from tests.factories import make_credential

pytestmark = pytest.mark.django_db

_VERSION = CredentialVersion._meta


def _versions_of_kind_since() -> PreparedQuery:
    return PreparedQuery(
        lambda p: CredentialVersion.objects.filter(
            credential__kind=p["kind"], created_at__gte=p["since"], credential_id=p["credential"],
        ).values_list("id", "credential_id", "created_at", "valid_until", "number"),
        kind=Credential._meta.get_field("kind"), since=_VERSION.get_field("created_at"),
        credential=_VERSION.get_field("credential"),
    )


def test_it_returns_what_the_orm_returns_for_each_calls_values(unit):
    now = timezone.now()
    sftp = make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=30), now=now)
    key = make_credential(unit, Kind.SFTP_KEY, now=now)
    query = _versions_of_kind_since()
    for credential in (sftp, key):
        expected = list(CredentialVersion.objects.filter(
            credential__kind=credential.kind, created_at__gte=now, credential=credential,
        ).values_list("id", "credential_id", "created_at", "valid_until", "number"))
        rows = query.rows(kind=credential.kind, since=now, credential=credential.pk)
        assert rows == expected and len(rows) == 1
        # Converted as the ORM converts: UUIDs, aware datetimes, None.
        assert isinstance(rows[0][0], uuid.UUID) and rows[0][2].tzinfo is not None
    assert query.rows(kind=Kind.SFTP_KEY, since=now, credential=sftp.pk) == []
    assert query.rows(kind=Kind.SFTP_PASSWORD, since=now + timedelta(seconds=1),
                      credential=sftp.pk) == []


def test_it_compiles_once_per_connection_setting(unit, django_assert_num_queries):
    query = _versions_of_kind_since()
    credential = make_credential(unit)
    query.rows(kind=credential.kind, since=credential.created_at, credential=credential.pk)
    assert list(query._compiled) == [("default", connection.vendor)]
    compiled = query._compiled[("default", connection.vendor)]
    with django_assert_num_queries(1):
        query.rows(kind=credential.kind, since=credential.created_at, credential=credential.pk)
    assert query._compiled[("default", connection.vendor)] is compiled


def test_it_takes_a_page_as_parameters(unit):
    made = [make_credential(unit, now=timezone.now() + timedelta(seconds=n)) for n in range(5)]
    query = PreparedQuery(
        lambda p: Credential.objects.filter(business_unit=p["unit"]).order_by(
            "created_at").values_list("pk")[PreparedQuery.PAGE],
        paged=True, unit=Credential._meta.get_field("business_unit"),
    )
    ids = [c.pk for c in made]
    assert query.rows(unit=unit.pk, limit=2, offset=0) == [(pk,) for pk in ids[:2]]
    assert query.rows(unit=unit.pk, limit=2, offset=3) == [(pk,) for pk in ids[3:]]
    assert query.rows(unit=unit.pk, limit=10, offset=5) == []
    with pytest.raises(TypeError):
        query.rows(unit=unit.pk)


def test_it_takes_a_page_inside_a_subquery(unit):
    made = [make_credential(unit, now=timezone.now() + timedelta(seconds=n)) for n in range(4)]
    query = PreparedQuery(
        lambda p: Credential.objects.filter(pk__in=Credential.objects.filter(
            business_unit=p["unit"]).order_by("created_at").values("pk")[PreparedQuery.PAGE],
        ).order_by("created_at").values_list("name"),
        paged=True, unit=Credential._meta.get_field("business_unit"),
    )
    assert query.rows(unit=unit.pk, limit=2, offset=1) == [(c.name,) for c in made[1:3]]


def test_it_refuses_what_it_cannot_prepare(unit):
    with pytest.raises(PreparationError):  # rows must be tuples
        PreparedQuery(lambda p: BusinessUnit.objects.filter(slug=p["slug"]),
                      slug=BusinessUnit._meta.get_field("slug")).rows(slug="ops")
    with pytest.raises(PreparationError):  # the value never reaches the SQL as a parameter
        PreparedQuery(lambda p: BusinessUnit.objects.filter(slug="ops").values_list("pk"),
                      slug=BusinessUnit._meta.get_field("slug")).rows(slug="ops")
    with pytest.raises(PreparationError):  # paged but never sliced
        PreparedQuery(lambda p: BusinessUnit.objects.filter(slug=p["slug"]).values_list("pk"),
                      paged=True, slug=BusinessUnit._meta.get_field("slug")
                      ).rows(slug="ops", limit=1)
    query = PreparedQuery(lambda p: BusinessUnit.objects.filter(slug=p["slug"]).values_list(
        "pk"), slug=BusinessUnit._meta.get_field("slug"))
    with pytest.raises(TypeError):
        query.rows(name="ops")
    assert query.rows(slug=unit.slug) == [(unit.pk,)]
