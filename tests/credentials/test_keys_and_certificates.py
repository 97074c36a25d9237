"""Fingerprints checked against ssh-keygen and openssl; bad material refused clearly."""

import datetime as dt
import shutil
import subprocess

import pytest

from credentials import crypto
from credentials.crypto import MaterialError
from credentials.kinds import api_client_secret, api_key, as2_certificate, sftp_password
from credentials.models import CredentialVersion, Kind
from tests.factories import make_credential

pytestmark = pytest.mark.skipif(
    not shutil.which("ssh-keygen") or not shutil.which("openssl"),
    reason="needs ssh-keygen and openssl (Debian: openssh-client, openssl)",
)

KEY_TYPES = [("ed25519", []), ("ecdsa", ["-b", "256"]), ("ecdsa", ["-b", "384"]),
             ("rsa", ["-b", "2048"]), ("rsa", ["-b", "3072"])]


def _keygen(tmp_path, key_type, args, fmt):
    path = tmp_path / f"id_{key_type}_{fmt}"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, *args, "-N", "", "-m", fmt, "-f", str(path)],
        check=True,
    )
    printed = subprocess.run(["ssh-keygen", "-lf", str(path)], check=True, capture_output=True,
                             text=True).stdout.split()
    return path.read_text(), (tmp_path / f"id_{key_type}_{fmt}.pub").read_text(), printed


@pytest.mark.parametrize(("key_type", "args"), KEY_TYPES)
@pytest.mark.parametrize("fmt", ["RFC4716", "PEM"])  # OpenSSH's own format, and PEM
def test_it_fingerprints_keys_exactly_as_ssh_keygen(tmp_path, key_type, args, fmt):
    private, public, (bits, fingerprint, *_rest) = _keygen(tmp_path, key_type, args, fmt)
    if fmt == "PEM" and key_type == "ed25519":
        assert "BEGIN OPENSSH PRIVATE KEY" in private  # ssh-keygen has no PEM for ed25519
    info = crypto.parse_ssh_private_key(private)
    assert info.fingerprint == fingerprint
    assert info.bits == int(bits)
    assert info.public_key.split()[:2] == public.split()[:2]
    assert crypto.parse_ssh_public_key(public).fingerprint == fingerprint


def test_it_fingerprints_generated_keys_as_ssh_keygen_does(tmp_path):
    private, info = crypto.generate_ssh_key()
    path = tmp_path / "generated"
    path.write_text(private)
    path.chmod(0o600)
    printed = subprocess.run(["ssh-keygen", "-lf", str(path)], check=True, capture_output=True,
                             text=True).stdout.split()
    assert printed[1] == info.fingerprint
    assert printed[-1] == "(ED25519)"


def _openssl_cert(tmp_path, days=30, serial=None):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", str(days), "-subj", "/CN=edi.partner.example/O=Partner",
         *(["-set_serial", f"0x{serial}"] if serial else [])],
        check=True, capture_output=True,
    )
    return cert, key


def _openssl(cert, *args):
    return subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_it_reads_a_certificate_as_openssl_does(tmp_path):
    cert, key = _openssl_cert(tmp_path)
    info = crypto.parse_certificate(cert.read_text())
    assert info.fingerprint == _openssl(cert, "-fingerprint", "-sha256").split("=", 1)[1]
    assert info.serial == _openssl(cert, "-serial").split("=", 1)[1].lstrip("0")
    assert "CN=edi.partner.example" in info.subject and "O=Partner" in info.subject
    assert info.issuer == info.subject
    end = dt.datetime.strptime(_openssl(cert, "-enddate").split("=", 1)[1],
                               "%b %d %H:%M:%S %Y %Z").replace(tzinfo=dt.UTC)
    assert info.not_after == end


def test_it_takes_the_expiry_from_the_certificate(tmp_path):
    cert, key = _openssl_cert(tmp_path, days=45)
    made = as2_certificate.material(certificate=cert.read_text(), private_key=key.read_text())
    assert made.valid_until == made.certificate.not_after
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER"],
                         check=True, capture_output=True).stdout
    assert crypto.parse_certificate(der).fingerprint == made.fingerprint


