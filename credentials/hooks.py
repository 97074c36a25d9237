"""Where the apps above credentials plug into its work, so that credentials never imports
them. Each is filled once, by the upper app's AppConfig.ready():

- ROTATION_OUTCOME_HANDLERS: called with (rotations=, background=) inside the transaction that
  completes or fails rotations (one, or a batch of the scheduled pass; notifications records
  their emails there, and sends them after commit). A handler that cannot record its part
  fails the transaction with it.
- CONNECTION_TESTERS: connection kind -> a function testing that connection with a given
  version (sftpd tests outbound SFTP connections); a rotation that asks for it tests every
  active connection of a kind listed here before it switches.
- HISTORY_SECTIONS: functions of a credential that return a section of its History tab
  (notifications lists the emails sent about it).
- MANAGE_ACTIONS: functions of (credential, user) that return entries of its Manage menu,
  {"label": ..., "url": ...}, only those this user may use now (handoffs adds "Send to
  partner").
- DETAIL_SECTIONS: functions of (credential, user) that return a section of its Details tab,
  or None when this user is not to see one (credentials.usage_views shows how each version
  is used and the Cut-over panel; handoffs lists the credential's hand-offs; partners an API
  client's partner contacts).
- CONNECTION_SECTIONS: functions of (connection, user) that return a section of a saved
  connection's page, or None (partners lists the connection's partner contacts).

The scheduled pass is composed in settings instead (KEYTURN_SWEEP_STEPS), where its order is
written down once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class ConnectionTestOutcome(Protocol):
    ok: bool
    message: str


@dataclass(frozen=True)
class HistorySection:
    template_name: str
    context: dict[str, Any]


@dataclass(frozen=True)
class DetailSection:
    template_name: str
    context: dict[str, Any]


ROTATION_OUTCOME_HANDLERS: list[Callable[..., object]] = []
CONNECTION_TESTERS: dict[str, Callable[..., ConnectionTestOutcome]] = {}
HISTORY_SECTIONS: list[Callable[[Any], HistorySection]] = []
MANAGE_ACTIONS: list[Callable[[Any, Any], list[dict[str, str]]]] = []
DETAIL_SECTIONS: list[Callable[[Any, Any], DetailSection | None]] = []
CONNECTION_SECTIONS: list[Callable[[Any, Any], DetailSection | None]] = []


def register(registry: list[Callable[..., Any]], function: Callable[..., Any]) -> None:
    """Adds `function` once (ready() may run more than once in tests)."""
    if function not in registry:
        registry.append(function)
