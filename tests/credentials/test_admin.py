"""The Django admin shows credentials but changes none of them: every change goes through the
services, which check it and write its audit event."""

from audit.models import AuditEvent
from credentials.models import Credential
from tests.factories import make_credential


def test_it_shows_a_credential_in_the_admin_without_a_way_to_change_it(client, root, unit):
    credential = make_credential(unit, name="Carrier drop")
    client.force_login(root)
    url = f"/admin/credentials/credential/{credential.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert "Carrier drop" in page.content.decode()
    assert not page.context["has_change_permission"]
    assert client.get("/admin/credentials/credential/add/").status_code == 403


def test_it_refuses_a_change_or_deletion_posted_to_the_admin(client, root, unit):
    credential = make_credential(unit, name="Carrier drop")
    events = AuditEvent.objects.count()
    client.force_login(root)
    url = f"/admin/credentials/credential/{credential.pk}/"
    changed = client.post(url + "change/", {
        "name": "Renamed unseen", "kind": credential.kind,
        "business_unit": credential.business_unit_id, "rotation_policy": "automatic",
        "lifetime_days": 1, "notes": "", "versions-TOTAL_FORMS": 0,
        "versions-INITIAL_FORMS": 0,
    })
    assert changed.status_code == 403
    assert client.post(url + "delete/", {"post": "yes"}).status_code == 403
    credential.refresh_from_db()
    assert (credential.name, credential.is_active) == ("Carrier drop", True)
    assert Credential.objects.filter(pk=credential.pk).exists()
    assert AuditEvent.objects.count() == events
