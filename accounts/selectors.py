"""Reads for the profile page: the user's second factors and sessions, in a few queries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession

from organizations.models import Organization, User


@dataclass(frozen=True)
class SecondFactors:
    totp: Authenticator | None
    security_keys: list[Authenticator]
    recovery_codes: Authenticator | None
    recovery_codes_left: int

    @property
    def any(self) -> bool:
        return self.totp is not None or bool(self.security_keys)


def second_factors_of(user: User) -> SecondFactors:
    totp, keys, codes, left = None, [], None, 0
    for authenticator in Authenticator.objects.filter(user_id=user.pk).order_by("created_at"):
        if authenticator.type == Authenticator.Type.TOTP:
            totp = authenticator
        elif authenticator.type == Authenticator.Type.WEBAUTHN:
            keys.append(authenticator)
        elif authenticator.type == Authenticator.Type.RECOVERY_CODES:
            codes = authenticator
            left = len(authenticator.wrap().get_unused_codes())
    return SecondFactors(totp=totp, security_keys=keys, recovery_codes=codes,
                         recovery_codes_left=left)


@dataclass(frozen=True)
class SessionRow:
    device: str
    address: str
    signed_in: datetime
    last_seen: datetime
    current: bool


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))


def device_of(user_agent: str) -> str:
    """"Chrome on Linux" from a browser's User-Agent; the raw text when it is neither."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    if "HeadlessChrome/" in user_agent:
        browser = "Headless Chrome"
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or re.sub(r"\s+", " ", user_agent)[:80] or "Unknown device"


def sessions_of(user: User, current_key: str | None) -> list[SessionRow]:
    """The user's live sessions, newest activity first (ended ones are dropped on the way)."""
    sessions = UserSession.objects.purge_and_list(user)
    rows = [SessionRow(device=device_of(s.user_agent), address=s.ip, signed_in=s.created_at,
                       last_seen=s.last_seen_at, current=s.session_key == current_key)
            for s in sessions]
    return sorted(rows, key=lambda row: (not row.current, -row.last_seen.timestamp()))


def sso_account_of(user: User) -> SocialAccount | None:
    return SocialAccount.objects.filter(user_id=user.pk).first()


def organizations_of(user: User) -> list[Organization]:
    return list(Organization.objects.for_user(user).only("name", "slug"))
