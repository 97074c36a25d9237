"""Memberships and an organization's second-factor rule in the Django admin: each membership
added, changed or removed there is in the organization's audit trail as on the members page,
and the rule is changed only by an owner on the members page (checked and audited)."""

import pytest

from audit.models import AuditEvent
from organizations.models import Membership
from organizations.roles import Role
from tests.factories import make_user


@pytest.fixture
def root(db):
    user = make_user("root")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


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
