"""Partner contacts: the model's constraint, the services' rules, permissions and audit."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.services import api_key_create
from audit.models import AuditEvent
from credentials.models import Kind
from partners.models import PartnerContact
from partners.selectors import contacts_for_credential, contacts_to_email_many
from partners.services import (
    ContactFields,
    PartnerError,
    partner_contact_add,
    partner_contact_edit,
    partner_contact_opt_out,
    partner_contact_remove,
)
from tests.factories import make_connection, make_credential
from tests.partners.helpers import make_contact


@pytest.fixture
def connection(unit, alice):
    return make_connection(make_credential(unit, Kind.SFTP_PASSWORD, actor=alice), alice)


@pytest.fixture
def api_client(unit, alice):
    return make_credential(unit, Kind.API_CLIENT_SECRET, actor=alice, name="ERP client")


def test_it_adds_a_contact_to_a_connection_and_audits_it(connection, bob):
    contact = partner_contact_add(owner=connection, actor=bob, source_ip="192.0.2.7",
                                  fields=ContactFields(name="  Dana   Weber ",
                                                       email="Dana@Partner.Example",
                                                       time_zone="Europe/Berlin"))
    assert (contact.name, contact.email, contact.time_zone) == (
        "Dana Weber", "dana@partner.example", "Europe/Berlin")
    event = AuditEvent.objects.get(action="partner_contact.add")
    assert (event.actor, event.source_ip, event.target_id) == (bob, "192.0.2.7", str(contact.pk))
    assert event.details["email"] == "dana@partner.example"
    assert event.details["connection"] == connection.name


def test_it_keeps_a_contact_on_exactly_one_thing_in_the_database(connection, api_client):
    for owners in ({}, {"connection": connection, "credential": api_client}):
        with pytest.raises(IntegrityError), transaction.atomic():
            PartnerContact.objects.create(name="X", email="x@example.com", **owners)


def test_it_refuses_contacts_on_a_credential_that_is_no_api_client(unit, alice):
    sftp = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice)
    with pytest.raises(PartnerError) as refused:
        make_contact(sftp, alice)
    assert refused.value.field == "credential"
    assert not PartnerContact.objects.exists()


@pytest.mark.parametrize("fields, field", [
    (ContactFields(name=" ", email="a@example.com"), "name"),
    (ContactFields(name="A", email="not an address"), "email"),
    (ContactFields(name="A", email="a@example.com", time_zone="Mars/Olympus"), "time_zone"),
    (ContactFields(name="A", email="a@example.com", note="n" * 501), "note"),
])
def test_it_refuses_bad_fields_naming_the_field_and_changes_nothing(connection, alice, fields,
                                                                    field):
    with pytest.raises(PartnerError) as refused:
        partner_contact_add(owner=connection, fields=fields, actor=alice)
    assert refused.value.field == field
    assert not PartnerContact.objects.exists()
    assert not AuditEvent.objects.filter(action="partner_contact.add").exists()


def test_it_refuses_the_same_address_twice_on_one_connection(connection, alice):
    make_contact(connection, alice)
    with pytest.raises(PartnerError) as refused:
        make_contact(connection, alice, email="DANA@partner.example")
    assert refused.value.field == "email"
    assert PartnerContact.objects.count() == 1


def test_it_lets_only_those_who_manage_the_family_change_contacts(connection, rita, vic, alice,
                                                                  charlie):
    for actor in (rita, vic, charlie):
        with pytest.raises(PermissionDenied):
            make_contact(connection, actor)
    contact = make_contact(connection, alice)
    for actor in (rita, vic, charlie):
        with pytest.raises(PermissionDenied):
            partner_contact_edit(contact=contact, actor=actor,
                                 fields=ContactFields(name="Eve", email="eve@example.com"))
        with pytest.raises(PermissionDenied):
            partner_contact_remove(contact=contact, actor=actor)
    contact.refresh_from_db()
    assert contact.name == "Dana Weber"


def test_it_lets_an_api_key_act_only_in_its_own_organization(connection, acme, globex, alice,
                                                             charlie):
    key, _ = api_key_create(organization=globex, name="theirs", actor=charlie, now=timezone.now())
    with pytest.raises(PermissionDenied):
        make_contact(connection, key.actor)
    ours, _ = api_key_create(organization=acme, name="ours", actor=alice, now=timezone.now())
    contact = make_contact(connection, ours.actor)
    assert AuditEvent.objects.get(action="partner_contact.add").actor_label == ours.actor.label
    assert contact.pk


def test_it_edits_and_a_new_address_receives_again(connection, alice):
    contact = make_contact(connection, alice)
    assert partner_contact_opt_out(contact=contact, actor=alice) is True
    assert partner_contact_opt_out(contact=contact, actor=alice) is False  # once
    partner_contact_edit(contact=contact, actor=alice, fields=ContactFields(
        name="Dana Weber", email="dana@partner.example", note="Ops lead"))
    contact.refresh_from_db()
    assert contact.note == "Ops lead" and contact.opted_out_at is not None
    partner_contact_edit(contact=contact, actor=alice, fields=ContactFields(
        name="Dana Weber", email="dana.weber@partner.example", note="Ops lead"))
    contact.refresh_from_db()
    assert contact.opted_out_at is None
    assert list(AuditEvent.objects.filter(action__startswith="partner_contact.").order_by(
        "pk").values_list("action", flat=True)) == [
        "partner_contact.add", "partner_contact.opt_out", "partner_contact.edit",
        "partner_contact.edit"]
    assert AuditEvent.objects.filter(action="partner_contact.edit").order_by("pk").last().details[
        "changed"] == ["email"]


def test_it_removes_and_audits(connection, alice):
    contact = make_contact(connection, alice)
    partner_contact_remove(contact=contact, actor=alice)
    assert not PartnerContact.objects.exists()
    assert AuditEvent.objects.get(action="partner_contact.remove").details["email"] == (
        "dana@partner.example")


def test_it_finds_a_credentials_own_contacts_and_those_of_its_connections(
        api_client, alice, django_assert_num_queries):
    own = make_contact(api_client, alice, name="Ann", email="ann@partner.example")
    connection = make_connection(api_client, alice)
    via = make_contact(connection, alice, name="Bo", email="bo@partner.example")
    make_contact(connection, alice, name="Ann again", email="ann@partner.example")
    inactive = make_connection(api_client, alice, active=False)
    make_contact(inactive, alice, name="Cy", email="cy@partner.example")
    opted = make_contact(api_client, alice, name="Di", email="di@partner.example")
    partner_contact_opt_out(contact=opted, actor=alice)
    with django_assert_num_queries(1):
        names = [(c.name, c.connection.name if c.connection_id else None)
                 for c in contacts_for_credential(api_client)]
    assert [n for n, _ in names] == ["Ann", "Ann again", "Bo", "Cy", "Di"]
    assert {name: via for name, via in names} == {
        "Ann": None, "Ann again": connection.name, "Bo": connection.name, "Cy": inactive.name,
        "Di": None}
    with django_assert_num_queries(1):  # read with them: credential, connection, unit
        read = contacts_for_credential(api_client)
        assert [(c.credential, c.connection) for c in read if c.name in ("Ann", "Bo")] == [
            (api_client, None), (None, connection)]
        assert read[1].connection.business_unit.organization == api_client.business_unit \
            .organization
    emailed = contacts_to_email_many([api_client.pk])[api_client.pk]
    assert sorted(c.email for c in emailed) == ["ann@partner.example", "bo@partner.example"]
    assert own in emailed and via in emailed
