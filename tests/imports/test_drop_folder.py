"""The drop folder: each file becomes one pending import (once), or is rejected with a note;
either way it leaves the folder."""

from __future__ import annotations

import stat

import pytest
from django.core.management import call_command
from django.test import override_settings

from audit.models import AuditEvent
from imports.models import ImportSource, ImportState, PendingImport
from imports.tasks import scan_drop_folder
from tests.credentials.helpers import ec_pem
from tests.imports.helpers import api_key_content, seal


@pytest.fixture
def drop(tmp_path, acme, globex):
    with override_settings(KEYTURN_IMPORT_DROP_DIR=tmp_path / "drop"):
        (tmp_path / "drop" / "acme").mkdir(parents=True)
        yield tmp_path / "drop"


def test_it_turns_a_valid_file_into_a_pending_import_and_moves_it(drop, acme):
    data = seal(api_key_content(ec_pem()))
    (drop / "acme" / "carrier.json").write_bytes(data)
    assert scan_drop_folder() == {"received": 1, "duplicates": 0, "rejected": 0}
    pending = PendingImport.objects.get()
    assert pending.organization == acme
    assert pending.source == ImportSource.DROP_FOLDER and pending.uploaded_by is None
    assert pending.state == ImportState.PENDING
    assert pending.file_name == "carrier.json"
    assert pending.payload_bytes == data
    assert not (drop / "acme" / "carrier.json").exists()
    assert (drop / "acme" / "processed" / "carrier.json").read_bytes() == data
    assert AuditEvent.objects.filter(action="import.receive",
                                     details__source="drop_folder").count() == 1


def test_it_counts_the_same_file_once_however_often_it_is_dropped(drop):
    data = seal(api_key_content(ec_pem()))
    (drop / "acme" / "carrier.json").write_bytes(data)
    scan_drop_folder()
    (drop / "acme" / "carrier.json").write_bytes(data)
    (drop / "acme" / "carrier-again.json").write_bytes(data)
    assert scan_drop_folder() == {"received": 0, "duplicates": 2, "rejected": 0}
    assert PendingImport.objects.count() == 1
    processed = {p.name for p in (drop / "acme" / "processed").iterdir()}
    # The second carrier.json does not overwrite the first: it gets a time-stamped name.
    assert {"carrier-again.json", "carrier.json"} < processed
    (stamped,) = processed - {"carrier-again.json", "carrier.json"}
    assert stamped.startswith("carrier.2") and stamped.endswith(".json")
    assert [p for p in (drop / "acme").iterdir() if p.is_file()] == []


def test_it_counts_the_same_file_once_per_organization(drop, globex):
    data = seal(api_key_content(ec_pem()))
    (drop / "globex").mkdir()
    (drop / "acme" / "carrier.json").write_bytes(data)
    (drop / "globex" / "carrier.json").write_bytes(data)
    assert scan_drop_folder()["received"] == 2
    assert PendingImport.objects.filter(organization=globex).count() == 1


def test_it_rejects_garbage_with_a_note_and_queues_nothing(drop):
    (drop / "acme" / "notes.txt").write_bytes(b"hello, this is not a payload")
    (drop / "acme" / "huge.json").write_bytes(b"{" + b" " * 300_000)
    assert scan_drop_folder() == {"received": 0, "duplicates": 0, "rejected": 2}
    assert PendingImport.objects.count() == 0
    rejected = drop / "acme" / "rejected"
    assert (rejected / "notes.txt").exists()
    assert "not valid JSON" in (rejected / "notes.txt.note.txt").read_text()
    assert "larger than 256 KiB" in (rejected / "huge.json.note.txt").read_text()


def test_it_rejects_files_outside_an_organization_folder(drop):
    (drop / "stray.json").write_bytes(seal(api_key_content(ec_pem())))
    (drop / "initech").mkdir()
    (drop / "initech" / "carrier.json").write_bytes(seal(api_key_content(ec_pem())))
    assert scan_drop_folder()["rejected"] == 2
    assert PendingImport.objects.count() == 0
    assert "sub-folder named after" in (drop / "rejected" / "stray.json.note.txt").read_text()
    assert "no organization has the slug 'initech'" in (
        drop / "rejected" / "initech" / "carrier.json.note.txt").read_text()


def test_it_leaves_files_still_being_written_alone(drop):
    (drop / "acme" / "carrier.json.part").write_bytes(b'{"format": ')
    (drop / "acme" / ".carrier.json").write_bytes(b'{"format": ')
    assert scan_drop_folder() == {"received": 0, "duplicates": 0, "rejected": 0}
    assert (drop / "acme" / "carrier.json.part").exists()


def test_it_does_not_follow_symbolic_links(drop, tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_bytes(seal(api_key_content(ec_pem())))
    (drop / "acme" / "link.json").symlink_to(target)
    assert scan_drop_folder()["rejected"] == 1
    assert PendingImport.objects.count() == 0
    assert target.exists()


def test_it_is_also_a_management_command(drop, capsys):
    (drop / "acme" / "carrier.json").write_bytes(seal(api_key_content(ec_pem())))
    call_command("scan_import_drop_folder")
    assert "1 received, 0 already received, 0 rejected" in capsys.readouterr().out
    assert PendingImport.objects.count() == 1


def test_it_creates_the_drop_folder_and_its_outcome_folders_owner_only(tmp_path, acme):
    root = tmp_path / "not-yet" / "drop"
    with override_settings(KEYTURN_IMPORT_DROP_DIR=root):
        assert scan_drop_folder() == {"received": 0, "duplicates": 0, "rejected": 0}
        (root / "stray.json").write_bytes(b"{}")
        scan_drop_folder()
    for folder in (root.parent, root, root / "rejected"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_it_rejects_a_file_with_a_lone_surrogate_with_a_readable_note(drop):
    (drop / "acme" / "odd.json").write_bytes(
        b'{"format": "keyturn-managed-credential", "version": 1, "\\ud800": 1}')
    assert scan_drop_folder() == {"received": 0, "duplicates": 0, "rejected": 1}
    note = (drop / "acme" / "rejected" / "odd.json.note.txt").read_text(encoding="utf-8")
    assert "not valid Unicode" in note
