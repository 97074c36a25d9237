"""Django's SQLite backend, which also creates the database's folder (owner-only) the first
time it connects: on a fresh clone `make run`'s first `migrate` needs no set-up step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.backends.sqlite3 import base

from config.files import private_dir


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        database = str(conn_params.get("database", ""))
        if database and not self.is_in_memory_db() and not database.startswith("file:"):
            private_dir(Path(database).parent)
        return super().get_new_connection(conn_params)
