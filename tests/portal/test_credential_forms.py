"""Creating and editing credentials of every kind, deactivating and reactivating them: good
input saves and is audited, bad input gets an error on the field at fault and changes
nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials import crypto
from credentials.models import Credential, Kind
from credentials.services import version_secret
from tests.factories import make_connection, make_credential, make_user, partner_certificate
from tests.portal.helpers import CREDENTIAL_FORM, assert_refused, form_errors


def _create(client, kind: str, **data: object):
    return client.post(reverse("credential_create", args=["acme", kind]),
                       {**CREDENTIAL_FORM, **data})


@pytest.fixture
def signed_in(client, bob):
    client.force_login(bob)
    return client


def test_it_creates_an_sftp_password_with_a_generated_strong_password(signed_in, bob):
    response = _create(signed_in, "sftp_password", name="Partner drop", username="partner-1",
                       source="generate", password="")
    credential = Credential.objects.get(name="Partner drop")
    assert response.status_code == 302
    assert response["Location"] == reverse("credential_detail", args=["acme", credential.pk])
    secret = version_secret(credential.versions.get())
    assert len(secret) >= 24 and secret not in response["Location"]
    assert (credential.kind, credential.business_unit.slug, credential.created_by) == (
        "sftp_password", "warehouse", bob)
    page = signed_in.get(response["Location"]).content.decode()
    assert "use Reveal to copy it" in page and secret not in page
    assert AuditEvent.objects.filter(action="credential.create", actor=bob).exists()


def test_it_creates_an_sftp_password_that_was_entered(signed_in):
    _create(signed_in, "sftp_password", name="Entered", username="partner-2", source="enter",
            password="a-long-enough-passphrase")
    credential = Credential.objects.get(name="Entered")
    assert version_secret(credential.versions.get()) == "a-long-enough-passphrase"


@pytest.mark.parametrize(("data", "field", "words"), [
    ({"source": "enter", "password": "short"}, "password", "at least 12"),
    ({"source": "enter", "password": ""}, "password", "Enter the password"),
    ({"source": "enter", "password": "x" * 13, "username": "bad user!"}, "username",
     "user name"),
    ({"source": "generate", "name": ""}, "name", "required"),
    ({"source": "generate", "business_unit": "operations"}, "business_unit", "valid choice"),
    ({"source": "generate", "lifetime_days": "0"}, "lifetime_days", "greater than"),
    ({"source": "generate", "valid_until": "2001-01-01T10:00"}, "valid_until", "future"),
    ({"source": "generate", "valid_until": "not a date"}, "valid_until", "valid date"),
])
def test_it_refuses_bad_sftp_password_input_on_the_field_and_creates_nothing(
        signed_in, globex, data, field, words):
    response = _create(signed_in, "sftp_password", **{"name": "Refused", "username": "ok-user",
                                                      **data})
    assert_refused(response, field, words)
    assert not Credential.objects.exists()
    assert not AuditEvent.objects.filter(action="credential.create").exists()


def test_it_interprets_the_expiry_in_the_viewers_time_zone(client, acme, time_machine):
    time_machine.move_to(datetime(2030, 6, 1, tzinfo=UTC), tick=False)
    client.force_login(make_user("tokyo", acme, "manager", time_zone="Asia/Tokyo"))
    _create(client, "sftp_password", name="Tokyo", username="t-user", source="generate",
            valid_until="2030-07-01T09:00")
    version = Credential.objects.get(name="Tokyo").versions.get()
    assert version.valid_until == datetime(2030, 7, 1, 0, 0, tzinfo=UTC)


def test_it_creates_an_sftp_key_generated_or_pasted_and_shows_its_fingerprint(signed_in):
    response = _create(signed_in, "sftp_key", name="Generated key", username="k1",
                       source="generate")
    version = Credential.objects.get(name="Generated key").versions.get()
    assert version.fingerprint.startswith("SHA256:")
    assert version.fingerprint in signed_in.get(response["Location"]).content.decode()
    private_key, info = crypto.generate_ssh_key()
    _create(signed_in, "sftp_key", name="Pasted key", username="k2", source="enter",
            private_key=private_key)
    version = Credential.objects.get(name="Pasted key").versions.get()
    assert version.fingerprint == info.fingerprint
    assert version_secret(version).strip() == private_key.strip()


def test_it_refuses_a_key_that_is_not_a_key(signed_in):
    response = _create(signed_in, "sftp_key", name="Broken", username="k3", source="enter",
                       private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n")
    assert_refused(response, "private_key", "could not be read")
    assert not Credential.objects.exists()


def _pem_files(days: int = 30, now: datetime | None = None) -> tuple[str, str]:
    return crypto.generate_self_signed_certificate("as2.partner.example", days=days,
                                                   now=now or timezone.now())


def test_it_creates_an_as2_certificate_from_uploaded_files_or_generated(signed_in):
    cert_pem, key_pem = _pem_files()
    _create(signed_in, "as2_certificate", name="Uploaded", source="enter",
            certificate=SimpleUploadedFile("cert.pem", cert_pem.encode()),
            private_key=SimpleUploadedFile("key.pem", key_pem.encode()))
    version = Credential.objects.get(name="Uploaded").versions.get()
    assert version.cert_subject == "CN=as2.partner.example"
    assert version.valid_until == crypto.parse_certificate(cert_pem).not_after
    _create(signed_in, "as2_certificate", name="Generated", source="generate",
            common_name="edi.acme.example", days="400")
    version = Credential.objects.get(name="Generated").versions.get()
    assert version.cert_subject == "CN=edi.acme.example"


@pytest.mark.parametrize(("files", "field", "words"), [
    ("mismatched", "private_key", "does not belong"),
    ("expired", "certificate", "already expired"),
    ("garbage", "certificate", "could not be read"),
    ("missing", "certificate", "Choose the certificate"),
])
def test_it_refuses_bad_certificate_uploads(signed_in, files, field, words):
    cert_pem, key_pem = _pem_files()
    if files == "mismatched":
        key_pem = _pem_files()[1]
    if files == "expired":
        cert_pem, key_pem = _pem_files(days=1, now=timezone.now() - timedelta(days=30))
    if files == "garbage":
        cert_pem = "not a certificate"
    data = {"name": "Refused", "source": "enter",
            "private_key": SimpleUploadedFile("key.pem", key_pem.encode())}
    if files != "missing":
        data["certificate"] = SimpleUploadedFile("cert.pem", cert_pem.encode())
    assert_refused(_create(signed_in, "as2_certificate", **data), field, words)
    assert not Credential.objects.exists()


# id-ecPublicKey (1.2.840.10045.2.1) as DER writes it, and an arc beside it no library knows.
EC_PUBLIC_KEY_OID = bytes.fromhex("06072a8648ce3d0201")
UNKNOWN_KEY_OID = bytes.fromhex("06072a8648ce3d0209")


@pytest.mark.parametrize(("change", "words"), [
    # A subject whose UTF8String is not UTF-8: read only when the name is first asked for.
    (lambda der: der.replace(b"as2.forever.example", b"\xff" * 19), "could not be read"),
    # A public key of an algorithm cryptography does not know (as GOST's or SM2's read).
    (lambda der: der.replace(EC_PUBLIC_KEY_OID, UNKNOWN_KEY_OID),
     "public key could not be read"),
])
def test_it_refuses_a_certificate_that_loads_but_cannot_be_read_on_its_field(signed_in,
                                                                             change, words):
    cert_pem, key_pem = partner_certificate(timezone.now() + timedelta(days=90))
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    tampered = change(der)
    assert tampered != der
    response = _create(signed_in, "as2_certificate", name="Odd certificate", source="enter",
                       certificate=SimpleUploadedFile("cert.der", tampered),
                       private_key=SimpleUploadedFile("key.pem", key_pem))
    assert_refused(response, "certificate", words)
    assert not Credential.objects.exists()


def test_it_keeps_a_certificate_whose_subject_and_issuer_are_long(signed_in):
    # RFC 5280 bounds each attribute, not how many a name holds: nine units of 60 letters.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "as2.partner.example"),
                      *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"{n}" * 60)
                        for n in range(1, 10))])
    now = timezone.now()
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    response = _create(signed_in, "as2_certificate", name="Long names", source="enter",
                       certificate=SimpleUploadedFile(
                           "cert.pem", certificate.public_bytes(serialization.Encoding.PEM)),
                       private_key=SimpleUploadedFile("key.pem", key_pem))
    assert response.status_code == 302
    version = Credential.objects.get(name="Long names").versions.get()
    subject = name.rfc4514_string()
    assert len(subject) > 500
    assert (version.cert_subject, version.cert_issuer) == (subject, subject)
    version.full_clean()  # the columns' own rules hold what they keep


def test_it_refuses_a_generated_certificate_without_a_common_name(signed_in):
    response = _create(signed_in, "as2_certificate", name="No CN", source="generate",
                       common_name="")
    assert_refused(response, "common_name", "common name")


def test_it_creates_an_api_client_secret_with_a_generated_secret(signed_in):
    _create(signed_in, "api_client_secret", name="Billing", client_id="", source="generate")
    credential = Credential.objects.get(name="Billing")
    version = credential.versions.get()
    assert len(version.client_id) == 32 and len(version_secret(version)) >= 48
    assert version.secret_digest  # verified by keyed hash, not by decrypting
    assert version.valid_until is not None  # API credentials rotate automatically


def test_it_refuses_a_bad_client_id(signed_in):
    response = _create(signed_in, "api_client_secret", name="Bad", client_id="a b",
                       source="generate")
    assert_refused(response, "client_id", "Client IDs")


def test_it_creates_an_api_key_from_client_id_key_id_and_pem(signed_in):
    pem = crypto.generate_pem_private_key()
    _create(signed_in, "api_key", name="Warranty", client_id="warranty-client",
            key_id="key-2026-01", source="enter", private_key=pem)
    version = Credential.objects.get(name="Warranty").versions.get()
    assert (version.client_id, version.key_id) == ("warranty-client", "key-2026-01")
    assert version_secret(version).strip() == pem.strip()


def test_it_refuses_an_api_key_with_a_bad_pem(signed_in):
    response = _create(signed_in, "api_key", name="Bad PEM", client_id="c-1", key_id="k-1",
                       source="enter", private_key="-----BEGIN PRIVATE KEY-----\nxx\n")
    assert_refused(response, "private_key", "could not be read")
    assert not Credential.objects.exists()


def test_it_offers_only_the_kinds_the_user_may_manage(client, rita, signed_in):
    page = signed_in.get(reverse("credential_new", args=["acme"])).content.decode()
    assert all(reverse("credential_create", args=["acme", kind]) in page for kind in Kind)
    client.force_login(rita)
    assert client.get(reverse("credential_new", args=["acme"])).status_code == 403
    assert client.get(reverse("credential_create", args=["acme", "nonsense"])).status_code == 404


def test_it_edits_name_notes_and_policy(signed_in, unit, bob):
    credential = make_credential(unit, actor=bob, name="Old name")
    response = signed_in.post(reverse("credential_edit", args=["acme", credential.pk]), {
        "name": "New name", "notes": "Rotated by the partner team", "rotation_policy":
        "automatic", "lifetime_days": "90"})
    assert response.status_code == 302
    credential.refresh_from_db()
    assert (credential.name, credential.rotation_policy, credential.lifetime_days) == (
        "New name", "automatic", 90)
    event = AuditEvent.objects.get(action="credential.update")
    assert event.details["name"] == "New name" and event.details["notes"] == "(changed)"


def test_it_refuses_an_edit_without_a_name_and_keeps_the_old_one(signed_in, unit, bob):
    credential = make_credential(unit, actor=bob, name="Kept")
    response = signed_in.post(reverse("credential_edit", args=["acme", credential.pk]), {
        "name": "  ", "rotation_policy": "reminders", "lifetime_days": "90"})
    assert_refused(response, "name", "required")
    credential.refresh_from_db()
    assert credential.name == "Kept"


def test_it_deactivates_only_after_confirmation_and_names_what_breaks(signed_in, unit, bob):
    credential = make_credential(unit, actor=bob)
    connection = make_connection(credential, bob)
    url = reverse("credential_deactivate", args=["acme", credential.pk])
    page = signed_in.get(url).content.decode()
    assert "stops working immediately" in page and connection.name in page
    credential.refresh_from_db()
    assert credential.is_active  # the GET asked, it did not act
    assert signed_in.post(url).status_code == 302
    credential.refresh_from_db()
    assert not credential.is_active
    signed_in.post(reverse("credential_reactivate", args=["acme", credential.pk]))
    credential.refresh_from_db()
    assert credential.is_active
    assert [e.action for e in AuditEvent.objects.filter(
        action__startswith="credential.").order_by("at", "id")][-2:] == [
        "credential.deactivate", "credential.reactivate"]


def test_it_never_sends_a_pasted_key_back_when_the_form_is_refused(signed_in):
    private_key, _info = crypto.generate_ssh_key()
    key_line = private_key.splitlines()[1]
    response = _create(signed_in, "sftp_key", name="Refused", username="bad user!",
                       source="enter", private_key=private_key)
    assert_refused(response, "username", "user name")
    assert key_line not in response.content.decode()
    pem = crypto.generate_pem_private_key()
    response = _create(signed_in, "api_key", name="Refused too", client_id="x",
                       key_id="k-1", source="enter", private_key=pem)
    assert "client_id" in form_errors(response)
    assert pem.splitlines()[1] not in response.content.decode()


SECRET_FIELDS = [
    ("sftp_password", "password", {"username": "partner-9"}),
    ("sftp_key", "private_key", {"username": "partner-9"}),
    ("api_client_secret", "client_secret", {"client_id": "erp-9"}),
    ("api_key", "private_key", {"client_id": "erp-9", "key_id": "k-9"}),
]


@pytest.mark.parametrize(("kind", "field", "data"), SECRET_FIELDS)
def test_it_refuses_a_nul_in_a_secret_field_on_the_field_and_creates_nothing(
        signed_in, kind, field, data):
    response = _create(signed_in, kind, name="With NUL", source="enter",
                       **{**data, field: "a-long-enough-secret-\x00-with-more-characters"})
    assert_refused(response, field, "Null characters are not allowed")
    assert not Credential.objects.exists()


@pytest.mark.parametrize(("kind", "field", "data", "refusal"), [
    (*SECRET_FIELDS[0], None),
    (*SECRET_FIELDS[1], "Paste the whole private key"),
    (*SECRET_FIELDS[2], None),
    (*SECRET_FIELDS[3], "Paste a PEM private key"),
])
def test_it_never_fails_on_bytes_that_are_not_utf8_in_a_secret_field(signed_in, kind, field,
                                                                     data, refusal):
    # The UTF-8 form of a lone surrogate (a browser never sends it; a script may). Django
    # decodes form bodies with replacement characters, so no lone surrogate reaches the
    # encryption: a password or client secret is kept with the replacement character and
    # reads back; a key that is no longer a key is refused on its field.
    body = "&".join(f"{name}={quote(value)}" for name, value in {
        **CREDENTIAL_FORM, **data, "name": "Odd bytes", "source": "enter"}.items())
    body += f"&{field}=a-long-enough-secret-%ED%A0%80-with-more-characters"
    response = signed_in.post(reverse("credential_create", args=["acme", kind]), body,
                              content_type="application/x-www-form-urlencoded")
    if refusal:
        assert_refused(response, field, refusal)
        assert not Credential.objects.exists()
    else:
        assert response.status_code == 302
        secret = version_secret(Credential.objects.get().versions.get())
        assert re.fullmatch("a-long-enough-secret-\ufffd+-with-more-characters", secret)


@pytest.mark.parametrize(("kind", "data"), [
    ("api_client_secret", {"source": "generate"}),
    ("api_key", {"key_id": "k-1", "source": "generate"}),
])
def test_it_refuses_a_colon_in_a_new_client_id(signed_in, kind, data):
    # HTTP Basic splits at the first colon: such an id could not authenticate unencoded.
    response = _create(signed_in, kind, name="Colon", client_id="partner:prod", **data)
    assert_refused(response, "client_id", "Client IDs are 3 to 200 letters, digits, . _ or -.")
    assert not Credential.objects.exists()


def _help(response, field: str) -> str:
    return str(response.context["details"].fields[field].help_text)


@pytest.mark.parametrize(("kind", "material", "says", "expires_after"), [
    ("sftp_password", {"username": "p1", "source": "generate"}, "no expiry", None),
    ("sftp_key", {"username": "p2", "source": "generate"}, "no expiry", None),
    ("api_client_secret", {"client_id": "", "source": "generate"},
     "expire after the lifetime below", timedelta(days=90)),
    ("api_key", {"client_id": "carrier", "key_id": "k-1", "source": "generate"},
     "expire after the lifetime below", timedelta(days=90)),
])
def test_it_says_what_an_empty_expiry_does_and_does_it(client, bob, time_machine, kind, material,
                                                       says, expires_after):
    now = datetime(2030, 6, 1, tzinfo=UTC)
    time_machine.move_to(now, tick=False)
    client.force_login(bob)
    signed_in = client
    form = signed_in.get(reverse("credential_create", args=["acme", kind]))
    assert says in _help(form, "valid_until")
    assert ("no expiry" in _help(form, "valid_until")) == (expires_after is None)
    _create(signed_in, kind, name="Empty expiry", valid_until="", **{**material,
                                                                     "lifetime_days": "90"})
    version = Credential.objects.get(name="Empty expiry").versions.get()
    assert version.valid_until == (now + expires_after if expires_after else None)


def test_it_says_a_certificate_brings_its_own_expiry(signed_in):
    form = signed_in.get(reverse("credential_create", args=["acme", "as2_certificate"]))
    assert "valid_until" not in form.context["details"].fields
    assert "end date is the credential's expiry" in str(
        form.context["material_form"].fields["certificate"].help_text)


def test_it_gives_a_rotated_in_version_the_lifetime_its_help_text_promises(
        client, unit, bob, time_machine):
    time_machine.move_to(datetime(2030, 6, 1, tzinfo=UTC), tick=False)
    client.force_login(bob)
    signed_in = client
    edit = signed_in.get(reverse("credential_edit", args=["acme", make_credential(
        unit, actor=bob, name="Expiring", expires_in=timedelta(days=20)).pk]))
    assert "stays valid, from its start" in str(edit.context["form"].fields[
        "lifetime_days"].help_text)
    credential = Credential.objects.get(name="Expiring")
    credential.lifetime_days = 45
    credential.save()
    signed_in.post(reverse("credential_rotate", args=["acme", credential.pk]), {
        "step": "2", "method": "new", "timing": "scheduled", "starts_at": "2030-06-03T00:00",
        "username": "partner", "source": "generate"})
    pending = credential.versions.get(state="pending")
    assert pending.valid_until == datetime(2030, 6, 3, tzinfo=UTC) + timedelta(days=45)


def test_it_refuses_two_pasted_private_keys_on_the_field_and_stores_neither(signed_in):
    first, second = crypto.generate_ssh_key()[0], crypto.generate_ssh_key()[0]
    response = _create(signed_in, "sftp_key", name="Two keys", username="k4", source="enter",
                       private_key=first + "\n" + second)
    assert_refused(response, "private_key", "holds 2 PEM blocks")
    assert not Credential.objects.exists()
    html = response.content.decode()
    assert first.splitlines()[1] not in html and second.splitlines()[1] not in html
