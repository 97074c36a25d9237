"""Database connections outlive a request (CONN_MAX_AGE), checked before reuse, and SQLite's
pragmas run once per connection, not once per request."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connection, connections


def test_it_keeps_connections_for_minutes_and_checks_them_before_reuse():
    database = settings.DATABASES["default"]
    assert database["CONN_MAX_AGE"] >= 60
    assert database["CONN_HEALTH_CHECKS"] is True


@pytest.mark.django_db(transaction=True)
def test_it_reuses_the_connection_from_one_request_to_the_next():
    """What a server's request cycle does (Django's handlers send these signals), outside the
    test client, which leaves connections alone."""
    request_started.send(sender=None)
    connection.ensure_connection()
    first = connection.connection
    request_finished.send(sender=None)
    request_started.send(sender=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection is first
    request_finished.send(sender=None)


@pytest.mark.django_db(transaction=True)
def test_it_replaces_a_connection_that_stopped_working():
    request_started.send(sender=None)
    connection.ensure_connection()
    broken = connection.connection
    request_finished.send(sender=None)
    if connection.vendor == "sqlite":
        pytest.skip("an SQLite connection cannot break under a running process")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connections.create_connection("default")
    try:  # what a database restart or an idle timeout does to a kept connection
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    request_started.send(sender=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection is not broken
    request_finished.send(sender=None)


@pytest.mark.django_db
def test_it_runs_sqlites_pragmas_once_per_connection():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    assert "PRAGMA journal_mode=WAL" in settings.DATABASES["default"]["OPTIONS"]["init_command"]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1  # NORMAL, set by init_command when it connected