def test_it_keeps_serial_numbers_as_long_as_its_column_and_refuses_longer_ones(tmp_path):
    column = CredentialVersion._meta.get_field("cert_serial").max_length
    assert column == crypto.SERIAL_MAX_LENGTH
    longest = "7" + "F" * (column - 1)  # 50 octets, where X.509 allows 20
    cert, key = _openssl_cert(tmp_path, serial=longest)
    made = as2_certificate.material(certificate=cert.read_text(), private_key=key.read_text())
    assert made.certificate.serial == longest
    cert, key = _openssl_cert(tmp_path, serial=longest + "F")
    with pytest.raises(MaterialError) as refused:
        as2_certificate.material(certificate=cert.read_text(), private_key=key.read_text())
    assert refused.value.field == "certificate"
    assert refused.value.message == (
        "The certificate's serial number is too long: 101 hexadecimal digits, where X.509 "
        "allows 40 (Keyturn keeps up to 100).")


@pytest.mark.django_db
def test_a_certificate_with_the_longest_serial_is_stored(tmp_path, unit):
    longest = "7" + "F" * (crypto.SERIAL_MAX_LENGTH - 1)
    cert, key = _openssl_cert(tmp_path, serial=longest)
    credential = make_credential(unit, Kind.AS2_CERTIFICATE, certificate=cert.read_text(),
                                 private_key=key.read_text())
    assert CredentialVersion.objects.get(credential=credential).cert_serial == longest


def test_it_refuses_a_key_that_does_not_match_the_certificate(tmp_path):
    cert, _ = _openssl_cert(tmp_path)
    other_private, _, _ = _keygen(tmp_path, "rsa", ["-b", "2048"], "PEM")
    with pytest.raises(MaterialError) as refused:
        as2_certificate.material(certificate=cert.read_text(), private_key=other_private)
    assert refused.value.field == "private_key"
    assert "does not belong to this certificate" in refused.value.message


TRUNCATED_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "from its -----BEGIN line"),
        ("not a key at all", "from its -----BEGIN line"),
        (TRUNCATED_KEY, "could not be read"),
        ("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
         "could not be read"),
    ],
)
def test_it_refuses_malformed_ssh_keys_with_a_clear_message(text, message):
    with pytest.raises(MaterialError) as refused:
        crypto.parse_ssh_private_key(text)
    assert refused.value.field == "private_key"
    assert message in refused.value.message


def test_it_refuses_weak_and_passphrase_protected_keys(tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f",
                    str(tmp_path / "weak")], check=True)
    with pytest.raises(MaterialError, match="at least 2048 bits; this one has 1024"):
        crypto.parse_ssh_private_key((tmp_path / "weak").read_text())
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f",
                    str(tmp_path / "locked")], check=True)
    with pytest.raises(MaterialError, match="passphrase"):
        crypto.parse_ssh_private_key((tmp_path / "locked").read_text())


@pytest.mark.parametrize(
    "text", ["", "garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"]
)
def test_it_refuses_malformed_certificates_with_a_clear_message(text):
    with pytest.raises(MaterialError) as refused:
        crypto.parse_certificate(text)
    assert refused.value.field == "certificate"
    assert "could not be read as a PEM or DER X.509 certificate" in refused.value.message


def test_it_never_quotes_the_key_in_its_error():
    secret_line = "c2VjcmV0LWtleS1tYXRlcmlhbC10aGF0LW11c3Qtbm90LWxlYWs="
    text = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{secret_line}\n-----END OPENSSH PRIVATE KEY-----"
    with pytest.raises(MaterialError) as refused:
        crypto.parse_ssh_private_key(text)
    assert secret_line not in str(refused.value)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: sftp_password.material(username="ok-user", password="short"), "password"),
        (lambda: sftp_password.material(username="bad user!", password="x" * 20), "username"),
        (lambda: api_key.material(client_id="c1d", key_id="bad key", private_key=""), "key_id"),
        (lambda: api_key.material(client_id="", key_id="k", private_key=""), "client_id"),
        (lambda: api_key.material(client_id="client", key_id="k1", private_key="nope"),
         "private_key"),
        (lambda: api_client_secret.material(client_id="client", client_secret="short"),
         "client_secret"),
    ],
)
def test_it_names_the_field_at_fault(call, field):
    with pytest.raises(MaterialError) as refused:
        call()
    assert refused.value.field == field


def test_it_stores_pasted_keys_with_lf_line_ends_and_fingerprints_api_keys(tmp_path):
    pem = crypto.generate_pem_private_key()
    pasted = pem.replace("\n", "\r\n")
    made = api_key.material(client_id="client-1", key_id="key-1", private_key=pasted)
    assert made.secret == pem
    assert made.fingerprint == crypto.parse_ssh_private_key(pem).fingerprint
    assert made.fingerprint.startswith("SHA256:")
