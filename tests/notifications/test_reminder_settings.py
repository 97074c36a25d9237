from notifications.models import ReminderOptOut
from tests.factories import make_user


def test_it_lets_a_contact_opt_out_of_a_units_reminders_and_back(client, acme, unit, alice):
    carol = make_user("carol", acme)
    unit.contact_emails = "carol@example.com"
    unit.save()
    client.force_login(carol)
    page = client.get("/o/acme/reminders/")
    assert page.status_code == 200
    assert b"Opt out" in page.content
    response = client.post(f"/o/acme/reminders/{unit.slug}/", {"opt_out": "1"}, follow=True)
    assert b"no longer get reminder emails about Warehouse" in response.content
    assert ReminderOptOut.objects.filter(user=carol, business_unit=unit).exists()
    client.post(f"/o/acme/reminders/{unit.slug}/", {"opt_out": "0"})
    assert not ReminderOptOut.objects.exists()


def test_it_refuses_owners_opting_out(client, unit, alice):
    client.force_login(alice)
    response = client.post(f"/o/acme/reminders/{unit.slug}/", {"opt_out": "1"}, follow=True)
    assert b"Owners always receive reminders" in response.content
    assert not ReminderOptOut.objects.exists()


def test_it_answers_404_for_another_organizations_units(client, charlie, unit):
    client.force_login(charlie)
    assert client.get("/o/acme/reminders/").status_code == 404
    assert client.post(f"/o/acme/reminders/{unit.slug}/", {"opt_out": "1"}).status_code == 404
    assert not ReminderOptOut.objects.exists()
