"""/api/v1/headless/sftp/credentials/: list, create, read, update (rotation), deactivate."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.models import ApiKey
from api.services import (
    SftpFields,
    sftp_credential_create,
    sftp_credential_deactivate,
    sftp_credential_update,
)
from audit.models import AuditEvent
from credentials import crypto
from credentials.errors import CredentialError
from credentials.kinds import sftp_password
from credentials.models import Connection, ConnectionKind, Credential, Kind, VersionState
from credentials.rotation.requests import rotation_schedule
from credentials.services import current_version, version_secret
from organizations.access import SYSTEM
from tests.factories import make_connection, make_credential

LIST = "/api/v1/headless/sftp/credentials/"
PASSWORD = "partner-password-2026"
BROKEN_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----"


def _body(**overrides):
    return {"hostname": "sftp.example.com", "port": 22, "user": "sftpuser",
            "auth_type": "PASSWORD", "password": PASSWORD, **overrides}


def _send(client, key, method, url, body):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return getattr(client, method)(url, data, content_type="application/json",
                                   HTTP_X_KEYTURN_KEY=key)


def _create(client, key, **overrides):
    response = _send(client, key, "post", LIST, _body(**overrides))
    assert response.status_code == 201, response.content
    return response.json()


def _snapshot(credential_id):
    """Everything a refused request must leave as it was."""
    credential = Credential.objects.get(pk=credential_id)
    return (
        credential.kind, credential.name, credential.is_active,
        sorted(((v.number, v.state, v.username, v.fingerprint, v.secret_ciphertext)
                for v in credential.versions.all()), key=repr),
        sorted((c.hostname, c.port, c.is_active) for c in credential.connections.all()),
    )


# --- Create and read -----------------------------------------------------------------------


def test_it_creates_a_password_credential_with_its_outbound_connection(client, acme_key, unit):
    response = _send(client, acme_key, "post", LIST, _body(business_unit="warehouse"))
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("hostname", "port", "user", "auth_type", "key_fingerprint")} == {
        "hostname": "sftp.example.com", "port": 22, "user": "sftpuser", "auth_type": "PASSWORD",
        "key_fingerprint": None,
    }
    assert response["Location"].endswith(f"{LIST}{body['id']}/")
    assert PASSWORD not in response.content.decode()
    credential = Credential.objects.get(pk=body["id"])
    assert (credential.kind, credential.business_unit) == (Kind.SFTP_PASSWORD, unit)
    assert version_secret(current_version(credential)) == PASSWORD
    assert credential.connections.get().kind == ConnectionKind.OUTBOUND_SFTP
    assert body["status"] == ["active"] and body["is_active"] is True
    event = AuditEvent.objects.get(action="api.sftp_credential.create")
    assert event.details["api_key"] == "ci" and event.actor is None
    assert event.actor_label == f'API key "ci" (kt_{acme_key.split("_")[1]})'
    assert PASSWORD not in json.dumps(list(AuditEvent.objects.values_list("details", flat=True)))


def test_it_creates_a_key_credential_and_shows_its_fingerprint_only(client, acme_key):
    private_key, info = crypto.generate_ssh_key()
    body = _create(client, acme_key, auth_type="KEY", private_key=private_key, password="")
    assert body["auth_type"] == "KEY"
    assert body["key_fingerprint"] == info.fingerprint
    assert body["key_fingerprint"].startswith("SHA256:")
    assert "PRIVATE KEY" not in json.dumps(body)


def test_it_creates_in_the_first_unit_unless_told_otherwise(client, acme_key, acme):
    assert _create(client, acme_key)["business_unit"] == "warehouse"  # created first
    assert _create(client, acme_key, business_unit="finance")["business_unit"] == "finance"
    unknown = _send(client, acme_key, "post", LIST, _body(business_unit="operations"))
    assert unknown.status_code == 400
    assert unknown.json() == {"errors": {"business_unit": ["No business unit with this slug."]}}


def test_it_reads_one_credential_and_answers_404_for_others(client, acme_key, globex_key, unit):
    created = _create(client, acme_key)
    assert _send(client, acme_key, "get", f"{LIST}{created['id']}/", "").json() == created
    as2 = make_credential(unit, Kind.AS2_CERTIFICATE)
    for url, key in ((f"{LIST}not-a-uuid/", acme_key), (f"{LIST}{uuid.uuid4()}/", acme_key),
                     (f"{LIST}{as2.pk}/", acme_key), (f"{LIST}{created['id']}/", globex_key)):
        response = client.get(url, HTTP_X_KEYTURN_KEY=key)
        assert response.status_code == 404, url
        assert response.json()["error"] == "not_found"


def test_it_keeps_other_organizations_out_of_every_method(client, acme_key, globex_key):
    created = _create(client, acme_key)
    before = _snapshot(created["id"])
    url = f"{LIST}{created['id']}/"
    assert _send(client, globex_key, "put", url, _body(hostname="evil.example")).status_code == 404
    assert client.delete(url, HTTP_X_KEYTURN_KEY=globex_key).status_code == 404
    assert client.get(LIST, HTTP_X_KEYTURN_KEY=globex_key).json()["count"] == 0
    assert _snapshot(created["id"]) == before


# --- List ----------------------------------------------------------------------------------


def test_it_lists_with_filters_and_pages(client, acme_key, alice, acme):
    finance = acme.business_units.get(slug="finance")
    for n in range(3):
        _create(client, acme_key, user=f"user{n}")
    _create(client, acme_key, user="money", business_unit="finance")
    expiring = make_credential(finance, Kind.SFTP_PASSWORD, expires_in=timedelta(days=3))
    make_connection(expiring, alice, kind=ConnectionKind.OUTBOUND_SFTP, hostname="old.example",
                    port=2222)
    make_credential(finance, Kind.AS2_CERTIFICATE)  # another kind: never listed here

    page = client.get(LIST, {"page_size": 2}, HTTP_X_KEYTURN_KEY=acme_key).json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["previous"] is None
    assert "page=2" in page["next"] and "page_size=2" in page["next"]
    last = client.get(LIST, {"page_size": 2, "page": 3}, HTTP_X_KEYTURN_KEY=acme_key).json()
    assert len(last["results"]) == 1 and last["next"] is None and "page=2" in last["previous"]

    by_unit = client.get(LIST, {"business_unit": "finance"}, HTTP_X_KEYTURN_KEY=acme_key).json()
    assert sorted(r["user"] for r in by_unit["results"]) == sorted(["money", expiring.versions.get(
    ).username])
    soon = client.get(LIST, {"status": "expiring_soon"}, HTTP_X_KEYTURN_KEY=acme_key).json()
    assert [r["id"] for r in soon["results"]] == [str(expiring.pk)]
    assert soon["results"][0]["status"] == ["active", "expiring_soon"]
    assert soon["results"][0]["hostname"] == "old.example"


@pytest.mark.parametrize("query", [{"status": "shiny"}, {"page": "0"}, {"page": "x"},
                                   {"page_size": "101"}, {"business_unit": "nope"},
                                   {"page": "99999999999999999999"}])
def test_it_refuses_bad_list_parameters(client, acme_key, query):
    response = client.get(LIST, query, HTTP_X_KEYTURN_KEY=acme_key)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == list(query)


def test_it_lists_a_page_of_many_rows_with_as_few_queries_as_one_row(client, acme_key):
    _create(client, acme_key)
    with CaptureQueriesContext(connection) as one:
        client.get(LIST, HTTP_X_KEYTURN_KEY=acme_key)
    for n in range(5):
        _create(client, acme_key, user=f"more{n}")
    with CaptureQueriesContext(connection) as six:
        assert len(client.get(LIST, HTTP_X_KEYTURN_KEY=acme_key).json()["results"]) == 6
    assert len(six.captured_queries) == len(one.captured_queries)


# --- Update --------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [{"password": ""}, {}])
def test_it_keeps_the_secret_when_the_update_omits_it_or_sends_it_empty(client, acme_key, keep):
    created = _create(client, acme_key)
    body = {k: v for k, v in _body(hostname="files.example.com", port=2022).items()
            if k != "password"}
    response = _send(client, acme_key, "put", f"{LIST}{created['id']}/", {**body, **keep})
    assert response.status_code == 200
    assert (response.json()["hostname"], response.json()["port"]) == ("files.example.com", 2022)
    credential = Credential.objects.get(pk=created["id"])
    assert credential.versions.count() == 1
    assert version_secret(current_version(credential)) == PASSWORD
    assert AuditEvent.objects.filter(action="rotation.complete").count() == 0


def test_it_rotates_on_a_new_password_with_a_new_version_audit_and_email(
    client, acme_key, django_capture_on_commit_callbacks
):
    created = _create(client, acme_key)
    with django_capture_on_commit_callbacks(execute=True):
        response = _send(client, acme_key, "put", f"{LIST}{created['id']}/",
                         _body(password="a-brand-new-password-1"))
    assert response.status_code == 200
    credential = Credential.objects.get(pk=created["id"])
    states = dict(credential.versions.values_list("number", "state"))
    assert states == {1: VersionState.RETIRED, 2: VersionState.CURRENT}
    assert version_secret(current_version(credential)) == "a-brand-new-password-1"
    assert AuditEvent.objects.filter(action="rotation.complete", target_id=created["id"]).exists()
    update = AuditEvent.objects.get(action="api.sftp_credential.update")
    assert update.details["changed"] == ["secret"]
    assert any("Rotation complete" in m.subject for m in mail.outbox)
    assert all("a-brand-new-password-1" not in m.body for m in mail.outbox)


def test_it_does_not_rotate_when_the_same_password_is_sent_again(client, acme_key):
    created = _create(client, acme_key)
    assert _send(client, acme_key, "put", f"{LIST}{created['id']}/", _body()).status_code == 200
    assert Credential.objects.get(pk=created["id"]).versions.count() == 1


def test_it_rotates_on_a_new_user_keeping_the_password(client, acme_key):
    created = _create(client, acme_key)
    response = _send(client, acme_key, "put", f"{LIST}{created['id']}/",
                     _body(user="renamed", password=""))
    assert response.json()["user"] == "renamed"
    current = current_version(Credential.objects.get(pk=created["id"]))
    assert (current.number, current.username, version_secret(current)) == (2, "renamed", PASSWORD)


def test_it_switches_auth_type_only_with_a_key_and_keeps_the_id(client, acme_key):
    created = _create(client, acme_key)
    url = f"{LIST}{created['id']}/"
    before = _snapshot(created["id"])
    refused = _send(client, acme_key, "put", url, _body(auth_type="KEY", password=""))
    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["private_key"]
    assert _snapshot(created["id"]) == before
    private_key, info = crypto.generate_ssh_key()
    switched = _send(client, acme_key, "put", url, _body(auth_type="KEY", private_key=private_key))
    assert switched.status_code == 200, switched.content
    assert switched.json()["id"] == created["id"]
    assert (switched.json()["auth_type"], switched.json()["key_fingerprint"]) == (
        "KEY", info.fingerprint)
    assert Credential.objects.get(pk=created["id"]).kind == Kind.SFTP_KEY
    # The kind switched with the version, in the rotation's switch (credentials.rotation).
    complete = AuditEvent.objects.get(action="rotation.complete", target_id=created["id"])
    assert complete.details["kind"] == {"from": Kind.SFTP_PASSWORD, "to": Kind.SFTP_KEY}
    # A key credential keeps its key when later updates omit it.
    kept = _send(client, acme_key, "put", url, _body(auth_type="KEY", password="", port=23))
    assert kept.json()["key_fingerprint"] == info.fingerprint


def test_its_service_refuses_with_domain_errors_naming_the_field(acme_key, unit):
    """The service knows no HTTP: it raises CredentialError naming the field, and
    api.http.respond answers 400 with it (the view tests above see the answers)."""
    credential = make_credential(unit, Kind.SFTP_PASSWORD, name="Drop box")
    api_key = ApiKey.objects.get()
    before = _snapshot(credential.pk)
    for fields, field in ((SftpFields("h.example", 22, "u", "KEY"), "private_key"),
                          (SftpFields("h.example", 22, "u", "KEY", private_key=BROKEN_KEY),
                           "private_key"),
                          (SftpFields("h.example", 22, "u", "PASSWORD", password="short"),
                           "password")):
        with pytest.raises(CredentialError) as refused:
            sftp_credential_update(credential=credential, fields=fields, api_key=api_key,
                                   now=timezone.now())
        assert refused.value.field == field
    assert _snapshot(credential.pk) == before


def test_it_answers_409_and_changes_nothing_when_a_rotation_is_already_scheduled(
    client, acme_key
):
    created = _create(client, acme_key)
    credential = Credential.objects.get(pk=created["id"])
    rotation_schedule(credential=credential, starts_at=timezone.now() + timedelta(days=2),
                      actor=SYSTEM, material=sftp_password.material(username="sftpuser",
                                                           password="scheduled-password-1"))
    before = _snapshot(created["id"])
    response = _send(client, acme_key, "put", f"{LIST}{created['id']}/",
                     _body(hostname="moved.example.com", password="another-password-99"))
    assert response.status_code == 409
    assert "already scheduled" in response.json()["message"]
    assert _snapshot(created["id"]) == before


def test_it_names_the_key_as_the_actor_of_every_change_its_requests_make(client, acme_key):
    before = AuditEvent.objects.order_by("id").last().id
    created = _create(client, acme_key)
    url = f"{LIST}{created['id']}/"
    _send(client, acme_key, "put", url, _body(hostname="moved.example.com",
                                              password="a-brand-new-password-1"))
    client.delete(url, HTTP_X_KEYTURN_KEY=acme_key)
    key = f'API key "ci" (kt_{acme_key.split("_")[1]})'
    actors = {}
    for action, label in AuditEvent.objects.filter(id__gt=before).values_list(
            "action", "actor_label"):
        actors.setdefault(action, set()).add(label)
    assert actors == {
        "api_key.use": {key}, "credential.create": {key}, "connection.create": {key},
        "api.sftp_credential.create": {key}, "rotation.request": {key},
        "connection.update": {key}, "api.sftp_credential.update": {key},
        "credential.deactivate": {key}, "api.sftp_credential.deactivate": {key},
        "rotation.complete": {"system"},  # the rotation engine completes what was requested
    }
    assert not AuditEvent.objects.filter(actor_label=key).exclude(organization__slug="acme")


def test_its_key_acts_in_its_own_organization_only(acme_key, globex_key, unit):
    """Views look credentials up in the key's organization; the services refuse on their own
    too, since the key acts as a system actor scoped to it."""
    credential = make_credential(unit, Kind.SFTP_PASSWORD)
    globex = ApiKey.objects.get(organization__slug="globex")
    before = _snapshot(credential.pk)
    with pytest.raises(PermissionDenied):
        sftp_credential_update(credential=credential, api_key=globex, now=timezone.now(),
                               fields=SftpFields("evil.example", 22, "u", "PASSWORD"))
    with pytest.raises(PermissionDenied):
        sftp_credential_deactivate(credential=credential, api_key=globex)
    with pytest.raises(PermissionDenied):
        sftp_credential_create(business_unit=unit, api_key=globex, now=timezone.now(),
                               fields=SftpFields("evil.example", 22, "u", "PASSWORD",
                                                 password="long-enough-password-1"))
    assert _snapshot(credential.pk) == before
    assert Credential.objects.count() == 1


# --- Delete --------------------------------------------------------------------------------


def test_it_deactivates_on_delete_and_keeps_the_history(client, acme_key):
    created = _create(client, acme_key)
    url = f"{LIST}{created['id']}/"
    response = client.delete(url, HTTP_X_KEYTURN_KEY=acme_key)
    assert response.status_code == 204
    credential = Credential.objects.get(pk=created["id"])
    assert not credential.is_active
    assert not Connection.objects.filter(credential=credential, is_active=True).exists()
    assert credential.versions.count() == 1
    after = client.get(url, HTTP_X_KEYTURN_KEY=acme_key).json()
    assert (after["is_active"], after["status"]) == (False, ["inactive"])
    assert client.delete(url, HTTP_X_KEYTURN_KEY=acme_key).status_code == 204
    assert AuditEvent.objects.filter(action="credential.deactivate").count() == 1


# --- Refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "field"), [
    ({"port": 0}, "port"), ({"port": 65536}, "port"), ({"port": "22"}, "port"),
    ({"port": True}, "port"), ({"auth_type": "SSH"}, "auth_type"),
    ({"hostname": "bad host!"}, "hostname"), ({"hostname": None}, "hostname"),
    ({"user": "has spaces"}, "user"), ({"password": "short"}, "password"),
    ({"auth_type": "KEY", "password": ""}, "private_key"),
    ({"auth_type": "KEY", "private_key": BROKEN_KEY}, "private_key"),
    ({"colour": "blue"}, "colour"), ({"password": "nul\x00password-long"}, "password"),
])
def test_it_refuses_invalid_bodies_with_errors_per_field(client, acme_key, overrides, field):
    response = _send(client, acme_key, "post", LIST, _body(**overrides))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert all(isinstance(message, str) for message in errors[field])
    assert not Credential.objects.exists()


LONE_SURROGATE = "\ud800"  # json.dumps sends it as the escape \ud800, as a client could


@pytest.mark.parametrize(("overrides", "field"), [
    ({"password": f"long-enough-{LONE_SURROGATE}-password"}, "password"),
    ({"auth_type": "KEY", "private_key": f"-----BEGIN{LONE_SURROGATE}"}, "private_key"),
    ({"user": LONE_SURROGATE}, "user"),
    ({"hostname": f"sftp{LONE_SURROGATE}.example.com"}, "hostname"),
    ({"business_unit": LONE_SURROGATE}, "business_unit"),
    ({"colour": [{"deep": LONE_SURROGATE}]}, "colour"),
    ({LONE_SURROGATE: "x"}, "body"),
    ({"password": "long-enough-\x00-password"}, "password"),
])
def test_it_refuses_text_that_is_not_valid_unicode_with_a_400_naming_the_field(
        client, acme_key, overrides, field):
    created = _create(client, acme_key)
    before = _snapshot(created["id"])
    for method, url in (("post", LIST), ("put", f"{LIST}{created['id']}/")):
        response = _send(client, acme_key, method, url, _body(**overrides))
        assert response.status_code == 400, response.content
        assert response["Content-Type"] == "application/json"
        assert response["Cache-Control"] == "no-store"
        errors = response.json()["errors"]
        assert list(errors) == [field]
        assert "NUL" in errors[field][0] or "lone surrogate" in errors[field][0]
    assert Credential.objects.count() == 1 and _snapshot(created["id"]) == before


def test_it_names_every_missing_field(client, acme_key):
    response = _send(client, acme_key, "post", LIST, {})
    assert set(response.json()["errors"]) == {"hostname", "port", "user", "auth_type"}


def test_it_refuses_a_malformed_key_on_update_and_changes_nothing(client, acme_key):
    created = _create(client, acme_key)
    before = _snapshot(created["id"])
    response = _send(client, acme_key, "put", f"{LIST}{created['id']}/",
                     _body(hostname="moved.example.com", auth_type="KEY", private_key=BROKEN_KEY))
    assert response.status_code == 400
    assert "private_key" in response.json()["errors"]
    assert BROKEN_KEY not in response.content.decode()
    assert _snapshot(created["id"]) == before


@pytest.mark.parametrize(("body", "status"), [
    ("{not json", 400), ("[1, 2]", 400), ('{"port": NaN}', 400), (b"\xff\xfe", 400),
])
def test_it_refuses_bodies_that_are_not_a_json_object(client, acme_key, body, status):
    response = _send(client, acme_key, "post", LIST, body)
    assert response.status_code == status
    assert "body" in response.json()["errors"]


def test_it_refuses_oversized_and_non_json_bodies(client, acme_key):
    created = _create(client, acme_key)
    before = _snapshot(created["id"])
    huge = _body(password="p" * 70_000)
    for method, url in (("post", LIST), ("put", f"{LIST}{created['id']}/")):
        response = _send(client, acme_key, method, url, huge)
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
    form = client.post(LIST, "hostname=x", content_type="application/x-www-form-urlencoded",
                       HTTP_X_KEYTURN_KEY=acme_key)
    assert form.status_code == 415
    assert Credential.objects.count() == 1 and _snapshot(created["id"]) == before


def test_it_answers_405_in_json_for_other_methods(client, acme_key):
    response = client.patch(LIST, "{}", content_type="application/json",
                            HTTP_X_KEYTURN_KEY=acme_key)
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert response.json()["error"] == "method_not_allowed"


def test_it_renames_only_the_names_it_derived(client, acme_key, unit, alice):
    created = _create(client, acme_key)
    _send(client, acme_key, "put", f"{LIST}{created['id']}/", _body(hostname="b.example.com"))
    assert Credential.objects.get(pk=created["id"]).name == "sftpuser@b.example.com"
    named = make_credential(unit, Kind.SFTP_PASSWORD, name="Partner drop box")
    response = _send(client, acme_key, "put", f"{LIST}{named.pk}/", _body(password=""))
    assert response.status_code == 200
    assert response.json()["name"] == "Partner drop box"
    # A credential made without an outbound connection gets one on its first update.
    assert response.json()["hostname"] == "sftp.example.com"


def test_it_refuses_two_private_keys_in_one_field_and_changes_nothing(client, acme_key):
    two_keys = crypto.generate_ssh_key()[0] + crypto.generate_ssh_key()[0]
    refused = _send(client, acme_key, "post", LIST, _body(auth_type="KEY", private_key=two_keys))
    assert refused.status_code == 400
    assert "holds 2 PEM blocks" in " ".join(refused.json()["errors"]["private_key"])
    assert not Credential.objects.exists()
    created = _create(client, acme_key)
    before = _snapshot(created["id"])
    response = _send(client, acme_key, "put", f"{LIST}{created['id']}/",
                     _body(auth_type="KEY", private_key=two_keys))
    assert response.status_code == 400 and "private_key" in response.json()["errors"]
    assert _snapshot(created["id"]) == before


# --- A rotation that fails -----------------------------------------------------------------


def _fail_the_switch():
    from unittest import mock

    from django.db import DatabaseError

    from credentials.rotation import engine

    return mock.patch.object(engine, "switch_versions", side_effect=DatabaseError("deadlock"))


def test_it_records_a_failed_rotation_on_the_history_tab_and_changes_nothing_else(
    client, acme_key, alice
):
    from credentials.models import Rotation, RotationState
    from credentials.rotation.requests import rotation_retry

    created = _create(client, acme_key)
    url = f"{LIST}{created['id']}/"
    with _fail_the_switch():
        response = _send(client, acme_key, "put", url,
                         _body(hostname="moved.example.com", password="a-brand-new-password-1"))
    assert response.status_code == 409
    assert "The rotation failed" in response.json()["message"]
    credential = Credential.objects.get(pk=created["id"])
    assert version_secret(current_version(credential)) == PASSWORD  # still works
    # The host moves with the switch or not at all.
    assert _send(client, acme_key, "get", url, "").json()["hostname"] == "sftp.example.com"
    assert not AuditEvent.objects.filter(action="api.sftp_credential.update").exists()
    rotation = Rotation.objects.get(credential=credential)
    assert rotation.state == RotationState.FAILED
    assert "database refused" in rotation.failure_reason
    assert rotation.to_version.state == VersionState.UNUSED
    client.force_login(alice)
    page = client.get(f"/o/acme/credentials/{credential.pk}/?tab=history").content.decode()
    assert "The last rotation failed" in page
    assert f"/rotations/{rotation.pk}/retry/" in page
    assert rotation_retry(rotation=rotation, actor=alice).state == RotationState.COMPLETED
    assert version_secret(current_version(credential)) == "a-brand-new-password-1"


def test_it_switches_the_auth_type_when_a_failed_switch_is_retried(client, acme_key, alice):
    from credentials.models import Rotation
    from credentials.rotation.requests import rotation_retry

    created = _create(client, acme_key)
    url = f"{LIST}{created['id']}/"
    private_key, info = crypto.generate_ssh_key()
    with _fail_the_switch():
        response = _send(client, acme_key, "put", url,
                         _body(auth_type="KEY", password="", private_key=private_key))
    assert response.status_code == 409
    credential = Credential.objects.get(pk=created["id"])
    assert credential.kind == Kind.SFTP_PASSWORD  # the kind switches with the version
    assert version_secret(current_version(credential)) == PASSWORD
    rotation_retry(rotation=Rotation.objects.get(credential=credential), actor=alice)
    answer = _send(client, acme_key, "get", url, "").json()
    assert (answer["auth_type"], answer["key_fingerprint"]) == ("KEY", info.fingerprint)
    assert Credential.objects.get(pk=created["id"]).kind == Kind.SFTP_KEY
