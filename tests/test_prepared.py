"""config.prepared: queries compiled once, run with each call's values, on the database the
suite runs on (SQLite, and PostgreSQL in its pass), with the ORM's conversions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections
from django.db.models import Q
from django.utils import timezone

from config.prepared import PreparationError, PreparedQuery, _conversion
from credentials.models import Credential, CredentialTally, CredentialVersion, Kind, VersionState
from credentials.status import with_status
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


def test_it_converts_booleans_and_null_times_as_the_orm(unit):
    now = timezone.now()
    on = make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=3), now=now)
    off = make_credential(unit, Kind.SFTP_KEY, now=now)  # no expiry
    Credential.objects.filter(pk=off.pk).update(is_active=False)

    def annotated(queryset):
        return with_status(queryset).values_list(
            "pk", "is_active", "created_at", "expires_at", "in_use", "rotation_scheduled",
            "kind").order_by("created_at", "pk")

    query = PreparedQuery(lambda p: annotated(Credential.objects.filter(business_unit=p["unit"])),
                          unit=Credential._meta.get_field("business_unit"))
    rows = query.rows(unit=unit.pk)
    assert rows == list(annotated(Credential.objects.filter(business_unit=unit)))
    assert [row[1] for row in rows] == [True, False] and rows[1][3] is None
    assert all(type(row[4]) is bool and type(row[5]) is bool for row in rows)
    assert rows[0][3] == on.versions.get().valid_until and rows[0][3].tzinfo is not None


@pytest.mark.parametrize(("method", "values"), [
    ("convert_uuidfield_value", [None, uuid.uuid4().hex, str(uuid.uuid4())]),
    ("convert_booleanfield_value", [None, 0, 1, True, False]),
    ("convert_datetimefield_value", [
        None, "2026-11-30 05:41:00", "2026-11-30 05:41:00.123456", "2026-11-30T05:41:00+02:00",
        datetime(2026, 11, 30, 5, 41), datetime(2026, 11, 30, 5, 41, tzinfo=UTC)]),
])
def test_its_sqlite_conversions_give_what_djangos_give(method, values):
    sqlite = connections.create_connection("default") if connection.vendor == "sqlite" else None
    if sqlite is None:
        pytest.skip("SQLite's conversions")
    function = getattr(sqlite.ops, method)
    convert = _conversion([function], None, sqlite)
    assert convert is not function
    for value in values:
        expected = function(value, None, sqlite)
        assert convert(value) == expected and type(convert(value)) is type(expected)
        if isinstance(expected, datetime):
            assert convert(value).tzinfo == expected.tzinfo


_SINCE = {"since": _VERSION.get_field("created_at")}


@pytest.mark.parametrize(("build", "fields", "values"), [
    # Each uses its parameter once as itself (so it has a slot) and once worked out from it,
    # which would be compiled in as the stand-in's constant.
    (lambda p: CredentialVersion.objects.filter(
        created_at__gte=p["since"], valid_until__lte=p["since"] + timedelta(days=14),
    ).values_list("pk"), _SINCE, {"since": datetime(2026, 1, 1, tzinfo=UTC)}),
    (lambda p: CredentialVersion.objects.filter(
        created_at__gte=p["since"] - timedelta(days=3650),
    ).filter(created_at__lte=p["since"]).values_list("pk"), _SINCE,
     {"since": datetime(2026, 1, 1, tzinfo=UTC)}),
    (lambda p: CredentialTally.objects.filter(total=p["total"]).exclude(
        total=p["total"] + 1).values_list("pk"),
     {"total": CredentialTally._meta.get_field("total")}, {"total": 1}),
    (lambda p: CredentialVersion.objects.filter(
        username=p["name"], client_id__icontains=p["name"],
    ).values_list("pk"), {"name": _VERSION.get_field("username")}, {"name": "x"}),
], ids=["time plus a window", "time ten years back", "number plus one", "text inside a pattern"])
def test_it_refuses_values_worked_out_from_a_parameter(build, fields, values):
    with pytest.raises(PreparationError, match="compiled in as constants"):
        PreparedQuery(build, **fields).rows(**values)


def test_it_takes_a_parameter_used_twice_as_itself(unit):
    credential = make_credential(unit=unit, kind=Kind.SFTP_PASSWORD)
    query = PreparedQuery(
        lambda p: Credential.objects.filter(
            created_at__lte=p["now"], versions__created_at__lte=p["now"],
        ).values_list("pk"),
        now=Credential._meta.get_field("created_at"),
    )
    assert query.rows(now=timezone.now()) == [(credential.pk,)]
    assert query.rows(now=credential.created_at - timedelta(seconds=1)) == []


def _constants_and_a_name() -> PreparedQuery:
    """A query whose SQL holds the code's constants of each type beside a call's value: an
    enum's text, a text with a quote and a percent sign, a boolean, a number, an IN list."""
    return PreparedQuery(
        lambda p: CredentialVersion.objects.filter(
            Q(credential__name="it's 100% %s") | Q(credential__name=p["name"]),
            state=VersionState.CURRENT, credential__is_active=True, number__gte=1,
            credential__kind__in=[Kind.SFTP_PASSWORD, Kind.SFTP_KEY],
        ).values_list("credential__name", "number"),
        name=Credential._meta.get_field("name"),
    )


