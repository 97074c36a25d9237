"""How the audit log page shows an event's details: labelled rows of human values, times in
the viewer's zone. The CSV export shows the details as stored instead (JSON, times in UTC);
`export_details` only brings events written before audit.times into that form.

It decides nothing about what happened: it words what the services recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .times import iso_utc, parse_time

# The label of each detail services write, in the order the page shows them.
LABELS: dict[str, str] = {
    "mode": "Mode",
    "kind": "Kind",
    "action": "Action",
    "name": "Name",
    "version": "Version",
    "state": "State",
    "username": "User name",
    "client_id": "Client ID",
    "key_id": "Key ID",
    "fingerprint": "Fingerprint",
    "starts_at": "Starts",
    "overlap_ends_at": "Overlap ends",
    "expired_at": "Expired",
    "from": "Old version",
    "to": "New version",
    "new": "New version",
    "swapped_to": "Swapped to credential",
    "connections_moved": "Connections moved",
    "resumed": "Resumed after a restart",
    "trigger": "Trigger",
    "requested_by": "Requested by",
    "rotation": "Rotation",
    "reason": "Reason",
    "stage": "Stage",
    "outcome": "Outcome",
    "message": "Message",
    "host": "Host",
    "port": "Port",
    "host_fingerprint": "Host key",
    "entries": "Entries listed",
    "elapsed_ms": "Took",
    "method": "Method",
    "address": "Address",
    "path": "Path",
    "status": "Status",
    "role": "Role",
    "previous_role": "Previous role",
    "sessions_ended": "Sessions ended",
    "credential": "Credential",
    "active": "Active",
    "rotation_policy": "Rotation policy",
    "lifetime_days": "Lifetime",
    "notes": "Notes",
    "changed": "Changed",
    "file": "File",
    "bytes": "Size",
    "source": "Source",
    "import": "Import",
    "sha256": "SHA-256",
    "via": "Via",
    "api_key": "API key",
    "api_key_prefix": "API key prefix",
    "prefix": "Prefix",
    "required": "Required",
    "factor": "Second factor",
    "remaining_factors": "Second factors left",
    "reauthenticated_with": "Re-authenticated with",
    "reauthenticated_at": "Re-authenticated at",
    "contact": "Contact",
    "email": "Email",
    "connection": "Connection",
    "time_zone": "Time zone",
    "left_contact_list": "Left the unit's contact list",
}
UNITS = {"elapsed_ms": "ms", "lifetime_days": "days", "bytes": "bytes"}
# What an event is about, in words (the model name it records is for machines).
TARGET_KINDS = {"pendingimport": "import", "apikey": "API key", "hostkey": "host key",
                "credentialversion": "version", "partnercontact": "partner contact"}
_ORDER = {key: index for index, key in enumerate(LABELS)}


@dataclass(frozen=True)
class DetailRow:
    """One labelled detail: `time` when it is a time (the template shows it in the viewer's
    zone, as every time in the portal), else `text`."""

    label: str
    text: str = ""
    time: datetime | None = None


def _label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " ").capitalize())


def _ordered(details: dict[str, Any]) -> list[tuple[str, Any]]:
    # PostgreSQL's jsonb does not keep the written order; the page shows a fixed one.
    return sorted(details.items(), key=lambda item: (_ORDER.get(item[0], len(_ORDER)), item[0]))


def _word(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_word(item) for item in value)
    if isinstance(value, dict):
        return _phrase(value)
    return str(value)


def _phrase(summary: dict[str, Any]) -> str:
    """A version summary, or any nested detail, in one line: "version 4 (pending), client ID
    carrier-client"."""
    parts = []
    if "version" in summary:
        state = summary.get("state")
        # A version gets its number when it goes live; until then it is "a new version".
        number = summary["version"]
        name = f"version {number}" if number is not None else "a new version"
        parts.append(name + (f" ({state})" if state else ""))
    for key, value in _ordered(summary):
        if key in ("version", "state") and "version" in summary:
            continue
        label = _label(key)
        # Lower case inside a phrase, except labels with an acronym: "Client ID", "SHA-256".
        label = label if any(c.isupper() for c in label[1:]) else label.lower()
        when = parse_time(value)
        parts.append(f"{label} {iso_utc(when) if when else _word(value)}")
    return ", ".join(parts)


def target_kind(target_type: str) -> str:
    return TARGET_KINDS.get(target_type, target_type)


def detail_rows(details: dict[str, Any] | None) -> list[DetailRow]:
    rows = []
    for key, value in _ordered(details or {}):
        when = parse_time(value)
        if when is not None:
            rows.append(DetailRow(_label(key), time=when))
            continue
        text = _word(value)
        if key in UNITS and text != "—":
            text = f"{text} {UNITS[key]}"
        rows.append(DetailRow(_label(key), text=text))
    return rows


def export_details(value: Any) -> Any:
    """Details for the CSV: as stored, with times of older events in the ISO 8601 UTC form
    that audit_record writes today."""
    if isinstance(value, dict):
        return {key: export_details(item) for key, item in value.items()}
    if isinstance(value, list):
        return [export_details(item) for item in value]
    when = parse_time(value)
    return iso_utc(when) if when else value
