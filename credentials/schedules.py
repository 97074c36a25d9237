"""The django-q2 schedules Keyturn needs, installed by one idempotent function after every
`migrate` (see CredentialsConfig.ready), never by hand in the admin."""

from __future__ import annotations

from typing import Any

SCHEDULES: dict[str, dict[str, Any]] = {
    # Every minute, in UTC: interval schedules are unaffected by daylight-saving changes.
    "keyturn-sweep": {"func": "credentials.tasks.sweep", "minutes": 1},
    # Managed credential payloads dropped in KEYTURN_IMPORT_DROP_DIR become pending imports.
    "keyturn-import-drop-folder": {"func": "imports.tasks.scan_drop_folder", "minutes": 1},
}


def schedules_install(**kwargs: object) -> None:
    from django_q.models import Schedule

    for name, spec in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": spec["func"], "schedule_type": Schedule.MINUTES,
                      "minutes": spec["minutes"], "repeats": -1},
        )
