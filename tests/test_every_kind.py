"""Every registered kind of credential works end to end, through the real parts: created with
its own form in the portal, revealed (audited), rotated at once in the portal, exported and
imported into another credential through the import pages, read through its family's headless
API resource, logged in with over SFTP when it says it logs in, and regenerated for automatic
rotation. The values come from the kind's own example, so a kind registered in
credentials.kinds is covered here without a line of this file changing; one that lacks a piece
fails here."""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from api.http import iso
from api.services import api_key_create
from audit.models import AuditEvent
from credentials.kinds import KINDS, CredentialKind, Family
from credentials.models import Credential, CredentialVersion, VersionState
from credentials.rotation.automatic import rotation_prepare_automatic, version_activate
from credentials.services import current_version, version_secret
from imports.export import credential_export
from imports.models import ImportState, PendingImport
from sftpd.services import LoginDecision, login_decide_key, login_decide_password
from tests.factories import make_connection, make_credential
from tests.imports.helpers import FAST_KDF

EXPORT_PASSWORD = "every-kind-export-passphrase"
# The headless API's read endpoints (list, one) of each family. A family without one fails.
API_ENDPOINTS = {
    Family.SFTP: ("api_sftp_credentials", "api_sftp_credential"),
    Family.AS2: ("api_as2_certificates", "api_as2_certificate"),
    Family.API: ("api_api_credentials", "api_api_credential"),
}


def _identity(kind: CredentialKind, n: int = 1) -> str:
    return f"e2e-{kind.key.replace('_', '-')}-{n}"


def _material_data(kind: CredentialKind, values: dict[str, Any]) -> dict[str, Any]:
    """The kind's form fields for entered material: each value under its own name (an upload
    for file fields)."""
    fields = kind.form_class.base_fields
    data: dict[str, Any] = {"source": "enter"}
    for name, value in values.items():
        assert name in fields, f"{kind.key}: its form has no field {name!r} for parse()"
        if isinstance(fields[name], forms.FileField):
            content = value.encode() if isinstance(value, str) else value
            data[name] = SimpleUploadedFile(f"{name}.pem", content)
        else:
            data[name] = value
    return data


def _form_errors(response: Any) -> str:
    context = response.context or {}
    return "; ".join(str(form.errors) for key in ("details", "material_form", "second", "plan")
                     if (form := context.get(key)) is not None and form.errors)


def _create(client: Any, kind: CredentialKind, values: dict[str, Any]) -> Credential:
    name = f"Every kind: {kind.label}"
    response = client.post(reverse("credential_create", args=["acme", kind.key]), {
        "business_unit": "warehouse", "name": name, "rotation_policy": "reminders",
        "lifetime_days": 180, "notes": "", **_material_data(kind, values),
    })
    assert response.status_code == 302, _form_errors(response)
    credential = Credential.objects.get(name=name)
    assert response["Location"] == reverse("credential_detail", args=["acme", credential.pk])
    return credential


def _assert_current_holds(credential: Credential, kind: CredentialKind,
                          values: dict[str, Any]) -> CredentialVersion:
    expected = kind.parse(values)
    version = current_version(credential)
    assert version is not None
    assert kind.public_values(version) == kind.public_values(expected)
    assert version_secret(version) == expected.secret
    return version


def _reveal(client: Any, credential: Credential, secret: str) -> None:
    before = AuditEvent.objects.filter(action="secret.reveal").count()
    response = client.post(reverse("credential_reveal", args=["acme", credential.pk]))
    assert response.status_code == 200
    assert html.escape(secret) in response.content.decode()
    event = AuditEvent.objects.filter(action="secret.reveal").latest("at")
    assert AuditEvent.objects.filter(action="secret.reveal").count() == before + 1
    assert event.target_id == str(credential.pk)
    assert secret.strip() not in json.dumps(event.details)


def _rotate_now(client: Any, credential: Credential, kind: CredentialKind,
                values: dict[str, Any]) -> None:
    url = reverse("credential_rotate", args=["acme", credential.pk])
    plan = {"method": "new", "timing": "immediate", "reason": "every kind"}
    step1 = client.post(url, {"step": "1", **plan})
    assert step1.status_code == 200 and "second" in step1.context, _form_errors(step1)
    assert kind.secret_noun in step1.content.decode()
    step2 = client.post(url, {"step": "2", **plan, **_material_data(kind, values)})
    assert step2.status_code == 302, _form_errors(step2)


