"""Memberships and an organization's second-factor rule in the Django admin: each membership
added, changed or removed there is in the organization's audit trail as on the members page,
and the rule is changed only by an owner on the members page (checked and audited)."""

import pytest

from audit.models import AuditEvent
from members.services import business_unit_admin_save
from organizations.models import BusinessUnit, Membership, Organization
from organizations.roles import Role
from tests.factories import make_credential, make_user


def _posted(page) -> dict[str, object]:
    """What the admin change page posts back unchanged: its form and its inlines."""
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data.update({f"{management.prefix}-{key}": value
                     for key, value in management.initial.items()})
        for index, inline in enumerate(formset.formset.forms):
            data.update({f"{inline.prefix}-{key}": value
                         for key, value in inline.initial.items() if value is not None})
            data[f"{formset.formset.prefix}-{index}-id"] = inline.instance.pk
    return data


def test_it_audits_a_role_changed_in_the_admin(client, root, acme, alice, bob):
    membership = Membership.objects.get(organization=acme, user=bob)
    client.force_login(root)
    response = client.post(f"/admin/organizations/membership/{membership.pk}/change/", {
        "user": bob.pk, "organization": acme.pk, "role": Role.VIEWER,
    })
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="member.role", actor=root)
    assert (event.organization, event.target_id) == (acme, str(bob.pk))
    assert event.details == {"role": Role.VIEWER, "previous_role": Role.MANAGER, "via": "admin"}


def test_it_audits_a_membership_moved_to_another_user_as_a_removal_and_an_addition(
        client, root, acme, alice, bob):
    dana = make_user("dana")
    membership = Membership.objects.get(organization=acme, user=bob)
    client.force_login(root)
    response = client.post(f"/admin/organizations/membership/{membership.pk}/change/", {
        "user": dana.pk, "organization": acme.pk, "role": Role.MANAGER,
    })
    assert response.status_code == 302
    removed = AuditEvent.objects.get(action="member.remove", actor=root)
    added = AuditEvent.objects.get(action="member.add", actor=root)
    assert (removed.target_id, added.target_id) == (str(bob.pk), str(dana.pk))
    assert added.details["role"] == Role.MANAGER


def test_it_audits_a_member_added_and_removed_on_an_organizations_admin_page(
        client, root, acme, alice):
    newcomer = make_user("newcomer")
    client.force_login(root)
    url = f"/admin/organizations/organization/{acme.pk}/change/"
    data = _posted(client.get(url))
    data.update({"memberships-TOTAL_FORMS": 2, "memberships-1-user": newcomer.pk,
                 "memberships-1-role": Role.OWNER})
    assert client.post(url, data).status_code == 302
    added = AuditEvent.objects.get(action="member.add", actor=root)
    assert (added.organization, added.target_id) == (acme, str(newcomer.pk))
    assert added.details["role"] == Role.OWNER

    data = _posted(client.get(url))
    gone = next(key.removesuffix("-user") for key, value in data.items()
                if key.endswith("-user") and value == newcomer.pk)
    data[f"{gone}-DELETE"] = "on"
    assert client.post(url, data).status_code == 302
    assert not Membership.objects.filter(organization=acme, user=newcomer).exists()
    removed = AuditEvent.objects.get(action="member.remove", actor=root)
    assert removed.target_id == str(newcomer.pk)
    assert removed.details == {"role": Role.OWNER, "via": "admin"}


def test_it_audits_a_membership_deleted_in_the_admin(client, root, acme, alice, bob):
    membership = Membership.objects.get(organization=acme, user=bob)
    client.force_login(root)
    url = f"/admin/organizations/membership/{membership.pk}/delete/"
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    event = AuditEvent.objects.get(action="member.remove", actor=root)
    assert (event.organization, event.target_id) == (acme, str(bob.pk))


def test_it_leaves_the_second_factor_rule_to_the_members_page(client, root, acme, alice):
    client.force_login(root)
    url = f"/admin/organizations/organization/{acme.pk}/change/"
    data = _posted(client.get(url))
    data["require_second_factor"] = "on"
    assert client.post(url, data).status_code == 302
    acme.refresh_from_db()
    assert not acme.require_second_factor


# --- Business units: set up in the admin, each change in the organization's trail ----------


