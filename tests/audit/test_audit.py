from unittest import mock

import pytest
from django.db import transaction

from audit.models import AppendOnlyError, AuditEvent
from audit.services import audit_record
from credentials.models import Credential
from credentials.services import secret_reveal, version_secret
from tests.factories import make_credential


def test_it_refuses_to_change_or_delete_an_event(alice, acme):
    with transaction.atomic():
        event = audit_record(action="test.thing", actor=alice, organization=acme)
    event.action = "forged"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.thing"


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_write_outside_the_actions_transaction(alice):
    with pytest.raises(RuntimeError, match="inside the action's transaction"):
        audit_record(action="test.thing", actor=alice)


def test_it_fails_the_action_when_its_audit_event_cannot_be_written(unit, alice):
    broken = mock.patch.object(AuditEvent.objects, "create", side_effect=RuntimeError("disk full"))
    with broken, pytest.raises(RuntimeError, match="disk full"):
        make_credential(unit, name="never saved", actor=alice)
    assert not Credential.objects.filter(name="never saved").exists()


def test_it_records_a_reveal_with_who_and_where_but_never_the_secret(unit, alice):
    credential = make_credential(unit, actor=alice)
    secret = secret_reveal(credential=credential, actor=alice, source_ip="203.0.113.9")
    assert secret == version_secret(credential.versions.get())
    event = AuditEvent.objects.get(action="secret.reveal")
    assert (event.actor, event.source_ip, event.target_id) == (alice, "203.0.113.9",
                                                               str(credential.pk))
    for stored in AuditEvent.objects.all():
        assert secret not in str(stored.details)
        assert secret not in stored.target_label
