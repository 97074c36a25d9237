"""The django-q2 schedules Keyturn needs (settings.KEYTURN_SCHEDULES), installed by one
idempotent function after every `migrate` (see CredentialsConfig.ready), never by hand in the
admin."""

from __future__ import annotations

from django.conf import settings
from django_q.models import Schedule


def schedules_install(**kwargs: object) -> None:
    for name, spec in settings.KEYTURN_SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": spec["func"], "schedule_type": Schedule.MINUTES,
                      "minutes": spec["minutes"], "repeats": -1},
        )
