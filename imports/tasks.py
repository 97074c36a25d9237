"""django-q2 entry points: thin wrappers over the imports app's services."""

from __future__ import annotations

from django.conf import settings

from .drop_folder import drop_folder_scan


def scan_drop_folder() -> dict[str, int]:
    """Turns files waiting in KEYTURN_IMPORT_DROP_DIR into pending imports (run every
    minute by the worker; `manage.py scan_import_drop_folder` does the same by hand)."""
    return drop_folder_scan(root=settings.KEYTURN_IMPORT_DROP_DIR).as_dict()