def _import_into(client: Any, target: Credential, data: bytes) -> None:
    """Update Existing Credential through the import pages: upload, choose, password, preview
    (old against new public values), migrate."""
    imports = reverse("import_list", args=["acme"])
    upload = client.post(imports + "upload/", {"file": SimpleUploadedFile("every.json", data)})
    assert upload.status_code == 302
    pending = PendingImport.objects.get(state=ImportState.PENDING)
    password = client.post(
        f"{imports}{pending.pk}/password/?action=update&credential={target.pk}",
        {"action": "update", "credential": target.pk, "password": EXPORT_PASSWORD})
    assert password.status_code == 302, password.content.decode()[:2000]
    preview = client.get(password["Location"])
    assert preview.status_code == 200
    migrate = client.post(password["Location"])
    assert migrate.status_code == 302
    pending.refresh_from_db()
    assert pending.state == ImportState.APPLIED and pending.credential == target


def _api_read(client: Any, credential: Credential, kind: CredentialKind, key: str) -> None:
    list_name, one_name = API_ENDPOINTS[kind.family]
    one = client.get(reverse(one_name, kwargs={"id": str(credential.pk)}),
                     HTTP_X_KEYTURN_KEY=key)
    assert one.status_code == 200
    body = one.json()
    assert body["id"] == str(credential.pk)
    for name, value in kind.api_fields(current_version(credential)).items():
        assert body[name] == (iso(value) if isinstance(value, datetime) else value), name
    listed = client.get(reverse(list_name), HTTP_X_KEYTURN_KEY=key).json()
    assert body in listed["results"]
    secret = version_secret(current_version(credential))
    assert not any(line in one.content.decode() for line in secret.splitlines()
                   if len(line) >= 12 and not line.startswith("-----"))


def _sftp_login(kind: CredentialKind, version: CredentialVersion, now: datetime) -> LoginDecision:
    if kind.sftp_login == "password":
        return login_decide_password(username=version.username,
                                     password=version_secret(version), now=now)
    if kind.sftp_login == "publickey":
        key_type, blob = version.public_key.split()[:2]
        return login_decide_key(username=version.username, key_type=key_type, key_base64=blob,
                                now=now)
    raise AssertionError(f"{kind.key}: no SFTP login by {kind.sftp_login!r} is known")


@pytest.mark.parametrize("key", list(KINDS))
def test_it_takes_every_kind_from_creation_to_the_api(key, client, acme, unit, alice):
    kind = KINDS[key]
    now = timezone.now()
    client.force_login(alice)

    first = kind.example_values(identity=_identity(kind), now=now)
    credential = _create(client, kind, first)
    assert credential.kind == key and credential.family == kind.family
    version = _assert_current_holds(credential, kind, first)
    make_connection(credential, alice)
    _reveal(client, credential, version_secret(version))

    second = kind.example_values(identity=_identity(kind), now=now)
    _rotate_now(client, credential, kind, second)
    rotated = _assert_current_holds(credential, kind, second)
    assert rotated.number == 2
    version.refresh_from_db()
    assert version.state == VersionState.RETIRED

    target = make_credential(unit, key, actor=alice, name=f"Import target: {kind.label}")
    exported = credential_export(credential=credential, password=EXPORT_PASSWORD, actor=alice,
                                 kdf=FAST_KDF)
    _import_into(client, target, exported)
    imported = _assert_current_holds(target, kind, second)
    assert imported.number == 2

    plaintext = api_key_create(organization=acme, name="every kind", actor=alice, now=now)[1]
    _api_read(client, credential, kind, plaintext)

    if kind.sftp_login:
        make_connection(credential, alice, kind="inbound_sftp")
        decision = _sftp_login(kind, rotated, timezone.now())
        assert decision.ok and decision.version == rotated, decision.reason


@pytest.mark.parametrize("key", list(KINDS))
def test_it_regenerates_every_kind_for_automatic_rotation(key, unit, alice):
    kind = KINDS[key]
    now = timezone.now()
    # Made 340 days ago: it expires within 30 days (a certificate's example lasts 365).
    credential = make_credential(unit, key, actor=alice, now=now - timedelta(days=340),
                                 expires_in=timedelta(days=350))
    credential.rotation_policy = "automatic"
    credential.save()
    current = current_version(credential)
    rotation = rotation_prepare_automatic(credential=credential, now=now)
    assert rotation is not None
    pending = rotation.to_version
    kind.verify(pending, version_secret(pending))
    assert version_secret(pending) != version_secret(current)
    assert (pending.username, pending.client_id) == (current.username, current.client_id)
    assert version_activate(version=pending, now=now)
    assert current_version(credential) == pending
