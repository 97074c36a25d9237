import pytest

from credentials.models import Credential
from organizations.roles import Perm, Role
from tests.factories import make_credential


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.OWNER, set(Perm.values)),
        (Role.MANAGER, {Perm.MANAGE_SFTP, Perm.MANAGE_AS2, Perm.MANAGE_API, Perm.REVEAL,
                        Perm.VIEW_AUDIT}),
        (Role.REVIEWER, {Perm.VIEW_AUDIT}),
        (Role.VIEWER, set()),
    ],
)
def test_it_grants_each_role_exactly_its_permissions(acme, role, allowed):
    from tests.factories import make_user

    user = make_user(f"user-{role}", acme, role)
    granted = {perm for perm in Perm.values if user.has_org_perm(acme, perm)}
    assert granted == allowed


def test_it_names_permissions_as_users_read_them():
    assert Perm.MANAGE_SFTP.label == "Manage SFTP Credentials"
    assert Perm.MANAGE_AS2.label == "Manage AS2 Certificates"
    assert Perm.REVEAL.label == "Reveal secrets"


def test_it_grants_nothing_in_an_organization_the_user_is_not_in(alice, globex):
    assert not alice.has_org_perm(globex, Perm.REVEAL)
    assert alice.has_org_perm(alice.memberships.get().organization, Perm.REVEAL)


def test_it_grants_nothing_to_a_disabled_user(alice, acme):
    alice.is_active = False
    assert not alice.has_org_perm(acme, Perm.MANAGE_SFTP)


def test_it_shows_each_user_only_their_organizations_objects(alice, charlie, unit, globex):
    ours = make_credential(unit)
    theirs = make_credential(globex.business_units.get())
    assert list(Credential.objects.for_user(alice)) == [ours]
    assert list(Credential.objects.for_user(charlie)) == [theirs]


def test_it_answers_404_for_another_organizations_pages(client, alice, globex):
    client.force_login(alice)
    assert client.get("/o/acme/").status_code == 200
    assert client.get("/o/globex/").status_code == 404


def test_it_sends_anonymous_visitors_to_sign_in(client, acme):
    response = client.get("/o/acme/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/o/acme/")


def test_it_checks_permissions_in_the_services_too(unit, acme, alice, bob, rita, vic):
    from django.core.exceptions import PermissionDenied

    from credentials.models import Connection, ConnectionKind, Kind
    from credentials.services import connection_save
    from members.services import membership_set_role
    from tests.factories import make_credential

    with pytest.raises(PermissionDenied):
        make_credential(unit, Kind.SFTP_PASSWORD, actor=vic)
    with pytest.raises(PermissionDenied):
        connection_save(connection=Connection(business_unit=unit, name="x",
                                              kind=ConnectionKind.INBOUND_SFTP), actor=rita)
    with pytest.raises(PermissionDenied):
        membership_set_role(organization=acme, user=vic, role=Role.OWNER, actor=bob)
    assert not Credential.objects.exists() and not Connection.objects.exists()
    assert vic.memberships.get().role == Role.VIEWER
