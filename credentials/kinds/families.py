"""Families: how the portal groups kinds of credentials. A family is one tab of a business
unit, one permission to manage its credentials, and one resource of the headless API; the
words its pages use for what uses its credentials live here too, so that templates are given
decided values instead of asking `family == "as2"`."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from organizations.roles import Perm


class Family(models.TextChoices):
    SFTP = "sftp", "SFTP Credentials"
    AS2 = "as2", "AS2 Certificates"
    API = "api", "API Credentials"


@dataclass(frozen=True)
class FamilyInfo:
    key: str
    manage_perm: str
    user_noun: str  # what uses its credentials: "connection", "AS2 profile"
    user_with_article: str  # "a connection", "an AS2 profile"
    usage_tab: str  # the detail page's tab listing them
    usage_place: str  # the column saying where each of them points
    no_usage: str  # the tab when nothing uses the credential

    @property
    def label(self) -> str:
        return Family(self.key).label


_CONNECTIONS = {"user_noun": "connection", "user_with_article": "a connection",
                "usage_tab": "Connection Usage", "usage_place": "Host / endpoint",
                "no_usage": "No connection uses this credential."}

FAMILIES: dict[str, FamilyInfo] = {
    Family.SFTP: FamilyInfo(Family.SFTP, Perm.MANAGE_SFTP, **_CONNECTIONS),
    Family.AS2: FamilyInfo(
        Family.AS2, Perm.MANAGE_AS2, user_noun="AS2 profile", user_with_article="an AS2 profile",
        usage_tab="AS2 Profile Usage", usage_place="Partner AS2 ID",
        no_usage="No AS2 profile uses this certificate.",
    ),
    Family.API: FamilyInfo(Family.API, Perm.MANAGE_API, **_CONNECTIONS),
}
