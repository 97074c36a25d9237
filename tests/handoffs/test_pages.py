"""The hand-off pages through Django's test client: Send to partner and Revoke for members
(who may, 403, 404 for another organization), the credential page's list of hand-offs, and
the partner's link page: its headers, a prefetch that spends nothing, the nonce that stands in
for a CSRF token, the passphrase and its lock, closed links, and no secret in any page before
Show or in any email."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from audit.models import AuditEvent
from credentials.models import Credential, Kind
from credentials.rotation.requests import rotation_schedule
from credentials.services import version_secret
from handoffs.forms import show_nonce
from handoffs.models import Handoff
from handoffs.services import handoff_revoke
from tests.factories import make_credential, material_for
from tests.handoffs.helpers import PASSPHRASE, link_in, link_path, make_handoff
from tests.helpers import free_port


@pytest.fixture
def drop(unit, alice) -> Credential:
    return make_credential(unit, Kind.SFTP_PASSWORD, actor=alice, name="Acme drop",
                           expires_in=timedelta(days=90))


def _send_url(credential: Credential, org: str = "acme") -> str:
    return reverse("handoff_send", args=[org, credential.pk])


def _detail(client, credential: Credential) -> str:
    response = client.get(reverse("credential_detail", args=["acme", credential.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _send(client, credential: Credential, **fields: str):
    data = {"which": "current", "recipient_name": "Pat Partner",
            "recipient_email": "pat@partner.example", "lifetime": "72", "passphrase": "",
            "passphrase_again": "", **fields}
    return client.post(_send_url(credential), data)


def _nonce(html: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', html).group(1)


def _show(client, token: str, **fields: str):
    """Opens the link and presses Show, as the partner's browser does."""
    page = client.get(link_path(token))
    assert page.status_code == 200, page.status_code
    return client.post(link_path(token), {"nonce": _nonce(page.content.decode()), **fields},
                       REMOTE_ADDR="203.0.113.77")


# --- Send to partner ----------------------------------------------------------------------------


def test_it_sends_a_link_by_email_and_lists_it_on_the_credential_page(client, alice, drop):
    client.force_login(alice)
    html = _detail(client, drop)
    assert f'<a href="{_send_url(drop)}">Send to partner</a>' in html
    form = client.get(_send_url(drop)).content.decode()
    assert 'value="72" selected' in form  # 72 hours unless chosen otherwise
    response = _send(client, drop, lifetime="24", passphrase=PASSPHRASE,
                     passphrase_again=PASSPHRASE)
    assert response.status_code == 302
    assert response["Location"].endswith(f"/credentials/{drop.pk}/#handoffs")
    handoff = Handoff.objects.get()
    assert handoff.expires_at - handoff.created_at == timedelta(hours=24)
    [message] = mail.outbox
    assert message.to == ["pat@partner.example"]
    link = link_in(message.body)
    assert link.startswith("http://testserver/handoff/")
    page = client.get(response["Location"])
    text = " ".join(m.message for m in page.context["messages"])
    assert "Sent a one-time link to Pat Partner <pat@partner.example>" in text
    assert "Give them the passphrase another way" in text
    section = _detail(client, drop).split('id="handoffs"')[1].split("</section>")[0]
    assert "pat@partner.example" in section and "Open until" in section
    assert "asks for a passphrase" in section


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"recipient_email": "not-an-address"}, "recipient_email", "valid email address"),
    ({"recipient_name": ""}, "recipient_name", "required"),
    ({"passphrase": PASSPHRASE, "passphrase_again": "something-else"}, "passphrase_again",
     "differ"),
    ({"passphrase": "short", "passphrase_again": "short"}, "passphrase", "8 to 200"),
    ({"lifetime": "169"}, "lifetime", "Select a valid choice"),
    ({"which": "pending"}, "which", "Select a valid choice"),
])
def test_it_refuses_bad_input_on_its_field_and_sends_nothing(client, alice, drop, fields,
                                                             field, words):
    client.force_login(alice)
    response = _send(client, drop, **fields)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert words in " ".join(errors[field]), errors
    html = response.content.decode()
    row = html.split(f"field-{field}", 1)[1].split('<div class="form-row', 1)[0]
    assert escape(words) in row or words in row
    assert not Handoff.objects.exists() and not mail.outbox


def test_it_offers_the_new_version_of_a_scheduled_rotation_first(client, alice, drop):
    rotation_schedule(credential=drop, starts_at=timezone.now() + timedelta(days=2),
                      material=material_for(Kind.SFTP_PASSWORD), actor=alice)
    client.force_login(alice)
    form = client.get(_send_url(drop)).content.decode()
    assert re.search(r'value="pending"[^>]*checked', form)
    assert "The new password, which starts working" in form
    _send(client, drop, which="pending")
    assert Handoff.objects.get().version.state == "pending"


