"""The API's most frequent requests: what they cost in queries and writes (the token: one
query; a headless read within a minute of the key's last dated use: no write), and the
prepared headless reads (unfiltered lists, single reads) answering exactly the JSON of the
filtered lists, which build their queries around their filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.models import ApiKey
from audit.models import AuditEvent
from credentials.models import ConnectionKind, Credential, Kind
from credentials.rotation.requests import rotation_schedule
from credentials.services import credential_set_active
from credentials.status import Badge
from organizations.access import SYSTEM
from tests.api.helpers import basic_auth, make_api_client, prepare_new_secret
from tests.factories import make_connection, make_credential, material_for

TOKEN = "/authentication/token"
SFTP = "/api/v1/headless/sftp/credentials/"
AS2 = "/api/v1/headless/as2/certificates/"
API = "/api/v1/headless/api/credentials/"


def test_it_issues_a_token_with_one_query_and_no_write(client, unit,
                                                       django_assert_num_queries):
    api = make_api_client(unit)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert client.post(TOKEN, HTTP_AUTHORIZATION=api.basic).status_code == 200  # dates it
        traveller.shift(timedelta(seconds=59))
        with django_assert_num_queries(1):
            response = client.post(TOKEN, HTTP_AUTHORIZATION=api.basic)
        assert response.status_code == 200 and response.json()["access_token"]
        with django_assert_num_queries(1):  # a wrong secret costs the same query
            wrong = basic_auth(api.client_id, "not-the-secret")
            assert client.post(TOKEN, HTTP_AUTHORIZATION=wrong).status_code == 401


def test_it_checks_an_access_token_with_one_query(client, unit, django_assert_num_queries):
    api = make_api_client(unit)
    token = client.post(TOKEN, HTTP_AUTHORIZATION=api.basic).json()["access_token"]
    with django_assert_num_queries(1):
        response = client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["client_id"] == api.client_id
    credential_set_active(credential=api.credential, active=False, actor=SYSTEM)
    assert client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_it_reads_the_headless_list_in_constant_queries_without_writing_within_a_minute(
        client, acme_key, unit, alice, django_assert_num_queries):
    for n in range(3):
        make_connection(make_credential(unit), alice, kind=ConnectionKind.OUTBOUND_SFTP,
                        hostname=f"h{n}.example.com", port=22)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        assert client.get(SFTP, HTTP_X_KEYTURN_KEY=acme_key).status_code == 200
        uses = AuditEvent.objects.filter(action="api_key.use").count()
        assert uses == 1 and ApiKey.objects.get().last_used_at == start
        traveller.shift(timedelta(seconds=30))
        # The key, the count and the page: three queries, none a write.
        with django_assert_num_queries(3):
            assert len(client.get(SFTP, HTTP_X_KEYTURN_KEY=acme_key).json()["results"]) == 3
        for _ in range(20):
            make_credential(unit)
        with django_assert_num_queries(3):
            assert len(client.get(SFTP, HTTP_X_KEYTURN_KEY=acme_key).json()["results"]) == 23
        created = Credential.objects.filter(kind=Kind.SFTP_PASSWORD).first()
        with django_assert_num_queries(2):  # the key and the credential
            assert client.get(f"{SFTP}{created.pk}/", HTTP_X_KEYTURN_KEY=acme_key
                              ).status_code == 200
        assert AuditEvent.objects.filter(action="api_key.use").count() == uses
        assert ApiKey.objects.get().last_used_at == start
        # A minute after the dated use, the next read is audited and dates the key again.
        traveller.shift(timedelta(seconds=31))
        client.get(SFTP, HTTP_X_KEYTURN_KEY=acme_key)
        assert AuditEvent.objects.filter(action="api_key.use").count() == uses + 1
        assert ApiKey.objects.get().last_used_at == start + timedelta(seconds=61)


def test_it_audits_every_refused_request_and_every_change_even_within_the_minute(
        client, acme_key):
    with time_machine.travel(timezone.now(), tick=False):
        client.get(SFTP, HTTP_X_KEYTURN_KEY=acme_key)
        client.get(f"{SFTP}not-a-uuid/", HTTP_X_KEYTURN_KEY=acme_key)
        client.get(SFTP, {"status": "shiny"}, HTTP_X_KEYTURN_KEY=acme_key)
        client.get(SFTP, HTTP_X_KEYTURN_KEY=acme_key)
        client.post(SFTP, "{}", content_type="application/json", HTTP_X_KEYTURN_KEY=acme_key)
    statuses = list(AuditEvent.objects.filter(action="api_key.use").order_by("id").values_list(
        "details__status", flat=True))
    assert statuses == [200, 404, 400, 400]


def _varied_credentials(unit, alice):
    """Credentials of every headless resource in the states that change what it shows."""
    now = timezone.now()
    password = make_credential(unit, Kind.SFTP_PASSWORD, expires_in=timedelta(days=5))
    make_connection(password, alice, kind=ConnectionKind.OUTBOUND_SFTP,
                    hostname="first.example.com", port=2022)
    make_connection(password, alice, kind=ConnectionKind.OUTBOUND_SFTP,
                    hostname="second.example.com", port=22)
    make_credential(unit, Kind.SFTP_KEY)  # no connection: no host, Inactive
    scheduled = make_credential(unit, Kind.SFTP_PASSWORD)
    rotation_schedule(credential=scheduled, starts_at=now + timedelta(days=3), actor=alice,
                      material=material_for(Kind.SFTP_PASSWORD))
    off = make_credential(unit, Kind.AS2_CERTIFICATE, expires_in=timedelta(days=400))
    credential_set_active(credential=off, active=False, actor=alice)
    make_credential(unit, Kind.AS2_CERTIFICATE, valid_until=now - timedelta(days=1), now=now -
                    timedelta(days=10))
    api = make_api_client(unit, expires_in=timedelta(days=20))
    prepare_new_secret(api)  # a pending version
    make_credential(unit, Kind.API_KEY, expires_in=timedelta(days=90))


@pytest.mark.parametrize("path", [SFTP, AS2, API])
def test_it_answers_prepared_reads_exactly_as_the_filtered_path(client, acme_key, acme, unit,
                                                                alice, path):
    _varied_credentials(unit, alice)
    other_unit = acme.business_units.get(slug="finance")
    make_credential(other_unit, {SFTP: Kind.SFTP_KEY, AS2: Kind.AS2_CERTIFICATE,
                                 API: Kind.API_KEY}[path])

    def get(**query):
        response = client.get(path, query, HTTP_X_KEYTURN_KEY=acme_key)
        assert response.status_code == 200
        return response.json()

    with time_machine.travel(timezone.now(), tick=False):
        listed = get()  # prepared
        rows = listed["results"]
        assert listed["count"] == len(rows) >= 3
        # Filtered by unit (one query built around the filter): the same rows, the same JSON.
        for slug in ("warehouse", "finance"):
            assert get(business_unit=slug)["results"] == [
                row for row in rows if row["business_unit"] == slug]
        shown = set()
        for badge in Badge:
            filtered = get(status=badge.value)
            assert filtered["results"] == [row for row in rows if badge.value in row["status"]]
            assert filtered["count"] == len(filtered["results"])
            shown |= {row["id"] for row in filtered["results"]}
        assert shown == {row["id"] for row in rows}  # every row went through the filtered path
        second = get(page=2, page_size=1)
        assert second["results"] == rows[1:2] and second["count"] == len(rows)
        for row in rows:
            assert client.get(f"{path}{row['id']}/", HTTP_X_KEYTURN_KEY=acme_key).json() == row


def test_it_never_loads_a_secret_for_a_headless_read(client, acme_key, unit, alice):
    _varied_credentials(unit, alice)
    for path in (SFTP, AS2, API):
        with CaptureQueriesContext(connection) as queries:
            rows = client.get(path, HTTP_X_KEYTURN_KEY=acme_key).json()["results"]
            client.get(f"{path}{rows[0]['id']}/", HTTP_X_KEYTURN_KEY=acme_key)
            client.get(path, {"status": "active"}, HTTP_X_KEYTURN_KEY=acme_key)
        read = [query["sql"] for query in queries if "credentials_credential" in query["sql"]]
        assert len(read) >= 3
        assert not any(column in sql for sql in read
                       for column in ("secret_ciphertext", "secret_digest")), read
