"""credentials.models.CredentialTally: the database's triggers keep it equal to the credentials
it counts, whatever writes them (services, imports, the demo, bulk_create, deletes, moves,
a rotation that switches the kind), on SQLite and on PostgreSQL, also under concurrency."""

from __future__ import annotations

import threading
from importlib import import_module
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.models import Count

from credentials.demo import load_demo_data
from credentials.models import Credential, CredentialTally, Kind
from credentials.rotation.requests import rotation_rotate_now
from tests.factories import make_credential, make_org, material_for

EXPORT_PASSWORD = "export-passphrase-for-tests-42"
TALLY_MIGRATION = import_module("credentials.migrations.0013_credential_tally")


def _tallied() -> dict[tuple[int, str], int]:
    return {(unit, kind): total for unit, kind, total in
            CredentialTally.objects.values_list("business_unit_id", "kind", "total")
            if total}


def _counted() -> dict[tuple[int, str], int]:
    return {(unit, kind): total for unit, kind, total in
            Credential.objects.order_by().values_list("business_unit_id", "kind").annotate(
                Count("pk"))}


def test_it_counts_every_credential_however_it_is_written(acme, unit, alice, tmp_path,
                                                          monkeypatch):
    finance = acme.business_units.get(slug="finance")
    made = [make_credential(unit, kind) for kind in Kind]  # the service
    made.append(make_credential(unit, Kind.SFTP_PASSWORD))
    assert _tallied() == _counted() == {
        (unit.pk, Kind.SFTP_PASSWORD): 2, **{(unit.pk, kind): 1 for kind in Kind
                                             if kind != Kind.SFTP_PASSWORD}}

    Credential.objects.bulk_create([  # no save(), no signal
        Credential(business_unit=finance, name=f"bulk {n}", kind=Kind.API_KEY)
        for n in range(3)])
    assert _tallied()[(finance.pk, Kind.API_KEY)] == 3 and _tallied() == _counted()

    # An import (the command) creates through the service too.
    monkeypatch.setenv("KEYTURN_EXPORT_PASSWORD", EXPORT_PASSWORD)
    monkeypatch.setenv("KEYTURN_IMPORT_PASSWORD", EXPORT_PASSWORD)
    call_command("export_credential", str(made[0].pk), "--out", str(tmp_path / "one.json"))
    call_command("import_credential", str(tmp_path / "one.json"), "--org", "acme", "--new",
                 "--name", "Imported", stdout=StringIO())
    assert Credential.objects.filter(name="Imported").exists() and _tallied() == _counted()

    # A rotation that switches the kind moves it between tallies.
    password = made[-1]
    rotation_rotate_now(credential=password, material=material_for(Kind.SFTP_KEY), actor=alice)
    assert Credential.objects.get(pk=password.pk).kind == Kind.SFTP_KEY
    assert _tallied()[(unit.pk, Kind.SFTP_KEY)] == 2 and _tallied() == _counted()

    # Moved to another unit, in bulk.
    Credential.objects.filter(kind=Kind.SFTP_KEY).update(business_unit=finance)
    assert _tallied()[(finance.pk, Kind.SFTP_KEY)] == 2 and _tallied() == _counted()

    # Deleted (its versions go with it; the ORM collects and deletes them first).
    Credential.objects.filter(name__startswith="bulk").delete()
    Credential.objects.get(name="Imported").delete()
    assert (finance.pk, Kind.API_KEY) not in _tallied() and _tallied() == _counted()

    # And by SQL written by hand.
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Credential._meta.db_table} SET kind = %s WHERE kind = %s",
                       [Kind.API_CLIENT_SECRET, Kind.API_KEY])
    assert _tallied() == _counted()

    # A unit without credentials can go, its (empty) tallies with it.
    emptied = acme.business_units.create(name="Gone", slug="gone")
    Credential.objects.filter(pk=make_credential(emptied).pk).delete()
    assert CredentialTally.objects.filter(business_unit=emptied, total=0).exists()
    emptied_pk = emptied.pk
    emptied.delete()
    assert not CredentialTally.objects.filter(business_unit_id=emptied_pk).exists()


def test_it_counts_the_demo_data_and_keeps_organizations_apart(db):
    load_demo_data()
    other = make_org("other", units=("ops",))
    make_credential(other.business_units.get(), Kind.AS2_CERTIFICATE)
    assert _tallied() == _counted() and sum(_tallied().values()) > 10


def test_it_counts_what_was_there_before_the_migration(unit):
    """Migration 0013 counts the credentials already there, once."""
    make_credential(unit, Kind.SFTP_KEY)
    make_credential(unit, Kind.SFTP_KEY)
    CredentialTally.objects.all().delete()
    with connection.cursor() as cursor:  # what the migration runs after creating the triggers
        cursor.execute(TALLY_MIGRATION.COUNT_EXISTING)
    assert _tallied() == _counted() == {(unit.pk, Kind.SFTP_KEY): 2}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_stays_exact_when_many_write_the_same_unit_and_kind_at_once(acme, unit):
    threads, each = 8, 5
    start = threading.Barrier(threads)
    errors: list[BaseException] = []
    doomed = [make_credential(unit, Kind.SFTP_PASSWORD) for _ in range(threads)]

    def write(n: int) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(each):
                make_credential(unit, Kind.SFTP_PASSWORD)
            doomed[n].versions.all().delete()
            Credential.objects.filter(pk=doomed[n].pk).delete()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    assert _tallied() == _counted() == {(unit.pk, Kind.SFTP_PASSWORD): threads * each}
