"""export_credential and import_credential: the round trip, and every refusal changes
nothing and says why, without the secret or the password."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from credentials.models import Credential, CredentialVersion, Kind, VersionState
from credentials.services import current_version, version_secret
from imports import payload
from imports.management import passwords
from imports.models import PendingImport
from tests.credentials.helpers import ec_pem, rsa_pem
from tests.factories import make_connection, make_credential
from tests.imports.helpers import api_key_content, seal

EXPORT_PASSWORD = "export-passphrase-for-tests-42"


@pytest.fixture(autouse=True)
def _passwords(monkeypatch):
    monkeypatch.setenv("KEYTURN_EXPORT_PASSWORD", EXPORT_PASSWORD)
    monkeypatch.setenv("KEYTURN_IMPORT_PASSWORD", EXPORT_PASSWORD)


def _export(credential, path) -> None:
    call_command("export_credential", str(credential.pk), "--out", str(path))


def _import(path, *args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_credential", str(path), "--org", "acme", *args, stdout=out)
    return out.getvalue()


def _counts() -> tuple[int, int, int]:
    return (Credential.objects.count(), CredentialVersion.objects.count(),
            PendingImport.objects.count())


@pytest.mark.parametrize("kind", list(Kind))
def test_it_round_trips_every_kind_as_a_new_credential(kind, unit, alice, tmp_path,
                                                       captured_logs):
    original = make_credential(unit, kind, name=f"Partner {kind}", actor=alice)
    secret = version_secret(current_version(original))
    path = tmp_path / "partner.json"
    _export(original, path)
    output = _import(path, "--new", "--name", f"Copy of {kind}")
    copy = Credential.objects.get(name=f"Copy of {kind}")
    assert str(copy.pk) in output
    assert copy.kind == kind and copy.business_unit == unit
    new_version = current_version(copy)
    assert version_secret(new_version) == secret
    old_version = current_version(original)
    for public in ("username", "client_id", "key_id", "fingerprint", "certificate_pem"):
        assert getattr(new_version, public) == getattr(old_version, public)
    assert secret not in captured_logs.text and EXPORT_PASSWORD not in captured_logs.text
    assert secret.encode() not in path.read_bytes()


def test_it_writes_the_export_for_its_owner_only_and_audits_it(carrier_api, tmp_path):
    path = tmp_path / "carrier.json"
    _export(carrier_api, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    event = AuditEvent.objects.get(action="credential.export")
    assert event.target_id == str(carrier_api.pk)
    assert event.details["key_id"] == "carrier-key-1"
    secret = version_secret(current_version(carrier_api))
    assert secret not in json.dumps(event.details)
    with pytest.raises(CommandError, match="exists"):
        _export(carrier_api, path)


def test_it_replaces_an_existing_credential_by_a_rotation(carrier_api, unit, alice, tmp_path):
    donor = make_credential(unit, Kind.API_KEY, name="Donor", actor=alice,
                            client_id="carrier-client", key_id="carrier-key-9")
    path = tmp_path / "donor.json"
    _export(donor, path)
    old = current_version(carrier_api)
    connections = list(carrier_api.connections.values_list("pk", flat=True))
    output = _import(path, "--replace", str(carrier_api.pk))
    assert "version 2 is current" in output
    carrier_api.refresh_from_db()
    assert carrier_api.name == "Carrier API"  # same identity, same name
    new = current_version(carrier_api)
    assert new.key_id == "carrier-key-9"
    assert version_secret(new) == version_secret(current_version(donor))
    old.refresh_from_db()
    assert old.state == VersionState.RETIRED
    assert list(carrier_api.connections.values_list("pk", flat=True)) == connections
    assert AuditEvent.objects.filter(action="import.apply", target_id=str(carrier_api.pk),
                                     details__action="update").exists()


def test_it_asks_for_the_password_when_no_variable_is_set(carrier_api, tmp_path, monkeypatch):
    monkeypatch.delenv("KEYTURN_EXPORT_PASSWORD")
    monkeypatch.setattr(passwords, "_interactive", lambda: True)
    typed = iter([EXPORT_PASSWORD, EXPORT_PASSWORD])
    monkeypatch.setattr(passwords.getpass, "getpass", lambda prompt: next(typed))
    _export(carrier_api, tmp_path / "typed.json")
    opened = payload.open_payload((tmp_path / "typed.json").read_bytes(), EXPORT_PASSWORD)
    assert opened.material.secret == version_secret(current_version(carrier_api))


def test_it_refuses_to_run_without_a_password_source(carrier_api, tmp_path, monkeypatch):
    monkeypatch.delenv("KEYTURN_EXPORT_PASSWORD")
    monkeypatch.setattr(passwords, "_interactive", lambda: False)
    with pytest.raises(CommandError, match="Set KEYTURN_EXPORT_PASSWORD"):
        _export(carrier_api, tmp_path / "none.json")
    assert not (tmp_path / "none.json").exists()


def test_it_takes_no_password_on_the_command_line(carrier_api, tmp_path):
    with pytest.raises(CommandError):
        call_command("export_credential", str(carrier_api.pk), "--out",
                     str(tmp_path / "x.json"), "--password", EXPORT_PASSWORD)


def _tampered(data: bytes) -> bytes:
    document = json.loads(data)
    raw = bytearray(base64.b64decode(document["ciphertext"]))
    raw[5] ^= 0x80
    document["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    return json.dumps(document).encode()


def _with(data: bytes, **changes) -> bytes:
    document = json.loads(data)
    for key, value in changes.items():
        if key.startswith("kdf_"):
            document["kdf"][key[4:]] = value
        else:
            document[key] = value
    return json.dumps(document).encode()


REFUSALS = {
    "wrong password": (lambda d: d, "wrong-password-entirely", "password is wrong"),
    "tampered byte": (_tampered, None, "altered or damaged"),
    "truncated": (lambda d: d[:-60], None, "truncated"),
    "unknown version": (lambda d: _with(d, version=2), None, "Unsupported payload version 2"),
    "hostile kdf": (lambda d: _with(d, kdf_n=2**30), None, "parameter n"),
    "oversized": (lambda d: d + b" " * 300_000, None, "larger than 256 KiB"),
    "garbage": (lambda d: b"PK\x03\x04 not a payload", None, "not valid JSON"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
@pytest.mark.parametrize("mode", ["new", "replace"])
def test_it_refuses_a_bad_file_and_changes_nothing(case, mode, carrier_api, tmp_path,
                                                   monkeypatch, captured_logs):
    change, password, words = REFUSALS[case]
    key = ec_pem()
    path = tmp_path / "payload.json"
    path.write_bytes(change(seal(api_key_content(key), EXPORT_PASSWORD)))
    if password:
        monkeypatch.setenv("KEYTURN_IMPORT_PASSWORD", password)
    before = _counts()
    current = current_version(carrier_api)
    args = ["--new"] if mode == "new" else ["--replace", str(carrier_api.pk)]
    with pytest.raises(CommandError) as caught:
        _import(path, *args)
    message = str(caught.value)
    assert words in message and "nothing was changed" in message
    assert _counts() == before
    assert current_version(carrier_api) == current
    for secret in (key, key.splitlines()[1], EXPORT_PASSWORD, password or EXPORT_PASSWORD):
        assert secret not in message
        assert secret not in captured_logs.text


BAD_CONTENT = {
    "bad PEM": (api_key_content("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
                "could not be read"),
    "weak RSA": (api_key_content(rsa_pem(1024)), "at least 2048 bits"),
    "missing key id": ({**api_key_content("x"), "material": {"client_id": "carrier-client",
                                                            "private_key": "x"}},
                       "material.key_id"),
    "unknown kind": (api_key_content("x", kind="telnet_password"), "kind must be one of"),
}


@pytest.mark.parametrize("case", list(BAD_CONTENT))
def test_it_refuses_bad_content_and_changes_nothing(case, carrier_api, tmp_path,
                                                    captured_logs):
    content, words = BAD_CONTENT[case]
    path = tmp_path / "payload.json"
    path.write_bytes(seal(content, EXPORT_PASSWORD))
    before = _counts()
    with pytest.raises(CommandError, match=words) as caught:
        _import(path, "--replace", str(carrier_api.pk))
    assert _counts() == before
    assert "PRIVATE KEY" not in str(caught.value)
    assert "PRIVATE KEY" not in captured_logs.text
    refusal = AuditEvent.objects.get(action="import.refuse")
    assert refusal.details["stage"] == "content"
    assert "PRIVATE KEY" not in json.dumps(refusal.details)


def test_it_refuses_a_payload_of_another_kind_for_replace(carrier_api, unit, alice, tmp_path):
    sftp = make_credential(unit, Kind.SFTP_PASSWORD, name="Partner SFTP", actor=alice)
    make_connection(sftp, alice)
    path = tmp_path / "sftp.json"
    _export(sftp, path)
    before = _counts()
    with pytest.raises(CommandError, match="Choose a credential of the same kind"):
        _import(path, "--replace", str(carrier_api.pk))
    assert _counts() == before


def test_it_refuses_a_credential_of_another_organization(carrier_api, globex, tmp_path):
    other = make_credential(globex.business_units.get(), Kind.API_KEY, name="Globex API")
    path = tmp_path / "carrier.json"
    _export(carrier_api, path)
    with pytest.raises(CommandError, match="has no credential"):
        _import(path, "--replace", str(other.pk))
    assert current_version(other).number == 1