def test_it_audits_a_business_unit_added_in_the_admin(client, root, acme):
    client.force_login(root)
    response = client.post("/admin/organizations/businessunit/add/", {
        "organization": acme.pk, "name": "Logistics", "slug": "logistics",
        "contact_emails": "ops@acme.example\nlead@acme.example",
    })
    assert response.status_code == 302
    unit = BusinessUnit.objects.get(organization=acme, slug="logistics")
    event = AuditEvent.objects.get(action="unit.create", actor=root)
    assert (event.organization, event.target_id) == (acme, str(unit.pk))
    assert event.details == {"name": "Logistics", "slug": "logistics",
                             "contact_emails": "ops@acme.example\nlead@acme.example",
                             "via": "admin"}


def test_it_audits_a_business_unit_changed_in_the_admin_and_keeps_it_in_its_organization(
        client, root, acme, globex, unit):
    unit.contact_emails = "old@acme.example"
    unit.save()
    client.force_login(root)
    response = client.post(f"/admin/organizations/businessunit/{unit.pk}/change/", {
        "organization": globex.pk, "name": unit.name, "slug": unit.slug,
        "contact_emails": "new@acme.example",
    })
    assert response.status_code == 302
    unit.refresh_from_db()
    assert (unit.organization, unit.contact_emails) == (acme, "new@acme.example")
    event = AuditEvent.objects.get(action="unit.change", actor=root)
    assert (event.organization, event.target_id) == (acme, str(unit.pk))
    assert event.details == {"changed": {"contact_emails": ["old@acme.example",
                                                            "new@acme.example"]},
                             "via": "admin"}


def test_a_unit_saved_unchanged_in_the_admin_writes_no_event(client, root, unit):
    client.force_login(root)
    response = client.post(f"/admin/organizations/businessunit/{unit.pk}/change/", {
        "name": unit.name, "slug": unit.slug, "contact_emails": unit.contact_emails,
    })
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action__startswith="unit.").exists()


def test_it_audits_a_business_unit_deleted_in_the_admin_unless_credentials_protect_it(
        client, root, acme, alice, unit):
    finance = acme.business_units.get(slug="finance")
    make_credential(unit, actor=alice)
    client.force_login(root)
    client.post(f"/admin/organizations/businessunit/{unit.pk}/delete/", {"post": "yes"})
    assert BusinessUnit.objects.filter(pk=unit.pk).exists()  # its credential protects it
    response = client.post(f"/admin/organizations/businessunit/{finance.pk}/delete/",
                           {"post": "yes"})
    assert response.status_code == 302
    assert not BusinessUnit.objects.filter(pk=finance.pk).exists()
    event = AuditEvent.objects.get(action="unit.delete")
    assert (event.organization, event.actor, event.target_id) == (acme, root, str(finance.pk))
    assert event.details == {"name": finance.name, "slug": "finance", "via": "admin"}


def test_the_unit_service_refuses_to_move_a_unit_to_another_organization(
        root, acme, globex, unit):
    unit.organization = globex
    with pytest.raises(ValueError, match="stays in the organization"):
        business_unit_admin_save(unit=unit, actor=root)
    assert BusinessUnit.objects.get(pk=unit.pk).organization == acme
    assert not AuditEvent.objects.filter(action__startswith="unit.").exists()


def test_it_audits_an_organization_added_and_renamed_in_the_admin(client, root):
    client.force_login(root)
    response = client.post("/admin/organizations/organization/add/", {
        "name": "Initech", "slug": "initech",
        "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0,
    })
    assert response.status_code == 302
    initech = Organization.objects.get(slug="initech")
    created = AuditEvent.objects.get(action="organization.create", actor=root)
    assert (created.organization, created.target_id) == (initech, str(initech.pk))
    assert created.details == {"name": "Initech", "slug": "initech", "via": "admin"}
    page = client.get(f"/admin/organizations/organization/{initech.pk}/change/")
    response = client.post(f"/admin/organizations/organization/{initech.pk}/change/",
                           {**_posted(page), "name": "Initech Corp"})
    assert response.status_code == 302
    changed = AuditEvent.objects.get(action="organization.change", actor=root)
    assert changed.organization == initech
    assert changed.details == {"changed": {"name": ["Initech", "Initech Corp"]}, "via": "admin"}
