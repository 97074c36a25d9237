"""Writing the audit trail. Call inside the transaction of the action being recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models, transaction

from organizations.access import Actor, user_of
from organizations.models import Organization

from .context import context_details
from .models import AuditEvent
from .times import iso_utc


def _jsonable(value: Any) -> Any:
    """Details as stored: datetimes (at any depth) as ISO 8601 UTC with Z (audit.times)."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def audit_record(
    *,
    action: str,
    actor: Actor,
    organization: Organization | None = None,
    target: models.Model | None = None,
    target_label: str = "",
    source_ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the action's transaction")
    return AuditEvent.objects.create(
        action=action,
        actor=user_of(actor),
        actor_label=actor.get_username(),
        organization=organization,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=target_label or (str(target) if target is not None else ""),
        source_ip=source_ip,
        # The block's details (audit.context: how the actor proved who they are) come first.
        details=_jsonable({**context_details(), **(details or {})}),
    )
