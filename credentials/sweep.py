"""One pass of the scheduled work: the django-q2 schedule and `manage.py run_due` both call
sweep_run(). The steps come from settings.KEYTURN_SWEEP_STEPS, where the apps' steps are put in
order once (credentials imports none of the apps above it). Every step claims each item before
acting on it, so passes running at the same time in several workers or clusters do each thing
once; and a pass with nothing due costs a fixed number of queries, however many credentials
there are."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from .errors import log_failure

logger = logging.getLogger(__name__)


def sweep_steps() -> list[Callable[..., list[str]]]:
    return [import_string(path) for path in settings.KEYTURN_SWEEP_STEPS]


def sweep_run(*, now: datetime | None = None, dry_run: bool = False) -> list[str]:
    """Does (or with dry_run, lists) everything due at `now`; returns what it did."""
    now = now or timezone.now()
    actions: list[str] = []
    for step in sweep_steps():
        try:
            actions.extend(step(now=now, dry_run=dry_run))
        except Exception as exc:  # one broken step must not stop the others every minute
            log_failure(logger, f"sweep step {step.__name__} failed", exc)
            actions.append(f"step {step.__name__} failed ({type(exc).__name__})")
    return actions
