"""django-q2 entry points: thin wrappers over the notifications app's services."""

from __future__ import annotations

from . import services


def rotation_emails_send(*, rotation_ids: list[str]) -> int:
    """Sends the recorded emails of these rotations (services.rotation_emails_send); returns
    how many it took. django-q2 keeps a task's result in its database, pickled: the emails'
    rows would take their credential versions there, encrypted secrets included, beyond the
    reach of reencrypt_secrets."""
    return len(services.rotation_emails_send(rotation_ids=rotation_ids))
