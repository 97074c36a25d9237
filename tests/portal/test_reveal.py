"""Reveal: a POST, for users with "Reveal secrets" only, audited with who and where, and never
cacheable."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from audit.models import AuditEvent
from credentials.models import Kind
from credentials.services import version_secret
from tests.factories import make_credential


def _reveal_url(credential) -> str:
    return reverse("credential_reveal", args=["acme", credential.pk])


@pytest.mark.parametrize("kind", Kind.values)
def test_it_reveals_the_current_secret_with_a_copy_button_and_audits_it(
        client, bob, unit, kind):
    credential = make_credential(unit, kind, actor=bob)
    secret = version_secret(credential.versions.get())
    client.force_login(bob)
    response = client.post(_reveal_url(credential), REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<pre class="secret-value" id="secret-value">{escape(secret)}</pre>' in html
    assert 'data-copy-target="secret-value"' in html
    event = AuditEvent.objects.get(action="secret.reveal")
    assert (event.actor, event.source_ip, event.target_id) == (bob, "203.0.113.5",
                                                               str(credential.pk))
    assert secret not in str(event.details)


def test_it_makes_the_reveal_response_uncacheable(client, alice, unit):
    credential = make_credential(unit, actor=alice)
    client.force_login(alice)
    response = client.post(_reveal_url(credential))
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "no-cache", "private", "max-age=0"} <= cache_control
    assert "Expires" in response


@pytest.mark.parametrize("username", ["rita", "vic"])
def test_it_refuses_reveal_to_reviewers_and_viewers(client, unit, alice, rita, vic, username):
    credential = make_credential(unit, actor=alice)
    client.force_login({"rita": rita, "vic": vic}[username])
    response = client.post(_reveal_url(credential))
    assert response.status_code == 403
    assert version_secret(credential.versions.get()) not in response.content.decode()
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()


def test_it_answers_404_to_another_organization(client, unit, alice, charlie):
    credential = make_credential(unit, actor=alice)
    client.force_login(charlie)
    assert client.post(_reveal_url(credential)).status_code == 404
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()


def test_it_reveals_only_on_post(client, unit, alice):
    credential = make_credential(unit, actor=alice)
    client.force_login(alice)
    assert client.get(_reveal_url(credential)).status_code == 405
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()


def test_it_records_every_reveal(client, unit, alice, bob):
    credential = make_credential(unit, actor=alice)
    for user in (alice, bob, alice):
        client.force_login(user)
        client.post(_reveal_url(credential))
    assert list(AuditEvent.objects.filter(action="secret.reveal").order_by("at", "id")
                .values_list("actor_label", flat=True)) == ["alice", "bob", "alice"]
