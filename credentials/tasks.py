"""django-q2 entry points: thin wrappers over services."""

from .sweep import sweep_run


def sweep() -> int:
    """The frequent job: runs one sweep and returns how many things it did."""
    return len(sweep_run())
