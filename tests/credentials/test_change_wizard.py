"""The Change Credential wizard through Django's test client, and once in a real browser
(Debian's chromium driven by Playwright)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import DatabaseError
from django.test import RequestFactory
from django.urls import reverse
from playwright.sync_api import expect

from audit.models import AuditEvent
from credentials import change_wizard, sealed_session
from credentials.models import (
    Credential,
    CredentialVersion,
    Kind,
    Rotation,
    VersionState,
)
from credentials.services import current_version, version_secret
from organizations.roles import Role
from tests.browser.helpers import sign_in
from tests.credentials.helpers import (
    allow_retirement,
    assert_failed_rotation_on_history,
    ec_pem,
    ed25519_pem,
    key_fingerprint,
    refuse_retirement,
    rsa_pem,
)
from tests.factories import make_credential, make_user


def _url(credential, step: str = "") -> str:
    org = credential.business_unit.organization.slug
    return f"/o/{org}/credentials/{credential.pk}/change/{step}"


def _details(private_key: str, **overrides: str) -> dict[str, str]:
    return {"name": "Carrier API 2027", "client_id": "carrier-client-2027",
            "key_id": "carrier-key-2027", "private_key": private_key, **overrides}


def _state(credential) -> tuple:
    return (Credential.objects.count(), CredentialVersion.objects.count(),
            Rotation.objects.count(), current_version(credential).pk,
            Credential.objects.get(pk=credential.pk).name)


def _live(credential) -> tuple:
    """What works and shows: a failed migration leaves it as it was (and only a record of
    the failed rotation behind)."""
    current = current_version(credential)
    return (Credential.objects.count(), current.pk, version_secret(current),
            Credential.objects.get(pk=credential.pk).name)


def test_it_prefills_the_public_fields_and_never_the_key(client, bob, carrier_api):
    client.force_login(bob)
    response = client.get(_url(carrier_api))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="Carrier API"' in page
    assert 'value="carrier-client"' in page and 'value="carrier-key-1"' in page
    secret = version_secret(current_version(carrier_api))
    assert secret.splitlines()[1] not in page
    assert "Change Credential" in page


def test_it_migrates_the_credential_to_the_new_key(client, bob, carrier_api, captured_logs):
    client.force_login(bob)
    key = ec_pem()
    old = current_version(carrier_api)
    connections = list(carrier_api.connections.values_list("pk", flat=True))

    response = client.post(_url(carrier_api), _details(key))
    assert response.status_code == 302
    assert response["Location"] == _url(carrier_api, "confirm/")
    # Between the steps the key is sealed in the session, never in plain text.
    assert not any("PRIVATE KEY" in str(value) for value in client.session.values())
    assert CredentialVersion.objects.count() == 1  # nothing changes before the confirmation

    preview = client.get(_url(carrier_api, "confirm/"))
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "carrier-key-2027" in page and "carrier-client-2027" in page
    assert "ECDSA 256-bit" in page
    assert "180 days after the migration" in page  # the rotation's expiry rule
    fingerprint = key_fingerprint(key)
    assert fingerprint in page
    assert key.splitlines()[1] not in page
    assert "Migrate Credential" in page

    done = client.post(_url(carrier_api, "confirm/"), follow=True)
    assert done.redirect_chain[-1][0] == _url(carrier_api)
    assert "migrated: version 2 is current" in done.content.decode()
    assert fingerprint in done.content.decode()

    carrier_api.refresh_from_db()
    assert carrier_api.name == "Carrier API 2027"
    new = current_version(carrier_api)
    assert (new.number, new.client_id, new.key_id) == (2, "carrier-client-2027",
                                                       "carrier-key-2027")
    assert version_secret(new) == key.strip() + "\n"
    old.refresh_from_db()
    assert old.state == VersionState.RETIRED  # kept, not deleted
    assert list(carrier_api.connections.values_list("pk", flat=True)) == connections
    actions = set(AuditEvent.objects.filter(target_id=str(carrier_api.pk))
                  .values_list("action", flat=True))
    assert {"credential.create", "credential.update"} <= actions
    assert any(action.startswith("rotation.") for action in actions)
    assert Rotation.objects.get().reason == "Change Credential"
    assert key.splitlines()[1] not in captured_logs.text
    # The sealed entry is gone: the confirmation cannot be replayed.
    again = client.post(_url(carrier_api, "confirm/"))
    assert again.status_code == 302 and again["Location"] == _url(carrier_api)
    assert current_version(carrier_api) == new


def test_it_migrates_by_rotate_credentials_immediate_rotation_and_renames_in_it(
        client, bob, unit, alice, carrier_api):
    """One rotation path: the migration is recorded as Rotate Credential records an
    immediate rotation of another API key (the same rotation row, the same events in the
    same order), with the rename inside it."""
    rotated = make_credential(unit, Kind.API_KEY, name="Tracking API", actor=alice,
                              client_id="tracking-client", key_id="tracking-key-1")
    first = AuditEvent.objects.latest("pk").pk  # what both did before
    client.force_login(bob)
    plan = {"method": "new", "timing": "immediate", "reason": "Change Credential"}
    rotate_url = reverse("credential_rotate", args=["acme", rotated.pk])
    client.post(rotate_url, {"step": "1", **plan})
    done = client.post(rotate_url, {"step": "2", **plan, "source": "enter",
                                    "client_id": "tracking-client",
                                    "key_id": "tracking-key-2", "private_key": ec_pem()})
    assert done.status_code == 302
    client.post(_url(carrier_api), _details(ec_pem()))
    assert client.post(_url(carrier_api, "confirm/")).status_code == 302

    def rotation(credential) -> tuple:
        return credential.rotations.values_list(
            "mode", "state", "reason", "requested_by", "from_version__number",
            "to_version__number").get()

    def events(credential) -> list[tuple[str, str]]:
        return list(AuditEvent.objects.filter(target_id=str(credential.pk), pk__gt=first)
                    .order_by("pk").values_list("action", "actor_label"))

    assert rotation(carrier_api) == rotation(rotated) == (
        "immediate", "completed", "Change Credential", bob.pk, 1, 2)
    rotate_events = events(rotated)
    assert rotate_events[0] == ("rotation.request", "bob")
    change_events = events(carrier_api)
    assert ("credential.update", "bob") in change_events
    assert [e for e in change_events if e[0] != "credential.update"] == rotate_events


def test_it_accepts_ed25519_and_rsa_keys(client, bob, carrier_api):
    client.force_login(bob)
    for number, key in ((2, ed25519_pem()), (3, rsa_pem(2048))):
        client.post(_url(carrier_api), _details(key, key_id=f"key-{number}"))
        client.post(_url(carrier_api, "confirm/"))
        assert current_version(carrier_api).number == number


@pytest.mark.parametrize(("field", "change", "words"), [
    ("private_key", {"private_key": "-----BEGIN PRIVATE KEY-----\nTm90IGEga2V5IGF0IGFsbA==\n"
                                    "-----END PRIVATE KEY-----\n"}, "could not be read"),
    ("private_key", {"private_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"}, "Paste a PEM"),
    ("private_key", {"private_key": rsa_pem(1024)}, "at least 2048 bits"),
    ("key_id", {"key_id": "key id with spaces"}, "Key IDs are"),
    ("client_id", {"client_id": "c!"}, "Client IDs are"),
    ("name", {"name": ""}, "This field is required"),
])
def test_it_refuses_bad_details_on_the_field_and_changes_nothing(
        client, bob, carrier_api, field, change, words):
    client.force_login(bob)
    before = _state(carrier_api)
    details = {**_details(ec_pem()), **change}
    response = client.post(_url(carrier_api), details)
    assert response.status_code == 200
    assert words in " ".join(response.context["form"].errors[field])
    page = response.content.decode()
    assert words.replace("'", "&#x27;") in page
    lines = details["private_key"].splitlines()
    assert lines[min(1, len(lines) - 1)][-20:] not in page  # the key is not echoed back
    assert _state(carrier_api) == before
    assert client.get(_url(carrier_api, "confirm/")).status_code == 302  # no step 2


@pytest.fixture(params=["the switch", "every retirement"])
def failing_retirement(request, db):
    """Makes the database refuse, in the middle of the switch and after the new version was
    written, to retire the current version; or to retire any version, so that even the
    rotation engine's record of the failure fails."""
    if request.param == "the switch":
        refuse_retirement("OLD.state = 'current' AND NEW.state = 'retired'")
    else:
        refuse_retirement("NEW.state IN ('retired', 'unused')")
    yield
    allow_retirement()


