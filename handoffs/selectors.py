"""Reads of hand-offs, with their joins applied; the versions' ciphertext is never loaded."""

from __future__ import annotations

import re

from django.db.models import QuerySet

from credentials.models import Credential

from .models import Handoff
from .services import TOKEN_PATTERN, token_hash

TOKEN_RE = re.compile(TOKEN_PATTERN)
# The newest hand-offs a credential's page lists (the audit log keeps them all).
SECTION_ROWS = 25


def _with_relations(handoffs: QuerySet[Handoff]) -> QuerySet[Handoff]:
    return handoffs.select_related(
        "credential__business_unit__organization", "version", "created_by", "revoked_by",
    ).defer("version__secret_ciphertext")


def handoff_by_token(token: str) -> Handoff | None:
    """The hand-off a link leads to, whatever its state; None for a token no link has."""
    if not TOKEN_RE.fullmatch(token):
        return None
    return _with_relations(Handoff.objects.filter(token_hash=token_hash(token))).first()


def handoff_of_credential(credential: Credential, pk: object) -> Handoff:
    """One hand-off of this credential; Handoff.DoesNotExist for any other id."""
    return _with_relations(Handoff.objects.filter(credential=credential)).get(pk=pk)


def handoffs_for_credential(credential: Credential) -> list[Handoff]:
    """Its newest hand-offs, SECTION_ROWS at most, and one more if there are more."""
    return list(_with_relations(Handoff.objects.filter(credential=credential))
                .order_by("-created_at")[:SECTION_ROWS + 1])
