"""The drop folder: payloads that managed environments write to
KEYTURN_IMPORT_DROP_DIR/<organization slug>/ become pending imports (imports.services), and the
files leave for processed/ or rejected/. The worker scans it every minute (imports.tasks);
`manage.py scan_import_drop_folder` does the same by hand."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.utils import timezone

from config.files import private_dir
from organizations.access import SYSTEM
from organizations.models import Organization

from . import payload
from .models import ImportSource
from .services import DuplicateImport, pending_import_receive

logger = logging.getLogger(__name__)

PROCESSED_DIR = "processed"
REJECTED_DIR = "rejected"
# Senders write under a temporary name and rename when done; these are still being written.
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


@dataclass
class ScanResult:
    received: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"received": len(self.received), "duplicates": len(self.duplicates),
                "rejected": len(self.rejected)}


def _move_aside(path: Path, folder: Path, note: str | None = None) -> Path:
    """Moves a handled file into `folder` under a name that does not overwrite another."""
    private_dir(folder)
    target = folder / path.name
    if target.exists() or target.is_symlink():
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    os.replace(path, target)
    if note is not None:
        target.with_name(target.name + ".note.txt").write_text(note + "\n")
    return target


def _waiting_files(folder: Path) -> list[Path]:
    return sorted(
        path for path in folder.iterdir()
        if not path.name.startswith(".") and not path.name.endswith(IN_PROGRESS_SUFFIXES)
        and (path.is_file() or path.is_symlink()) and not path.is_dir()
    )


def _read_bounded(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(payload.MAX_PAYLOAD_BYTES + 1)


def _reject(path: Path, folder: Path, reason: str, result: ScanResult) -> None:
    logger.warning("drop folder: rejected %s: %s", path, reason)
    _move_aside(path, folder, note=f"Rejected {timezone.now().isoformat()}: {reason}")
    result.rejected.append(str(path))


def drop_folder_scan(*, root: Path) -> ScanResult:
    """Turns each file waiting in `root/<organization slug>/` into a pending import and moves
    it to that folder's processed/ (received or a duplicate) or rejected/ (with a .note.txt
    saying why). Files directly in `root` or in a folder that names no organization are
    rejected into `root/rejected/`. One file at a time; safe to run twice at once: the
    database counts a payload once per organization, and a file already moved is skipped."""
    result = ScanResult()
    private_dir(root)
    organizations = {org.slug: org for org in Organization.objects.all()}
    for path in _waiting_files(root):
        _reject(path, root / REJECTED_DIR,
                "files go into a sub-folder named after the organization's slug", result)
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        if folder.name in (PROCESSED_DIR, REJECTED_DIR) or folder.name.startswith("."):
            continue
        organization = organizations.get(folder.name)
        for path in _waiting_files(folder):
            try:
                _scan_one(path, folder, organization, result)
            except FileNotFoundError:
                continue  # another scan moved it first
    if any(result.as_dict().values()):
        logger.info("drop folder %s: %s", root, result.as_dict())
    return result


def _scan_one(path: Path, folder: Path, organization: Organization | None,
              result: ScanResult) -> None:
    if organization is None:
        _reject(path, folder.parent / REJECTED_DIR / folder.name,
                f"no organization has the slug {folder.name!r}", result)
        return
    if path.is_symlink():
        _reject(path, folder / REJECTED_DIR, "symbolic links are not followed", result)
        return
    data = _read_bounded(path)
    try:
        pending_import_receive(organization=organization, data=data, file_name=path.name,
                               source=ImportSource.DROP_FOLDER, actor=SYSTEM)
    except payload.PayloadError as exc:
        _reject(path, folder / REJECTED_DIR, exc.message, result)
        return
    except DuplicateImport:
        logger.info("drop folder: %s was already received; ignored", path)
        _move_aside(path, folder / PROCESSED_DIR)
        result.duplicates.append(str(path))
        return
    _move_aside(path, folder / PROCESSED_DIR)
    result.received.append(str(path))
