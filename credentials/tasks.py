"""django-q2 entry points: thin wrappers over services."""

from .sweep import Batch, sweep_batch_run, sweep_fan_out


def sweep() -> int:
    """The schedule's job: plans the pass and hands each batch of it to the cluster as a
    task of its own (sweep_batch), so that the cluster's workers share it. Returns how many
    batches it handed out."""
    return sweep_fan_out()


def sweep_batch(batch: Batch) -> int:
    """One batch of a pass; returns how many things it did."""
    return len(sweep_batch_run(batch=batch))
