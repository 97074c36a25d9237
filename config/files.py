"""Folders Keyturn writes into. Each is created by the code that needs it, the first time it
needs it, so a fresh clone (or a new KEYTURN_DATA_DIR) works without a set-up step."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Creates `path` (and any missing parent) readable by this user only, and returns it.

    For folders that hold the database, mail or imports. `Path.mkdir(parents=True)` would
    create the parents with the default mode, so each missing level is made here. A folder
    that already exists is left as its owner set it.
    """
    path = Path(path)
    missing = []
    for level in (path, *path.parents):
        if level.exists():
            break
        missing.append(level)
    for level in reversed(missing):
        try:
            level.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # another process made it first
            continue
        os.chmod(level, PRIVATE_DIR_MODE)  # mkdir's mode is reduced by the umask
    return path
