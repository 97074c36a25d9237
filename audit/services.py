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


# The label columns' limits. A label names the actor or the target for people (the target's
# type and id are kept whole, and details keep every value): a longer one, such as a partner
# contact's name and address, or an opt-out link's address, is shortened rather than refused
# with the action it records.
ACTOR_LABEL_MAX = AuditEvent._meta.get_field("actor_label").max_length
TARGET_LABEL_MAX = AuditEvent._meta.get_field("target_label").max_length


def _fields(
    *,
    action: str,
    actor: Actor,
    organization: Organization | None = None,
    target: models.Model | None = None,
    target_label: str = "",
    source_ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return dict(
        action=action,
        actor=user_of(actor),
        actor_label=actor.get_username()[:ACTOR_LABEL_MAX],
        organization=organization,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=(target_label or (str(target) if target is not None else ""))[
            :TARGET_LABEL_MAX],
        source_ip=source_ip,
        # The block's details (audit.context: how the actor proved who they are) come first.
        details=_jsonable({**context_details(), **(details or {})}),
    )


def _require_transaction(name: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{name} must run inside the action's transaction")


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
    _require_transaction("audit_record")
    return AuditEvent.objects.create(**_fields(
        action=action, actor=actor, organization=organization, target=target,
        target_label=target_label, source_ip=source_ip, details=details))


def audit_record_many(events: list[dict[str, Any]]) -> list[AuditEvent]:
    """Writes many events in one statement, each given as audit_record's keyword arguments:
    the scheduled pass records a batch of changes in one transaction."""
    _require_transaction("audit_record_many")
    if not events:
        return []
    return AuditEvent.objects.bulk_create([AuditEvent(**_fields(**event)) for event in events])