def test_it_keeps_the_old_version_when_the_rotation_fails(client, bob, carrier_api,
                                                          failing_retirement, captured_logs):
    client.force_login(bob)
    before = _live(carrier_api)
    key = ec_pem()
    client.post(_url(carrier_api), _details(key))
    response = client.post(_url(carrier_api, "confirm/"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "The credential was not changed" in page
    assert 'value="carrier-key-2027"' in page  # the details come back for a retry ...
    assert key.splitlines()[1] not in page  # ... except the key, pasted again
    assert _live(carrier_api) == before
    assert key.splitlines()[1] not in captured_logs.text


def test_it_rolls_the_rotation_back_when_the_rename_fails(client, bob, carrier_api,
                                                          monkeypatch):
    def refuse(**kwargs: object) -> None:
        raise DatabaseError("injected failure after the rotation")

    monkeypatch.setattr(change_wizard, "credential_update", refuse)
    client.force_login(bob)
    before = _live(carrier_api)
    client.post(_url(carrier_api), _details(ec_pem()))
    response = client.post(_url(carrier_api, "confirm/"))
    assert response.status_code == 400
    assert "nothing was changed" in response.content.decode()
    assert _live(carrier_api) == before  # neither the key nor the name changed
    assert_failed_rotation_on_history(client, carrier_api, "The database refused the switch")


def test_it_records_a_failed_migration_on_the_history_tab_for_a_retry(client, bob,
                                                                       carrier_api):
    refuse_retirement("OLD.state = 'current' AND NEW.state = 'retired'")
    client.force_login(bob)
    try:
        client.post(_url(carrier_api), _details(ec_pem()))
        assert client.post(_url(carrier_api, "confirm/")).status_code == 400
    finally:
        allow_retirement()
    rotation = assert_failed_rotation_on_history(client, carrier_api, "database refused")
    assert rotation.reason == "Change Credential"
    org = carrier_api.business_unit.organization.slug
    client.post(f"/o/{org}/credentials/{carrier_api.pk}/rotations/{rotation.pk}/retry/")
    assert current_version(carrier_api).key_id == "carrier-key-2027"


def test_it_lets_the_administrator_retry_after_a_failure(client, bob, carrier_api,
                                                         failing_retirement, request):
    from datetime import timedelta

    from django.utils import timezone

    from credentials.rotation.engine import RUNNING_DEADLINE
    from credentials.sweep import sweep_run

    client.force_login(bob)
    client.post(_url(carrier_api), _details(ec_pem()))
    assert client.post(_url(carrier_api, "confirm/")).status_code == 400
    allow_retirement()
    client.post(_url(carrier_api), _details(ec_pem()))
    again = client.post(_url(carrier_api, "confirm/"))
    if "every retirement" in request.node.name:
        # Not even the failure could be written: the rotation stays open (the page said so)
        # until the scheduled pass takes it up after its deadline and finishes it.
        assert again.status_code == 400 and "already scheduled" in again.content.decode()
        sweep_run(now=timezone.now() + RUNNING_DEADLINE + timedelta(seconds=1))
    else:
        assert again.status_code == 302
    assert current_version(carrier_api).key_id == "carrier-key-2027"


def test_it_asks_again_when_nothing_was_entered(client, bob, carrier_api):
    client.force_login(bob)
    response = client.post(_url(carrier_api, "confirm/"))
    assert response.status_code == 302 and response["Location"] == _url(carrier_api)
    assert current_version(carrier_api).number == 1


@pytest.mark.parametrize("user", ["vic", "rita"])
def test_it_forbids_members_who_may_not_manage_api_credentials(client, request, carrier_api,
                                                              user):
    client.force_login(request.getfixturevalue(user))
    assert client.get(_url(carrier_api)).status_code == 403
    assert client.post(_url(carrier_api), _details(ec_pem())).status_code == 403
    assert client.post(_url(carrier_api, "confirm/")).status_code == 403


def test_it_hides_credentials_of_other_organizations(client, charlie, carrier_api, globex):
    client.force_login(charlie)
    assert client.get(_url(carrier_api)).status_code == 404
    other_org_url = f"/o/globex/credentials/{carrier_api.pk}/change/"
    assert client.get(other_org_url).status_code == 404
    assert client.post(other_org_url + "confirm/").status_code == 404


def test_it_is_only_for_api_keys(client, bob, unit):
    client.force_login(bob)
    for kind in (Kind.API_CLIENT_SECRET, Kind.SFTP_PASSWORD, Kind.AS2_CERTIFICATE):
        credential = make_credential(unit, kind)
        assert client.get(_url(credential)).status_code == 404


def test_it_sends_anonymous_visitors_to_sign_in(client, carrier_api):
    response = client.get(_url(carrier_api))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_seals_values_to_one_session_and_user(bob, alice):
    factory = RequestFactory()
    from django.contrib.sessions.backends.db import SessionStore

    first = factory.get("/")
    first.session, first.user = SessionStore(), bob
    sealed_session.sealed_put(first, purpose="p", object_id="o", values={"secret": "s3cr3t"})
    token = first.session["keyturn.sealed.p.o"]
    assert "s3cr3t" not in token
    assert sealed_session.sealed_get(first, purpose="p", object_id="o") == {"secret": "s3cr3t"}

    second = factory.get("/")
    second.session, second.user = SessionStore(), alice
    second.session.save()
    second.session["keyturn.sealed.p.o"] = token  # copied into another user's session
    assert sealed_session.sealed_get(second, purpose="p", object_id="o") is None


def test_it_forgets_sealed_values_after_a_while(bob, time_machine):
    from django.contrib.sessions.backends.db import SessionStore

    request = RequestFactory().get("/")
    request.session, request.user = SessionStore(), bob
    time_machine.move_to("2026-11-23 10:00Z", tick=False)
    sealed_session.sealed_put(request, purpose="p", object_id="o", values={"k": "v"})
    time_machine.move_to("2026-11-23 10:16Z", tick=False)
    assert sealed_session.sealed_get(request, purpose="p", object_id="o") is None


def test_it_keeps_a_colon_client_id_from_before_the_rule_and_refuses_a_new_one(
        client, bob, carrier_api):
    carrier_api.versions.update(client_id="carrier:client")  # as ids could be made then
    client.force_login(bob)
    before = _state(carrier_api)
    refused = client.post(_url(carrier_api), _details(ec_pem(), client_id="carrier:other"))
    assert "Client IDs are" in " ".join(refused.context["form"].errors["client_id"])
    assert _state(carrier_api) == before
    kept = client.post(_url(carrier_api), _details(ec_pem(), client_id="carrier:client"))
    assert kept.status_code == 302
    assert client.post(_url(carrier_api, "confirm/")).status_code == 302
    assert current_version(carrier_api).client_id == "carrier:client"


def test_it_shows_expiry_in_the_viewers_zone_with_the_zone(client, acme, unit, alice):
    berlin = make_user("berta", acme, Role.MANAGER, time_zone="Europe/Berlin")
    winter = dt.datetime(2027, 1, 15, 22, 1, tzinfo=dt.UTC)
    credential = make_credential(unit, Kind.API_KEY, name="Carrier API", actor=alice,
                                 valid_until=winter)
    client.force_login(berlin)
    page = client.get(f"/o/acme/credentials/{credential.pk}/change/").content.decode()
    assert re.search(r"<dt>Valid until</dt><dd>15 Jan 2027 23:01 CET</dd>", page)


@pytest.mark.browser
def test_it_changes_an_api_key_through_the_wizard(page, bob, carrier_api):
    key = ec_pem()
    fingerprint = key_fingerprint(key)
    sign_in(page, "bob")
    page.goto(f"/o/acme/credentials/{carrier_api.pk}/change/")
    expect(page.get_by_label("Key ID")).to_have_value("carrier-key-1")
    page.get_by_label("Credential name").fill("Carrier API 2027")
    page.get_by_label("Key ID").fill("carrier-key-2027")
    page.get_by_label("PEM private key").fill(key)
    page.get_by_role("button", name="Review the change").click()

    preview = page.locator("table.preview")
    expect(preview).to_contain_text(fingerprint)
    expect(preview).to_contain_text("carrier-key-2027")
    assert key.splitlines()[1] not in page.content()
    page.get_by_role("button", name="Migrate Credential").click()

    message = page.locator(".messagelist li.success")
    expect(message).to_contain_text("migrated: version 2 is current")
    expect(message).to_contain_text(fingerprint)
    expect(page.locator("dl.current")).to_contain_text("carrier-key-2027")
    carrier_api.refresh_from_db()
    assert carrier_api.name == "Carrier API 2027"
    assert version_secret(current_version(carrier_api)) == key.strip() + "\n"
