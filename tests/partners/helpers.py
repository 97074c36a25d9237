"""Helpers of the partner contact tests: a contact made through the service, and the opt-out
link read back from an email."""

from __future__ import annotations

import re

from credentials.models import Connection, Credential
from organizations.access import Actor
from partners.models import PartnerContact
from partners.services import ContactFields, partner_contact_add

OPT_OUT_RE = re.compile(r"https?://[^\s\"<>]+/email/opt-out/(?:partner|member)/[^\s\"<>/]+/")


def make_contact(owner: Connection | Credential, actor: Actor, *, name: str = "Dana Weber",
                 email: str = "dana@partner.example", time_zone: str = "",
                 note: str = "") -> PartnerContact:
    return partner_contact_add(owner=owner, fields=ContactFields(
        name=name, email=email, note=note, time_zone=time_zone), actor=actor)


def opt_out_link(text: str) -> str:
    links = set(OPT_OUT_RE.findall(text))
    assert len(links) == 1, links
    return links.pop()
