import base64
import io
import json

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from credentials.crypto import KeyRing, KeyRingError
from credentials.models import CredentialVersion, Kind
from credentials.services import secrets_reencrypt, version_secret
from tests.accounts.helpers import KEY, give_totp, totp_code
from tests.factories import make_credential

KEY_A = "ka:" + base64.b64encode(b"A" * 32).decode()
KEY_B = "kb:" + base64.b64encode(b"B" * 32).decode()


def test_it_round_trips_and_binds_the_ciphertext_to_its_row():
    ring = KeyRing(KEY_A)
    token = ring.encrypt("hunter2-but-longer", aad="credential-version:1")
    assert "hunter2" not in token
    assert ring.decrypt(token, aad="credential-version:1") == "hunter2-but-longer"
    with pytest.raises(KeyRingError, match="integrity"):
        ring.decrypt(token, aad="credential-version:2")


def test_it_detects_a_tampered_ciphertext():
    ring = KeyRing(KEY_A)
    token = ring.encrypt("s3cret-value", aad="x")
    body = bytearray(base64.urlsafe_b64decode(token.split(":", 2)[2]))
    body[-1] ^= 1
    forged = token.rsplit(":", 1)[0] + ":" + base64.urlsafe_b64encode(bytes(body)).decode()
    with pytest.raises(KeyRingError, match="integrity"):
        ring.decrypt(forged, aad="x")


def test_it_encrypts_with_the_newest_key_and_decrypts_with_any():
    old = KeyRing(KEY_A).encrypt("old secret", aad="x")
    ring = KeyRing(f"{KEY_B},{KEY_A}")
    assert ring.decrypt(old, aad="x") == "old secret"
    assert ring.encrypt("new", aad="x").startswith("v1:kb:")


@pytest.mark.parametrize(
    ("spec", "message"),
    [("", "empty"), ("nocolon", "<id>:<base64 key>"), ("k1:!!!", "base64"),
     ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"), (f"{KEY_A},{KEY_A}", "twice")],
)
def test_it_refuses_a_malformed_key_ring(spec, message):
    with pytest.raises(KeyRingError, match=message):
        KeyRing(spec)


def _database_dump() -> str:
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        rows = []
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


@pytest.mark.django_db(transaction=True)
def test_it_stores_no_plaintext_secret_in_the_database():
    from tests.factories import make_org

    unit = make_org("dumpco").business_units.get()
    secrets = []
    for kind in Kind.values:
        credential = make_credential(unit, kind)
        secret = version_secret(credential.versions.get())
        secrets.append(secret)
    dump = _database_dump()
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    for secret in secrets:
        for line in secret.splitlines():
            if "-----" in line or not line.strip():
                continue  # PEM armour lines are not secret
            assert line not in dump
            assert line not in out.getvalue()
            assert json.dumps(line)[1:-1] not in out.getvalue()


def test_it_reencrypts_every_secret_under_the_newest_key(unit):
    with override_settings(KEYTURN_ENCRYPTION_KEYS=KEY_A):
        credentials = [make_credential(unit, kind) for kind in Kind.values]
        before = {c.pk: version_secret(c.versions.get()) for c in credentials}
    with override_settings(KEYTURN_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}"):
        out = io.StringIO()
        call_command("reencrypt_secrets", "--batch-size", "2", stdout=out)
        assert "5/5" in out.getvalue()
        assert "5 secrets re-encrypted" in out.getvalue()
    with override_settings(KEYTURN_ENCRYPTION_KEYS=KEY_B):  # the old key is gone now
        for credential in credentials:
            assert version_secret(credential.versions.get()) == before[credential.pk]


def test_it_resumes_an_interrupted_reencryption_where_it_stopped(unit):
    with override_settings(KEYTURN_ENCRYPTION_KEYS=KEY_A):
        for _ in range(5):
            make_credential(unit)
    with override_settings(KEYTURN_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}"):
        progress = secrets_reencrypt(batch_size=2)
        assert next(progress) == (2, 5)
        progress.close()  # interrupted after the first batch
        under = lambda key_id: CredentialVersion.objects.filter(  # noqa: E731
            secret_ciphertext__startswith=f"v1:{key_id}:").count()
        assert (under("kb"), under("ka")) == (2, 3)
        assert list(secrets_reencrypt(batch_size=2)) == [(2, 3), (3, 3)]
        assert under("kb") == 5


def test_it_masks_secrets_in_reprs(unit):
    credential = make_credential(unit)
    version = credential.versions.get()
    secret = version_secret(version)
    assert secret not in repr(version)
    from tests.factories import material_for

    material = material_for(Kind.SFTP_PASSWORD, password="a-visible-password-123")
    assert "a-visible-password-123" not in repr(material)


def test_it_reencrypts_the_sftp_host_key_too(unit):
    from sftpd.services import host_key_create, host_key_private

    with override_settings(KEYTURN_ENCRYPTION_KEYS=KEY_A):
        make_credential(unit)
        host_key = host_key_create()
        fingerprint = host_key.fingerprint
    with override_settings(KEYTURN_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}"):
        out = io.StringIO()
        call_command("reencrypt_secrets", stdout=out)
        assert "2 secrets re-encrypted" in out.getvalue()
    with override_settings(KEYTURN_ENCRYPTION_KEYS=KEY_B):
        host_key.refresh_from_db()
        assert host_key_private(host_key) is not None
        assert host_key.fingerprint == fingerprint


def test_it_reencrypts_the_second_factor_seeds_too(unit, alice):
    """An authenticator app's key and the recovery codes' seed are sealed with the key ring
    (allauth's MFA adapter): after a key rotation and re-encryption, with the old key gone,
    the same app codes and recovery codes still work."""
    with override_settings(KEYTURN_ENCRYPTION_KEYS=KEY_A):
        recovery_codes = give_totp(alice)
    sealed = {a.type: a.data for a in Authenticator.objects.filter(user=alice)}
    assert sealed["totp"]["secret"].startswith("v1:ka:") and KEY not in str(sealed)
    assert sealed["recovery_codes"]["seed"].startswith("v1:ka:")
    with override_settings(KEYTURN_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}"):
        out = io.StringIO()
        call_command("reencrypt_secrets", stdout=out)
        assert "2 secrets re-encrypted" in out.getvalue()
    with override_settings(KEYTURN_ENCRYPTION_KEYS=KEY_B):  # the old key is gone now
        totp = TOTP(Authenticator.objects.get(user=alice, type="totp"))
        assert totp.validate_code(totp_code(KEY))
        codes = RecoveryCodes(Authenticator.objects.get(user=alice, type="recovery_codes"))
        assert codes.get_unused_codes() == recovery_codes
