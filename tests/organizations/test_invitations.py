"""The invitation services on their own: single use (also under concurrency, on PostgreSQL),
the open-invitation rule, refusals that change nothing, and the read-only admin that never
shows the token's hash."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection
from django.utils import timezone

from audit.models import AuditEvent
from members.models import Invitation, InvitationState
from members.services import (
    InvitationError,
    invitation_accept,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    invitation_token_hash,
)
from organizations.models import Membership
from organizations.roles import Role
from tests.factories import make_org, make_user
from tests.helpers import gunicorn_access_log

THREADS = 8


def test_it_accepts_a_link_once(acme, alice):
    now = timezone.now()
    invitation, token = invitation_create(organization=acme, email="dana@partner.example",
                                          role=Role.VIEWER, actor=alice, now=now)
    dana, eve = make_user("dana"), make_user("eve")
    invitation_accept(token_hash=invitation_token_hash(token), user=dana, now=now)
    with pytest.raises(InvitationError, match="no longer valid"):
        invitation_accept(token_hash=invitation_token_hash(token), user=eve, now=now)
    assert not Membership.objects.filter(user=eve).exists()
    invitation.refresh_from_db()
    assert invitation.state_at(now) == InvitationState.ACCEPTED
    with pytest.raises(InvitationError):
        invitation_revoke(invitation=invitation, actor=alice, now=now)
    with pytest.raises(InvitationError):
        invitation_resend(invitation=invitation, actor=alice, now=now)


def test_it_refuses_a_disabled_user_and_one_without_the_permission(acme, alice, bob):
    now = timezone.now()
    with pytest.raises(PermissionDenied):
        invitation_create(organization=acme, email="x@partner.example", role=Role.OWNER,
                          actor=bob, now=now)
    invitation, token = invitation_create(organization=acme, email="x@partner.example",
                                          role=Role.OWNER, actor=alice, now=now)
    with pytest.raises(PermissionDenied):
        invitation_revoke(invitation=invitation, actor=bob, now=now)
    disabled = make_user("dora")
    disabled.is_active = False
    disabled.save()
    with pytest.raises(InvitationError):
        invitation_accept(token_hash=invitation_token_hash(token), user=disabled, now=now)
    assert Invitation.objects.get().state_at(now) == InvitationState.PENDING


def test_it_keeps_one_open_invitation_per_address_in_the_database(acme, alice):
    now = timezone.now()
    invitation_create(organization=acme, email="dana@partner.example", role=Role.VIEWER,
                      actor=alice, now=now)
    with pytest.raises(IntegrityError):
        Invitation.objects.create(organization=acme, email="DANA@partner.example",
                                  role=Role.VIEWER, token_hash="0" * 64, created_at=now,
                                  sent_at=now, expires_at=now + timedelta(days=7))


def test_it_shows_invitations_read_only_in_the_admin_without_the_token_hash(client, acme,
                                                                          alice):
    invitation, _ = invitation_create(organization=acme, email="dana@partner.example",
                                      role=Role.VIEWER, actor=alice, now=timezone.now())
    root = make_user("root")
    root.is_staff = root.is_superuser = True
    root.save()
    client.force_login(root)
    listing = client.get("/admin/members/invitation/")
    assert listing.status_code == 200 and "dana@partner.example" in listing.content.decode()
    page = client.get(f"/admin/members/invitation/{invitation.pk}/change/")
    assert page.status_code == 200
    assert invitation.token_hash not in page.content.decode()
    assert client.get("/admin/members/invitation/add/").status_code == 403


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_lets_one_of_many_simultaneous_accepts_win_on_postgresql():
    acme = make_org("acme")
    alice = make_user("alice", acme, Role.OWNER)
    now = timezone.now()
    _, token = invitation_create(organization=acme, email="team@partner.example",
                                 role=Role.MANAGER, actor=alice, now=now)
    users = [make_user(f"claimant{n}") for n in range(THREADS)]
    outcomes: list[str] = []
    claims: list[int] = []  # the rows each claim of the invitation took: 1 won, 0 lost
    start = threading.Barrier(THREADS)

    claim = f'UPDATE "{Invitation._meta.db_table}"'

    def record_claim(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith(claim):
            claims.append(context["cursor"].rowcount)
        return result

    def accept(user) -> None:
        try:
            start.wait(timeout=60)
            with connection.execute_wrapper(record_claim):
                invitation_accept(token_hash=invitation_token_hash(token), user=user, now=now)
            outcomes.append("joined")
        except InvitationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["joined"] + ["refused"] * (THREADS - 1)
    assert Membership.objects.filter(organization=acme, role=Role.MANAGER).count() == 1
    assert AuditEvent.objects.filter(action="invitation.accept").count() == 1
    # The race happened: more than one found the link open and went to claim it at once.
    assert claims.count(1) == 1 and claims.count(0) >= 1, claims


def test_no_log_line_holds_an_invitation_links_token(client, acme, alice, captured_logs):
    _, token = invitation_create(organization=acme, email="dana@partner.example",
                                 role=Role.OWNER, actor=alice, now=timezone.now())
    path = f"/invitations/{token}/"
    opened = client.get(path)  # a person, or a mail scanner ahead of them
    assert opened["Location"] == "/invitations/accept/"
    gunicorn_access_log(path)
    assert '"GET /invitations/<token>/ HTTP/1.1" 302' in captured_logs.text
    assert token not in captured_logs.text
