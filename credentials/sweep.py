"""One pass of the scheduled work, in batches. The steps come from
settings.KEYTURN_SWEEP_STEPS, where the apps' steps are put in order once (credentials imports
none of the apps above it).

- The plan: one query (a UNION of every step's "what is due") finds the credentials with due
  work and the steps each one needs; they are split into batches of
  settings.KEYTURN_SWEEP_BATCH_SIZE credentials.
- A batch runs the steps in their order for its credentials only, so what one step leaves for
  the next about a credential (an automatic rotation's new version, which the 30-day reminder
  announces) is there, and batches are independent of one another.
- `manage.py run_due` runs the batches one after the other in its process; the django-q2
  schedule's task (credentials.tasks.sweep) hands each batch to the cluster as a task of its
  own, so several workers share a large pass.
- Every step claims what it does in the database before acting (a conditional UPDATE, a
  unique row), so batches run twice, or passes planned at once by several clusters, do each
  thing once. A step that fails stops neither the other steps of its batch nor other batches.
- A pass with nothing due costs one query, however many credentials there are.

A step is a function `step(*, now, dry_run=False, credentials=None) -> list[str]` that does
what is due (restricted to `credentials`, a list of credential ids, when given) and returns
one line per thing done; `@sweep_step(due=...)` declares the querysets of what it finds due
(each has a `credential_id`). A step without `due` runs once per pass, outside the batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import IntegerField, QuerySet, Value
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.tasks import async_task

from .errors import log_failure

logger = logging.getLogger(__name__)

Step = Callable[..., list[str]]
Batch = dict[str, list[str]]  # a step's path -> the credential ids it has due work for


def sweep_step(*, due: Callable[[datetime], list[QuerySet]]) -> Callable[[Step], Step]:
    """Declares a batched step: `due(now)` returns querysets of the rows it would act on."""
    def declare(step: Step) -> Step:
        step.due = due  # type: ignore[attr-defined]
        return step
    return declare


def restrict(queryset: QuerySet, credentials: Iterable[object] | None) -> QuerySet:
    """A step's due rows, narrowed to its batch's credentials (all when None)."""
    return queryset if credentials is None else queryset.filter(credential_id__in=credentials)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def batch_size() -> int:
    return max(1, int(settings.KEYTURN_SWEEP_BATCH_SIZE))


def due_credentials(step: Step, now: datetime) -> list[str]:
    """The credentials `step` has due work for, for a step called without a batch: it then
    does its work batch by batch itself."""
    ids: set[str] = set()
    for queryset in step.due(now):  # type: ignore[attr-defined]
        ids.update(str(pk) for pk in queryset.order_by().values_list("credential_id", flat=True))
    return sorted(ids)


def sweep_steps() -> list[tuple[str, Step]]:
    return [(path, import_string(path)) for path in settings.KEYTURN_SWEEP_STEPS]


def _due_pairs(steps: list[tuple[str, Step]], now: datetime) -> list[tuple[str, int]]:
    """(credential id, step index) for every due thing, in one query; a step whose query is
    broken is left out (and logged) rather than stopping the whole pass."""
    parts = []
    for index, (path, step) in enumerate(steps):
        if not hasattr(step, "due"):
            continue
        try:
            parts += [queryset.order_by().annotate(
                sweep_step=Value(index, output_field=IntegerField()),
            ).values_list("credential_id", "sweep_step") for queryset in step.due(now)]
        except Exception as exc:
            log_failure(logger, f"sweep step {path} could not say what is due", exc)
    if not parts:
        return []
    try:
        return list(parts[0].union(*parts[1:], all=True))
    except Exception as exc:  # one part is broken: ask each alone, and skip the broken ones
        log_failure(logger, "the sweep's plan failed; asking each step alone", exc)
    pairs = []
    for part in parts:
        try:
            pairs += list(part)
        except Exception as exc:
            log_failure(logger, "a sweep step's due query failed", exc)
    return pairs


def sweep_plan(*, now: datetime) -> list[Batch]:
    """The due work split into batches of credentials: each batch lists, per step in the
    order of KEYTURN_SWEEP_STEPS, the batch's credentials that step has work for."""
    steps = sweep_steps()
    needs: dict[str, set[int]] = {}
    for credential_id, index in _due_pairs(steps, now):
        needs.setdefault(str(credential_id), set()).add(index)
    batches = []
    for credential_ids in chunks(sorted(needs), batch_size()):
        batch: Batch = {}
        for index, (path, _) in enumerate(steps):
            ids = [pk for pk in credential_ids if index in needs[pk]]
            if ids:
                batch[path] = ids
        batches.append(batch)
    return batches


# PostgreSQL's "deadlock detected" and "could not serialize": two passes at once (two clusters)
# went for the same rows in an order that crossed. Nothing of the step's transaction stayed,
# every write is claimed first, so the step runs again, once, and finds what the other did.
RETRY_SQLSTATES = {"40P01", "40001"}


def _run_step(step: Step, **kwargs: Any) -> list[str]:
    for attempt in (1, 2):
        try:
            return step(**kwargs)
        except DatabaseError as exc:
            if attempt == 1 and getattr(exc.__cause__, "sqlstate", None) in RETRY_SQLSTATES:
                logger.info("sweep step %s met another pass; running it again", step.__name__)
                continue
            failure = exc
        except Exception as exc:
            failure = exc
        break
    # One broken step must not stop the others every minute.
    log_failure(logger, f"sweep step {step.__name__} failed", failure)
    return [f"step {step.__name__} failed ({type(failure).__name__})"]


def sweep_batch_run(*, batch: Batch, now: datetime | None = None,
                    dry_run: bool = False) -> list[str]:
    """Runs one batch: each step it names, in their order, for its credentials."""
    now = now or timezone.now()
    actions: list[str] = []
    for path, step in sweep_steps():  # only steps listed in settings ever run
        if path in batch:
            actions += _run_step(step, now=now, dry_run=dry_run,
                                 credentials=batch[path])
    return actions


def sweep_unbatched(*, now: datetime, dry_run: bool = False) -> list[str]:
    """The steps that declare no due work run once per pass, in the pass itself."""
    actions: list[str] = []
    for _, step in sweep_steps():
        if not hasattr(step, "due"):
            actions += _run_step(step, now=now, dry_run=dry_run)
    return actions


def sweep_run(*, now: datetime | None = None, dry_run: bool = False) -> list[str]:
    """Does (or with dry_run, lists) everything due at `now` in this process, batch after
    batch; returns what it did."""
    now = now or timezone.now()
    actions = sweep_unbatched(now=now, dry_run=dry_run)
    for batch in sweep_plan(now=now):
        actions += sweep_batch_run(batch=batch, now=now, dry_run=dry_run)
    return actions


def sweep_fan_out(*, now: datetime | None = None) -> int:
    """The scheduled pass on a django-q2 cluster: runs the unbatched steps, then hands each
    batch to the cluster as a task of its own (credentials.tasks.sweep_batch), in one group
    per pass. Each batch takes its own time when it runs; a batch run twice, or by two
    clusters, does each thing once. Returns the number of batches."""
    now = now or timezone.now()
    sweep_unbatched(now=now)
    batches = sweep_plan(now=now)
    group = f"keyturn-sweep {now:%Y-%m-%dT%H:%M:%S}"
    for number, batch in enumerate(batches, start=1):
        async_task("credentials.tasks.sweep_batch", batch, group=group,
                   task_name=f"sweep batch {number}/{len(batches)} {now:%H:%M:%S}")
    return len(batches)
