"""The registry of kinds (credentials.kinds): it lists exactly the database's kinds, each
with a complete contract, and a kind it does not register raises wherever one can come in,
instead of falling through to another kind's rules (a bogus kind used to be regenerated as an
API key, and switched by a rotation that checked only that its secret was not empty)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.services import api_key_create
from audit.models import AuditEvent
from credentials.errors import UnknownKind
from credentials.kinds import FAMILIES, KINDS, kind_for
from credentials.models import Credential, Kind, RotationState
from credentials.rotation.automatic import rotation_prepare_automatic
from credentials.rotation.engine import rotation_execute
from credentials.rotation.requests import rotation_schedule
from credentials.services import credential_create, current_version, version_secret
from imports import payload
from sftpd.services import Refusal, login_decide_password
from tests.factories import make_connection, make_credential, material_for
from tests.imports.helpers import PAYLOAD_PASSWORD, seal

BOGUS = "gpg_key"


def test_it_registers_exactly_the_kinds_the_database_knows_in_its_order():
    assert [(kind.key, kind.label) for kind in KINDS.values()] == Kind.choices


@pytest.mark.parametrize("key", list(KINDS))
def test_it_gives_every_kind_a_family_and_one_name_per_value(key):
    kind = KINDS[key]
    assert kind.family in FAMILIES
    fields = kind.form_class.base_fields
    assert {*kind.payload_fields, kind.secret_field} <= set(fields)
    example = kind.example_values(identity="contract-1", now=timezone.now())
    assert set(example) == {*kind.payload_fields, kind.secret_field}
    assert kind.parse(example).kind == key


def test_it_raises_for_a_kind_it_does_not_register(unit, alice):
    with pytest.raises(UnknownKind, match=BOGUS):
        kind_for(BOGUS)
    with pytest.raises(UnknownKind):
        credential_create(business_unit=unit, kind=BOGUS, name="GPG", actor=alice,
                          material=material_for(Kind.SFTP_PASSWORD), valid_until=None)
    assert not Credential.objects.exists()


@pytest.fixture
def bogus(unit, alice):
    """A credential whose row names a kind no release registers (the database allows any
    string), with an inbound SFTP connection and a rotation scheduled before it changed."""
    credential = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice,
                                 expires_in=timedelta(days=10))
    make_connection(credential, alice)
    now = timezone.now()
    rotation = rotation_schedule(credential=credential, actor=alice,
                                 starts_at=now + timedelta(minutes=1),
                                 material=material_for(Kind.SFTP_PASSWORD))
    Credential.objects.filter(pk=credential.pk).update(kind=BOGUS)
    credential.refresh_from_db()
    credential.scheduled = rotation
    return credential


def test_it_refuses_to_show_or_reveal_a_credential_of_an_unknown_kind(client, alice, bogus):
    client.force_login(alice)
    with pytest.raises(UnknownKind):
        client.get(f"/o/acme/credentials/{bogus.pk}/")
    with pytest.raises(UnknownKind):
        client.post(f"/o/acme/credentials/{bogus.pk}/reveal/")
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()


def test_it_fails_a_rotation_of_an_unknown_kind_and_keeps_the_old_version(bogus):
    old = current_version(bogus)
    rotation = rotation_execute(rotation=bogus.scheduled,
                                now=timezone.now() + timedelta(minutes=2))
    assert rotation.state == RotationState.FAILED
    assert BOGUS in rotation.failure_reason
    assert current_version(bogus) == old


def test_it_does_not_regenerate_an_unknown_kind_as_another(bogus):
    Credential.objects.filter(pk=bogus.pk).update(rotation_policy="automatic")
    bogus.scheduled.state = RotationState.CANCELLED
    bogus.scheduled.save()
    count = bogus.versions.count()
    with pytest.raises(UnknownKind):
        rotation_prepare_automatic(credential=bogus)
    assert bogus.versions.count() == count


def test_it_lets_no_login_or_api_read_through_for_an_unknown_kind(client, acme, alice, bogus):
    version = current_version(bogus)
    decision = login_decide_password(username=version.username,
                                     password=version_secret(version), now=timezone.now())
    assert not decision.ok and decision.reason == Refusal.UNKNOWN_USER
    key = api_key_create(organization=acme, name="ci", actor=alice, now=timezone.now())[1]
    for resource in ("sftp/credentials", "as2/certificates", "api/credentials"):
        url = f"/api/v1/headless/{resource}/"
        assert client.get(f"{url}{bogus.pk}/", HTTP_X_KEYTURN_KEY=key).status_code == 404
        assert client.get(url, HTTP_X_KEYTURN_KEY=key).json()["count"] == 0


@pytest.mark.parametrize("kind", [BOGUS, ["sftp_password"], None])
def test_it_refuses_a_payload_of_an_unknown_kind_naming_the_field(kind):
    data = seal({"kind": kind, "name": "GPG", "material": {"username": "partner"}})
    with pytest.raises(payload.PayloadError) as refused:
        payload.open_payload(data, PAYLOAD_PASSWORD)
    assert refused.value.field == "kind" and refused.value.stage == "content"
    assert "sftp_password" in refused.value.message
