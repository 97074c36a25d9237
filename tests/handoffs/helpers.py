"""Helpers of the hand-off tests: a hand-off made through the service (with its link's
token), and the link read back from an email."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.utils import timezone

from credentials.models import Credential
from handoffs.models import Handoff
from handoffs.services import Recipient, handoff_create
from organizations.access import Actor

LINK_RE = re.compile(r"https?://[^\s\"<>]+/handoff/[A-Za-z0-9_-]{43}/")
PASSPHRASE = "blue-harbour-crane-42"


def make_handoff(credential: Credential, actor: Actor, *, which: str = "current",
                 passphrase: str = "", lifetime: timedelta = timedelta(hours=72),
                 now: datetime | None = None, name: str = "Pat Partner",
                 email: str = "pat@partner.example") -> tuple[Handoff, str]:
    """(the hand-off, the token of its link), as handoff_send makes them before the email."""
    return handoff_create(credential=credential, which=which,
                          recipient=Recipient(name=name, email=email), lifetime=lifetime,
                          passphrase=passphrase, actor=actor, now=now or timezone.now())


def link_path(token: str) -> str:
    return f"/handoff/{token}/"


def link_in(text: str) -> str:
    """The one hand-off link in an email's text."""
    links = set(LINK_RE.findall(text))
    assert len(links) == 1, links
    return links.pop()
