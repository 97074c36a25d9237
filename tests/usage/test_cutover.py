"""The Cut-over panel through the real parts: a partner logs in to the built-in SFTP endpoint
with paramiko, an API client asks the real token endpoint; the credential's page moves from
"waiting" to "switched"."""

import re
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from credentials import material as m
from credentials.kinds import api_client_secret, sftp_password
from credentials.models import Kind, VersionUse
from credentials.rotation.requests import rotation_rotate_now
from tests.api.helpers import ApiClient, make_api_client, prepare_new_secret
from tests.factories import make_connection, make_credential
from tests.sftpd.helpers import can_log_in, password_of, username_of

TOKEN = "/authentication/token"


def _panel(client: Client, credential) -> str:
    html = client.get(reverse("credential_detail", args=["acme", credential.pk])).content.decode()
    match = re.search(r'<div [^>]*id="cutover-panel".*?</div>', html, re.S)
    return " ".join(match.group(0).split()) if match else ""


def test_a_partner_logging_in_with_the_old_then_the_new_password_moves_the_panel(
        sftp_server, unit, alice, time_machine):
    credential = make_credential(unit, Kind.SFTP_PASSWORD)
    make_connection(credential, alice)
    user, old_password = username_of(credential), password_of(credential)
    new_password = m.generate_password()
    rotation_rotate_now(
        credential=credential, actor=alice, overlap_ends_at=timezone.now() + timedelta(days=3),
        material=sftp_password.material(username=user, password=new_password),
    )
    browser = Client()
    browser.force_login(alice)
    assert "Waiting for the partner's first use of the new version." in _panel(browser,
                                                                               credential)
    assert can_log_in(sftp_server, user, password=old_password)
    panel = _panel(browser, credential)
    assert 'data-state="waiting"' in panel
    assert "The old version was still used 1 time in the last 24 hours, last from " \
           '<span class="mono">127.0.0.1</span>' in panel
    time_machine.move_to(timezone.now() + timedelta(minutes=2))
    assert can_log_in(sftp_server, user, password=new_password)
    panel = _panel(browser, credential)
    assert 'data-state="switched_old_in_use"' in panel
    assert "Partner switched at" in panel
    assert '(first use of the new version from <span class="mono">127.0.0.1</span>)' in panel
    time_machine.move_to(timezone.now() + timedelta(hours=25))
    assert can_log_in(sftp_server, user, password=new_password)
    browser.force_login(alice)  # a day later: a new session
    assert 'data-state="switched"' in _panel(browser, credential)


def test_an_api_client_asking_tokens_with_the_old_then_the_new_secret_moves_the_panel(
        client, unit, alice, time_machine):
    api = make_api_client(unit)
    material = api_client_secret.material(client_id=api.client_id)
    rotation_rotate_now(credential=api.credential, material=material, actor=alice,
                        overlap_ends_at=timezone.now() + timedelta(days=2))
    new = ApiClient(api.credential, api.client_id, material.secret)
    browser = Client()
    browser.force_login(alice)
    assert 'data-state="waiting"' in _panel(browser, api.credential)
    assert client.post(TOKEN, HTTP_AUTHORIZATION=api.basic,
                       REMOTE_ADDR="198.51.100.20").status_code == 200
    panel = _panel(browser, api.credential)
    assert 'data-state="waiting"' in panel
    assert "still used 1 time in the last 24 hours, last from " \
           '<span class="mono">198.51.100.20</span>' in panel
    time_machine.move_to(timezone.now() + timedelta(minutes=5))
    assert client.post(TOKEN, HTTP_AUTHORIZATION=new.basic,
                       REMOTE_ADDR="198.51.100.21").status_code == 200
    panel = _panel(browser, api.credential)
    assert 'data-state="switched_old_in_use"' in panel
    assert '(first use of the new version from <span class="mono">198.51.100.21</span>)' \
        in panel


def test_an_automatic_rotation_waits_for_the_new_secret_then_its_first_use_ends_the_overlap(
        client, unit, alice):
    now = timezone.now()
    api = make_api_client(unit, expires_in=timedelta(days=20), now=now)
    new = prepare_new_secret(api, now=now)
    browser = Client()
    browser.force_login(alice)
    assert client.post(TOKEN, HTTP_AUTHORIZATION=api.basic).status_code == 200
    assert 'data-state="waiting"' in _panel(browser, api.credential)
    assert client.post(TOKEN, HTTP_AUTHORIZATION=new.basic,
                       REMOTE_ADDR="198.51.100.21").status_code == 200
    # Its first use made the new secret the only one: no overlap, and its use is shown.
    html = browser.get(reverse("credential_detail", args=["acme", api.credential.pk])
                       ).content.decode()
    assert 'id="cutover-panel"' not in html
    usage = html.split('id="version-usage"')[1].split("</table>")[0]
    assert "198.51.100.21" in usage


def test_the_token_endpoint_costs_one_query_and_no_write_within_the_minute(
        client, unit, time_machine, django_assert_num_queries):
    api = make_api_client(unit)
    time_machine.move_to(timezone.now(), tick=False)
    assert client.post(TOKEN, HTTP_AUTHORIZATION=api.basic).status_code == 200
    time_machine.shift(timedelta(seconds=30))
    with django_assert_num_queries(1):
        assert client.post(TOKEN,
                           HTTP_AUTHORIZATION=api.basic).status_code == 200
    time_machine.shift(timedelta(seconds=31))
    assert client.post(TOKEN, HTTP_AUTHORIZATION=api.basic).status_code == 200
    assert VersionUse.objects.get().count == 3


def test_a_refused_login_with_the_old_user_name_counts_as_use_of_the_old_version(
        sftp_server, unit, alice):
    credential = make_credential(unit, Kind.SFTP_PASSWORD, username="partner-2025")
    make_connection(credential, alice)
    old_password = password_of(credential)
    rotation_rotate_now(
        credential=credential, actor=alice,
        material=sftp_password.material(username="partner-2026",
                                        password=m.generate_password()),
    )
    assert not can_log_in(sftp_server, "partner-2025", password=old_password)
    assert not can_log_in(sftp_server, "someone-else", password=old_password)
    use = VersionUse.objects.get()
    assert (use.version.number, use.version.state) == (1, "retired")
    assert (use.count, use.last_source) == (1, "127.0.0.1")
    assert use.channels == {"sftp_login_failed_old_username": 1}
    browser = Client()
    browser.force_login(alice)
    html = browser.get(reverse("credential_detail", args=["acme", credential.pk])
                       ).content.decode()
    assert "127.0.0.1" in html.split('id="version-usage"')[1].split("</table>")[0]
