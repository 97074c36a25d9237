"""Partner contact pages through Django's test client: on the connection's page and the API
client credential's page, add, edit, remove; Send to partner offers the saved contacts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from credentials.models import Kind
from handoffs.models import Handoff
from notifications.optout import partner_opt_out_url
from partners.models import PartnerContact
from tests.factories import make_connection, make_credential
from tests.partners.helpers import make_contact
from tests.portal.helpers import assert_refused


@pytest.fixture
def connection(unit, alice):
    return make_connection(make_credential(unit, Kind.SFTP_PASSWORD, actor=alice,
                                           name="Acme drop"), alice)


@pytest.fixture
def api_client(unit, alice):
    return make_credential(unit, Kind.API_CLIENT_SECRET, actor=alice, name="ERP client")


def test_it_adds_a_contact_on_the_connections_page(client, bob, connection):
    client.force_login(bob)
    page = client.get(reverse("connection_edit", args=["acme", connection.pk]))
    assert b"Partner contacts" in page.content and b"No partner contacts yet." in page.content
    add = reverse("connection_contact_add", args=["acme", connection.pk])
    assert add.encode() in page.content
    response = client.post(add, {"name": "Dana Weber", "email": "dana@partner.example",
                                 "time_zone": "Europe/Berlin", "note": "Ops lead"})
    assert response.status_code == 302
    assert response["Location"].endswith("#partner-contacts")
    page = client.get(reverse("connection_edit", args=["acme", connection.pk]))
    assert b"dana@partner.example" in page.content and b"Europe/Berlin" in page.content
    assert AuditEvent.objects.filter(action="partner_contact.add", actor=bob).exists()


def test_it_refuses_a_bad_time_zone_on_its_field_and_adds_nothing(client, bob, connection):
    client.force_login(bob)
    response = client.post(reverse("connection_contact_add", args=["acme", connection.pk]),
                           {"name": "Dana", "email": "dana@partner.example",
                            "time_zone": "Mars/Olympus"})
    assert_refused(response, "time_zone", "is not a known time zone")
    assert not PartnerContact.objects.exists()


def test_it_edits_and_removes_after_a_confirmation(client, alice, connection):
    contact = make_contact(connection, alice)
    client.force_login(alice)
    edit = reverse("contact_edit", args=["acme", contact.pk])
    assert b'value="Dana Weber"' in client.get(edit).content
    client.post(edit, {"name": "Dana W.", "email": "dana@partner.example", "time_zone": ""})
    contact.refresh_from_db()
    assert contact.name == "Dana W."
    remove = reverse("contact_remove", args=["acme", contact.pk])
    assert b"Yes, remove them" in client.get(remove).content
    assert PartnerContact.objects.exists()
    client.post(remove)
    assert not PartnerContact.objects.exists()


def test_an_api_clients_page_lists_its_contacts_and_those_of_its_connections(
        client, vic, alice, api_client):
    make_contact(api_client, alice, name="Ann", email="ann@partner.example")
    make_contact(make_connection(api_client, alice), alice, name="Bo",
                 email="bo@partner.example")
    client.force_login(vic)
    page = client.get(reverse("credential_detail", args=["acme", api_client.pk])).content
    assert b"ann@partner.example" in page and b"bo@partner.example" in page
    assert b"Add partner contact" not in page and b"Remove" not in page  # a viewer reads
    client.force_login(alice)
    page = client.get(reverse("credential_detail", args=["acme", api_client.pk])).content
    assert reverse("credential_contact_add", args=["acme", api_client.pk]).encode() in page


def test_other_credentials_have_no_contacts_of_their_own(client, alice, connection):
    client.force_login(alice)
    credential = connection.credential
    page = client.get(reverse("credential_detail", args=["acme", credential.pk])).content
    assert b"partner-contacts" not in page
    assert client.get(reverse("credential_contact_add",
                              args=["acme", credential.pk])).status_code == 404


def test_send_to_partner_offers_the_saved_contacts_and_someone_else(
        client, alice, api_client, smtp_server):
    contact = make_contact(api_client, alice, name="Ann", email="ann@partner.example")
    client.force_login(alice)
    url = reverse("handoff_send", args=["acme", api_client.pk])
    page = client.get(url).content.decode()
    assert "Ann &lt;ann@partner.example&gt;" in page and "Someone else" in page
    response = client.post(url, {"which": "current", "contact": str(contact.pk),
                                 "lifetime": "72"})
    assert response.status_code == 302
    assert Handoff.objects.get().recipient_email == "ann@partner.example"
    refused = client.post(url, {"which": "current", "contact": "other", "lifetime": "72"})
    assert_refused(refused, "recipient_email", "choose a partner contact above")
    client.post(url, {"which": "current", "contact": "other", "lifetime": "72",
                      "recipient_name": "Eve", "recipient_email": "eve@partner.example"})
    assert sorted(Handoff.objects.values_list("recipient_email", flat=True)) == [
        "ann@partner.example", "eve@partner.example"]


# As long as each part may be: 200 characters of name, 251 of address (labels of 63).
LONG_NAME = "Dana Weber-" + "Schmidt" * 27
LONG_EMAIL = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 50 + ".example"


def test_it_adds_edits_and_removes_a_contact_whose_name_and_address_are_long(client, bob,
                                                                            connection):
    """The audit trail names the contact by name and address, which together outgrow its
    label column: the label is shortened, the change is made and recorded."""
    assert len(LONG_NAME) == 200 and len(LONG_EMAIL) == 251
    client.force_login(bob)
    add = client.post(reverse("connection_contact_add", args=["acme", connection.pk]),
                      {"name": LONG_NAME, "email": LONG_EMAIL})
    assert add.status_code == 302
    contact = PartnerContact.objects.get()
    edit = client.post(reverse("contact_edit", args=["acme", contact.pk]),
                       {"name": LONG_NAME, "email": LONG_EMAIL, "note": "Night shift"})
    assert edit.status_code == 302
    assert client.post(reverse("contact_remove", args=["acme", contact.pk])).status_code == 302
    assert not PartnerContact.objects.exists()
    events = AuditEvent.objects.filter(action__startswith="partner_contact.").order_by("at")
    assert [event.action for event in events] == [
        "partner_contact.add", "partner_contact.edit", "partner_contact.remove"]
    label_length = AuditEvent._meta.get_field("target_label").max_length
    for event in events:
        assert event.target_label.startswith(LONG_NAME) and len(event.target_label) <= (
            label_length)
        assert event.details["email"] == LONG_EMAIL  # the details keep it whole


def test_a_long_address_opts_out_from_its_link(client, alice, connection):
    """The opt-out is recorded with the address as its actor, which outgrows the actor's
    label column: shortened there, whole in the details."""
    contact = make_contact(connection, alice, name="Dana", email=LONG_EMAIL)
    link = partner_opt_out_url(contact).removeprefix("http://testserver")
    response = client.post(link)
    assert response.status_code == 200 and b"no more" in response.content
    contact.refresh_from_db()
    assert contact.opted_out_at is not None
    event = AuditEvent.objects.get(action="partner_contact.opt_out")
    assert event.actor_label.startswith("opt-out link (aaaa")
    assert len(event.actor_label) <= AuditEvent._meta.get_field("actor_label").max_length
    assert event.details["email"] == LONG_EMAIL