def test_it_tells_the_sender_when_the_email_could_not_be_sent(client, alice, drop, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    client.force_login(alice)
    page = client.get(_send(client, drop)["Location"])
    [message] = list(page.context["messages"])
    assert message.level_tag == "error"
    assert "could not be emailed: Sending failed (ConnectionRefusedError)." in message.message
    assert "Failed" in page.content.decode().split('id="handoffs"')[1]
    assert AuditEvent.objects.get(action="handoff.email").details["outcome"] == "failed"


@pytest.mark.parametrize(("username", "status"), [("rita", 403), ("vic", 403), ("charlie", 404)])
def test_it_lets_only_those_who_may_reveal_send_or_revoke(client, alice, rita, vic, charlie,
                                                           drop, username, status):
    handoff, _ = make_handoff(drop, alice)
    client.force_login({"rita": rita, "vic": vic, "charlie": charlie}[username])
    revoke = reverse("handoff_revoke", args=["acme", drop.pk, handoff.pk])
    assert client.get(_send_url(drop)).status_code == status
    assert _send(client, drop).status_code == status
    assert client.get(revoke).status_code == status
    assert client.post(revoke).status_code == status
    assert Handoff.objects.count() == 1 and not mail.outbox
    assert Handoff.objects.get().revoked_at is None


def test_it_shows_the_menu_entry_only_to_those_who_may_send_an_active_credential(
        client, alice, rita, drop):
    client.force_login(rita)
    assert "Send to partner" not in _detail(client, drop)
    client.force_login(alice)
    assert "Send to partner</a>" in _detail(client, drop)
    drop.is_active = False
    drop.save()
    assert "Send to partner" not in _detail(client, drop)
    assert "This credential is deactivated" in client.get(_send_url(drop)).content.decode()
    assert _send(client, drop).status_code == 200 and not Handoff.objects.exists()


def test_it_revokes_after_confirming_and_the_link_then_says_so(client, alice, bob, drop):
    handoff, token = make_handoff(drop, alice)
    client.force_login(bob)
    url = reverse("handoff_revoke", args=["acme", drop.pk, handoff.pk])
    assert "Revoke the link sent to Pat Partner?" in client.get(url).content.decode()
    assert url in _detail(client, drop)
    response = client.post(url, REMOTE_ADDR="192.0.2.44")
    assert response["Location"].endswith("#handoffs")
    section = _detail(client, drop).split('id="handoffs"')[1].split("</section>")[0]
    assert "Revoked" in section and "by bob" in section and url not in section
    assert AuditEvent.objects.get(action="handoff.revoke").source_ip == "192.0.2.44"
    partner = client.get(link_path(token))
    assert partner.status_code == 410
    assert "This link was revoked" in partner.content.decode()


def test_the_list_of_handoffs_costs_the_same_queries_for_one_or_thirty(client, alice, drop):
    make_handoff(drop, alice)
    client.force_login(alice)
    url = reverse("credential_detail", args=["acme", drop.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for n in range(29):
        handoff, _ = make_handoff(drop, alice, email=f"p{n}@partner.example")
        if n % 3 == 0:
            handoff_revoke(handoff=handoff, actor=alice)
    with CaptureQueriesContext(connection) as thirty:
        html = client.get(url).content.decode()
    assert len(thirty) == len(one)
    assert html.count('class="handoff-state"') == 25
    assert "Only the newest 25 are listed" in html
    assert not any("secret_ciphertext" in q["sql"] and "handoffs_handoff" in q["sql"]
                   for q in thirty.captured_queries)


# --- The partner's page -------------------------------------------------------------------------


PARTNER_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def _assert_partner_headers(response) -> None:
    for header, value in PARTNER_HEADERS.items():
        assert response[header] == value, header
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe" not in csp
    assert "Set-Cookie" not in response.headers and not response.cookies
    html = response.content.decode()
    assert not re.search(r"\sstyle=|\son[a-z]+=|<style", html)
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html)
    for address in re.findall(r'(?:src|href|action)="([^"]*)"', html):  # nothing third-party
        assert address.startswith(("/", "mailto:")), address


def test_every_partner_page_has_the_strictest_headers(client, alice, drop):
    open_handoff, token = make_handoff(drop, alice, passphrase=PASSPHRASE)
    _, spent = make_handoff(drop, alice)
    landing = client.get(link_path(token))
    shown = _show(client, spent)
    pages = [landing, client.head(link_path(token)), shown, client.get(link_path(spent)),
             client.get(link_path("A" * 43)),
             client.post(link_path(token), {"nonce": "forged", "passphrase": "x"})]
    assert [p.status_code for p in pages] == [200, 200, 200, 410, 404, 400]
    for response in pages:
        _assert_partner_headers(response)


def test_a_prefetch_spends_nothing_and_the_landing_page_holds_no_secret(client, alice, drop):
    handoff, token = make_handoff(drop, alice)
    secret = version_secret(drop.versions.get())
    for _ in range(3):  # a mail preview, a link scanner, the partner
        assert client.head(link_path(token)).status_code == 200
        page = client.get(link_path(token))
        html = page.content.decode()
        assert secret not in html and escape(secret) not in html
    assert "Acme sent you a password" in html
    assert "“Acme drop”" in html and "alice@example.com" in html
    handoff.refresh_from_db()
    assert handoff.shown_at is None and handoff.first_opened_at is not None
    assert AuditEvent.objects.filter(action="handoff.open").count() == 1  # once a minute
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()
    shown = client.post(link_path(token), {"nonce": _nonce(html)}, REMOTE_ADDR="203.0.113.77")
    assert f'<pre class="secret-value" id="secret-value">{escape(secret)}</pre>' in \
        shown.content.decode()


def test_a_second_visit_says_when_and_from_where_it_was_used_and_whom_to_tell(client, alice,
                                                                                drop):
    _, token = make_handoff(drop, alice)
    first = _show(client, token)
    assert first.status_code == 200
    handoff = Handoff.objects.get()
    for again in (client.get(link_path(token)),
                  client.post(link_path(token), {"nonce": show_nonce(handoff)})):
        assert again.status_code == 410
        html = again.content.decode()
        assert "This link was already used" in html
        assert "203.0.113.77" in html and " UTC" in html
        assert "alice@example.com" in html
        assert version_secret(drop.versions.get()) not in html
    assert AuditEvent.objects.filter(action="secret.reveal").count() == 1


def test_it_refuses_a_show_without_the_pages_nonce_and_spends_nothing(client, alice, drop,
                                                                     time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    handoff, token = make_handoff(drop, alice)
    other, other_token = make_handoff(drop, alice)
    other_nonce = _nonce(client.get(link_path(other_token)).content.decode())
    nonce = _nonce(client.get(link_path(token)).content.decode())
    for data in ({}, {"nonce": "forged"}, {"nonce": other_nonce}):
        response = client.post(link_path(token), data)
        assert response.status_code == 400
        assert "press Show again" in response.content.decode()
    time_machine.move_to(start + timedelta(hours=1, seconds=1), tick=False)
    stale = client.post(link_path(token), {"nonce": nonce})
    assert stale.status_code == 400
    assert _nonce(stale.content.decode()) != nonce  # a fresh page to press Show on
    handoff.refresh_from_db()
    assert handoff.shown_at is None
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()


def test_it_asks_for_the_passphrase_first_and_locks_after_five_wrong_ones(client, alice, drop):
    handoff, token = make_handoff(drop, alice, passphrase=PASSPHRASE)
    landing = client.get(link_path(token)).content.decode()
    assert 'type="password" name="passphrase"' in landing
    for left in (4, 3, 2, 1):
        response = _show(client, token, passphrase="a-wrong-guess")
        assert response.status_code == 400
        assert f"Wrong passphrase: {left} more tr" in response.content.decode()
    locked = _show(client, token, passphrase="a-wrong-guess")
    assert locked.status_code == 410
    assert "This link is locked" in locked.content.decode()
    assert client.get(link_path(token)).status_code == 410
    handoff.refresh_from_db()
    assert handoff.locked_at is not None and handoff.shown_at is None


def test_no_log_line_holds_a_links_token(client, alice, drop, captured_logs):
    _, token = make_handoff(drop, alice, passphrase=PASSPHRASE)
    _, spent = make_handoff(drop, alice)
    _show(client, spent)
    answers = [client.head(link_path(token)).status_code,
               _show(client, token, passphrase="a-wrong-guess").status_code,
               client.post(link_path(token), {"nonce": "stale"}).status_code,
               client.get(link_path(spent)).status_code]
    assert answers == [200, 400, 400, 410]
    assert "Bad Request: /handoff/<token>/" in captured_logs.text
    assert "Gone: /handoff/<token>/" in captured_logs.text
    assert token not in captured_logs.text and spent not in captured_logs.text


def test_the_right_passphrase_shows_the_secret(client, alice, drop):
    _, token = make_handoff(drop, alice, passphrase=PASSPHRASE)
    shown = _show(client, token, passphrase=PASSPHRASE)
    assert escape(version_secret(drop.versions.get())) in shown.content.decode()
    assert "User name" in shown.content.decode()


def test_expired_revoked_and_unknown_links_answer_with_a_clear_page(client, alice, drop):
    _, expired = make_handoff(drop, alice, lifetime=timedelta(hours=1),
                              now=timezone.now() - timedelta(hours=2))
    revoked, revoked_token = make_handoff(drop, alice)
    handoff_revoke(handoff=revoked, actor=alice)
    answers = {
        expired: (410, "This link has expired"),
        revoked_token: (410, "This link was revoked"),
        "B" * 43: (404, "This link is not valid"),
    }
    for token, (status, words) in answers.items():
        response = client.get(link_path(token))
        assert (response.status_code, words in response.content.decode()) == (status, True)
    assert client.get("/handoff/too-short/").status_code == 404
    assert not AuditEvent.objects.filter(action="secret.reveal").exists()


def test_a_key_is_shown_with_a_download_and_a_password_without(client, alice, unit):
    key = make_credential(unit, Kind.SFTP_KEY, actor=alice, name="Carrier key/ü 2")
    _, token = make_handoff(key, alice)
    html = _show(client, token).content.decode()
    assert 'data-download-target="secret-value"' in html
    assert 'data-download-name="Carrier-key---2.pem"' in html
    password = make_credential(unit, Kind.SFTP_PASSWORD, actor=alice)
    _, token = make_handoff(password, alice)
    assert "data-download-target" not in _show(client, token).content.decode()


@pytest.mark.parametrize("kind", Kind.values)
def test_no_secret_is_in_the_email_or_any_page_before_show(client, alice, unit, kind):
    credential = make_credential(unit, kind, actor=alice)
    rotation_schedule(credential=credential, starts_at=timezone.now() + timedelta(days=2),
                      material=material_for(kind), actor=alice)
    secrets_ = [version_secret(v) for v in credential.versions.all()]
    client.force_login(alice)
    for which in ("pending", "current"):
        _send(client, credential, which=which, passphrase=PASSPHRASE,
              passphrase_again=PASSPHRASE)
    pages = [client.get(_send_url(credential)),
             client.get(reverse("credential_detail", args=["acme", credential.pk]))]
    client.logout()
    texts = [p.content.decode() for p in pages]
    for message in mail.outbox:
        texts += [message.subject, message.body, message.alternatives[0][0]]
        token = link_in(message.body).rstrip("/").rsplit("/", 1)[1]
        texts.append(client.get(link_path(token)).content.decode())
        texts.append(client.post(link_path(token), {"passphrase": "wrong-wrong-wrong"})
                     .content.decode())
    assert len(mail.outbox) == 2
    for secret in secrets_:
        needles = {secret.strip(), escape(secret.strip())} | {
            line for line in secret.splitlines() if len(line) > 20 and "-----" not in line}
        for text in texts:
            for needle in needles:
                assert needle not in text
    for text in texts:
        assert PASSPHRASE not in text


# --- Another organization ---------------------------------------------------------------------


def test_a_handoff_of_one_organization_gives_nothing_about_another(client, alice, bob,
                                                                    charlie, drop, globex):
    theirs = make_credential(globex.business_units.get(), Kind.SFTP_PASSWORD, actor=charlie,
                             name="Globex drop")
    their_handoff, their_token = make_handoff(theirs, charlie, email="sam@carrier.example")
    our_handoff, our_token = make_handoff(drop, alice)
    for user in (alice, bob):
        client.force_login(user)
        urls = [
            _send_url(theirs, "globex"), _send_url(theirs),
            reverse("handoff_revoke", args=["globex", theirs.pk, their_handoff.pk]),
            reverse("handoff_revoke", args=["acme", theirs.pk, their_handoff.pk]),
            # Their hand-off under our own credential.
            reverse("handoff_revoke", args=["acme", drop.pk, their_handoff.pk]),
        ]
        for url in urls:
            assert client.get(url).status_code == 404, url
            assert client.post(url).status_code == 404, url
        assert "sam@carrier.example" not in _detail(client, drop)
    client.force_login(charlie)
    assert client.get(reverse("handoff_revoke", args=["globex", theirs.pk,
                                                      our_handoff.pk])).status_code == 404
    assert Handoff.objects.filter(revoked_at__isnull=False).count() == 0
    # Each link speaks of its own organization only, and a signed-in member changes nothing.
    client.force_login(alice)
    ours = client.get(link_path(our_token)).content.decode()
    theirs_page = client.get(link_path(their_token)).content.decode()
    assert "Acme" in ours and "Globex" not in ours
    assert "Globex drop" in theirs_page and "Acme" not in theirs_page
    assert "alice" not in theirs_page and "charlie@example.com" in theirs_page
    assert not Handoff.objects.filter(shown_at__isnull=False).exists()
