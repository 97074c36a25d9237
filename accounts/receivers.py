"""The audit events of allauth's second-factor flows. allauth announces what its views did
with signals (its documented hook); each receiver only writes the event, through
accounts.services."""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from django.http import HttpRequest

from organizations.access import SECOND_FACTOR_TYPES, client_ip
from organizations.models import User

from .reauthentication import latest_proof
from .services import account_event_record

FACTOR_NAMES = {Authenticator.Type.TOTP: "authenticator app (TOTP)",
                Authenticator.Type.WEBAUTHN: "security key or passkey",
                Authenticator.Type.RECOVERY_CODES: "recovery codes"}


def _factor(authenticator: Authenticator) -> str:
    name = FACTOR_NAMES.get(authenticator.type, authenticator.type)
    if authenticator.type == Authenticator.Type.WEBAUTHN:
        label = authenticator.wrap().name
        return f"{name} “{label}”"
    return name


def _proof(request: HttpRequest) -> dict[str, Any]:
    """allauth asks for a fresh re-authentication before these changes: the event says so."""
    proof = latest_proof(request)
    if proof is None:
        return {}
    return {"reauthenticated_with": proof.words, "reauthenticated_at": proof.at}


def second_factor_added(sender: Any, request: HttpRequest, user: User,
                        authenticator: Authenticator, **kwargs: Any) -> None:
    account_event_record(user=user, action="user.second_factor_add",
                         source_ip=client_ip(request),
                         details={"factor": _factor(authenticator), **_proof(request)})


def second_factor_removed(sender: Any, request: HttpRequest, user: User,
                          authenticator: Authenticator, **kwargs: Any) -> None:
    remaining = Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTOR_TYPES)
    account_event_record(user=user, action="user.second_factor_remove",
                         source_ip=client_ip(request),
                         details={"factor": _factor(authenticator),
                                  "remaining_factors": remaining.count(), **_proof(request)})


def recovery_codes_reset(sender: Any, request: HttpRequest, user: User,
                         authenticator: Authenticator, **kwargs: Any) -> None:
    account_event_record(user=user, action="user.recovery_codes_reset",
                         source_ip=client_ip(request), details=_proof(request))
