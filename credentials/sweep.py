"""One pass of the scheduled work: the django-q2 schedule and `manage.py run_due` both call
sweep_run(). Every step claims each item before acting on it, so passes running at the same
time in several workers or clusters do each thing once; and a pass with nothing due costs a
fixed number of queries, however many credentials there are."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

from notifications.services import notifications_send_unsent, reminders_send_due

from .rotation import (
    log_failure,
    rotations_prepare_automatic_due,
    rotations_recover_stuck,
    rotations_run_due,
    versions_end_overlaps,
    versions_record_expiries,
)

logger = logging.getLogger(__name__)

# In this order: finish what was interrupted, switch what is due, tidy versions by time,
# prepare automatic rotations (so a 30-day reminder can say "new credentials ready"), then
# send what is due.
STEPS: list[Callable[..., list[str]]] = [
    rotations_recover_stuck,
    rotations_run_due,
    versions_end_overlaps,
    versions_record_expiries,
    rotations_prepare_automatic_due,
    reminders_send_due,
    notifications_send_unsent,
]


def sweep_run(*, now: datetime | None = None, dry_run: bool = False) -> list[str]:
    """Does (or with dry_run, lists) everything due at `now`; returns what it did."""
    now = now or timezone.now()
    actions: list[str] = []
    for step in STEPS:
        try:
            actions.extend(step(now=now, dry_run=dry_run))
        except Exception as exc:  # one broken step must not stop the others every minute
            log_failure(logger, f"sweep step {step.__name__} failed", exc)
            actions.append(f"step {step.__name__} failed ({type(exc).__name__})")
    return actions