def test_the_codes_constants_give_what_the_orm_gives_where_they_are_written_in(unit):
    now = timezone.now()
    quoted = make_credential(unit, Kind.SFTP_PASSWORD, name="it's 100% %s", now=now)
    plain = make_credential(unit, Kind.SFTP_KEY, name="plain", now=now)
    make_credential(unit, Kind.AS2_CERTIFICATE, name="other kind", now=now)
    off = make_credential(unit, Kind.SFTP_PASSWORD, name="switched off", now=now)
    Credential.objects.filter(pk=off.pk).update(is_active=False)
    query = _constants_and_a_name()
    for name in ("plain", "switched off", "nobody", "other kind"):
        expected = list(CredentialVersion.objects.filter(
            Q(credential__name="it's 100% %s") | Q(credential__name=name),
            state=VersionState.CURRENT, credential__is_active=True, number__gte=1,
            credential__kind__in=[Kind.SFTP_PASSWORD, Kind.SFTP_KEY],
        ).values_list("credential__name", "number"))
        assert sorted(query.rows(name=name)) == sorted(expected)
    assert sorted(query.rows(name="plain")) == [(quoted.name, 1), (plain.name, 1)]
    compiled = query._compiled[("default", connection.vendor)]
    if connection.vendor == "sqlite":
        # Only the call's value is left a parameter; the constants are SQLite literals.
        assert compiled.params == (compiled.params[compiled.slots[0][0]],)
        assert "'it''s 100%% %%s'" in compiled.sql and "'current'" in compiled.sql
        assert "IN ('sftp_password', 'sftp_key')" in compiled.sql
        # ... and the call's value a named parameter: no "%s" for the backend to search for.
        assert compiled.names == ("p0",) and "%(p0)s" in compiled.sql
        assert "%s" not in compiled.sql.replace("%%", "")


def test_a_pattern_written_in_matches_as_the_parameter_did(unit):
    """A constant LIKE pattern holds %, _ and the backslash of its ESCAPE: written in, it must
    match exactly the names the ORM's bound pattern matches."""
    for name in ("50% off", "500 off", "50_ off", "5\\0% off", "plain"):
        make_credential(unit, name=name)
    query = PreparedQuery(
        lambda p: Credential.objects.filter(name__contains="0% o", business_unit=p["unit"])
        .order_by("name").values_list("name"),
        unit=Credential._meta.get_field("business_unit"),
    )
    expected = list(Credential.objects.filter(name__contains="0% o", business_unit=unit)
                    .order_by("name").values_list("name"))
    assert query.rows(unit=unit.pk) == expected == [("50% off",), ("5\\0% off",)]


def test_a_query_left_with_no_parameter_runs(unit):
    credential = make_credential(unit, name="only one")
    query = PreparedQuery(lambda p: Credential.objects.filter(
        name="only one", is_active=True).values_list("name"))
    assert query.rows() == [(credential.name,)]
    Credential.objects.filter(pk=credential.pk).update(is_active=False)
    assert query.rows() == []
    if connection.vendor == "sqlite":
        assert query._compiled[("default", "sqlite")].params == ()


def test_a_constant_no_literal_can_hold_stays_a_parameter(unit):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's literals only; PostgreSQL holds no NUL in a text at all")
    query = PreparedQuery(
        lambda p: Credential.objects.filter(name__in=["a\x00b", p["name"]]).values_list("name"),
        name=Credential._meta.get_field("name"),
    )
    credential = make_credential(unit, name="kept")
    assert query.rows(name="kept") == [(credential.name,)]
    assert "a\x00b" in query._compiled[("default", "sqlite")].params


def test_a_page_query_keeps_its_page_and_values_as_parameters_around_written_constants(unit):
    made = [make_credential(unit, Kind.SFTP_KEY, now=timezone.now() + timedelta(seconds=n))
            for n in range(4)]
    make_credential(unit, Kind.SFTP_PASSWORD)
    query = PreparedQuery(
        lambda p: Credential.objects.filter(pk__in=Credential.objects.filter(
            business_unit=p["unit"], kind=Kind.SFTP_KEY, is_active=True,
        ).order_by("created_at").values("pk")[PreparedQuery.PAGE],
        ).order_by("created_at").values_list("name"),
        paged=True, unit=Credential._meta.get_field("business_unit"),
    )
    assert query.rows(unit=unit.pk, limit=2, offset=1) == [(c.name,) for c in made[1:3]]
    if connection.vendor == "sqlite":
        compiled = query._compiled[("default", "sqlite")]
        assert len(compiled.params) == 3 and compiled.page_slot == 1
