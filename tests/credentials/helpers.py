"""Helpers for the credentials tests (and the apps above): private keys of every sort, what
may be shown about one, a database that refuses to retire a version, and the failed rotation
the History tab must show."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from unittest import mock

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.db import connection
from django.test import Client

from credentials import crypto
from credentials.models import Credential, Rotation, RotationState, VersionState
from credentials.rotation import engine


def pem(key: object) -> str:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def ec_pem() -> str:
    return pem(ec.generate_private_key(ec.SECP256R1()))


def ed25519_pem() -> str:
    return pem(ed25519.Ed25519PrivateKey.generate())


def rsa_pem(bits: int = 2048) -> str:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def key_fingerprint(private_key: str) -> str:
    """The SHA256 fingerprint of a private key's public key, as ssh-keygen prints it: what
    pages show of an API key instead of the key."""
    return crypto.parse_ssh_private_key(private_key).fingerprint


def refuse_retirement(condition: str) -> None:
    """Makes the database refuse, with a trigger, every change of a credential version's state
    for which `condition` (SQL on OLD and NEW) holds: a failure in the middle of a switch,
    after the new version was written. allow_retirement() drops the trigger."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION keyturn_test_refuse() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql")
            cursor.execute(
                "CREATE TRIGGER keyturn_test_refuse BEFORE UPDATE ON "
                f"credentials_credentialversion FOR EACH ROW WHEN ({condition}) "
                "EXECUTE FUNCTION keyturn_test_refuse()")
        else:
            cursor.execute(
                "CREATE TRIGGER keyturn_test_refuse BEFORE UPDATE OF state ON "
                f"credentials_credentialversion WHEN {condition} "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")


def allow_retirement() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS keyturn_test_refuse ON "
                           "credentials_credentialversion")
            cursor.execute("DROP FUNCTION IF EXISTS keyturn_test_refuse()")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS keyturn_test_refuse")


def assert_failed_rotation_on_history(client: Client, credential: Credential,
                                      reason: str) -> Rotation:
    """The failure is on the credential's History tab with its reason and a Retry link, and
    the new material is kept there, unused, for the retry."""
    rotation = Rotation.objects.get(credential=credential)
    assert rotation.state == RotationState.FAILED and reason in rotation.failure_reason
    assert rotation.to_version.state == VersionState.UNUSED
    org = credential.business_unit.organization.slug
    page = client.get(f"/o/{org}/credentials/{credential.pk}/?tab=history").content.decode()
    assert "The last rotation failed" in page and reason in page
    assert f"/o/{org}/credentials/{credential.pk}/rotations/{rotation.pk}/retry/" in page
    return rotation


@contextmanager
def switch_fails(error: Exception) -> Iterator[None]:
    """The database refuses the switch: a batch's switch (switch_versions_many), and the
    one-by-one switch its rotations then fall back to (switch_versions)."""
    with ExitStack() as stack:
        for name in ("switch_versions", "switch_versions_many"):
            stack.enter_context(mock.patch.object(engine, name, side_effect=error))
        yield
