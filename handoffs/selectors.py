"""Reads of hand-offs, with their joins applied; the versions' ciphertext is never loaded."""

from __future__ import annotations

import re

from django.db.models import QuerySet

from config.instances import columns, prefixed, take
from config.prepared import PreparedQuery
from credentials.models import Credential, CredentialVersion
from organizations.models import User

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


_HANDOFF_COLUMNS = columns(Handoff)
_VERSION_COLUMNS = tuple(name for name in columns(CredentialVersion)
                         if name not in ("secret_ciphertext", "secret_digest"))
_USER_COLUMNS = columns(User, ("id", "username"))
_HANDOFFS_OF = PreparedQuery(
    lambda p: Handoff.objects.filter(credential=p["credential"]).values_list(
        *_HANDOFF_COLUMNS, *prefixed("version", _VERSION_COLUMNS),
        *prefixed("created_by", _USER_COLUMNS), *prefixed("revoked_by", _USER_COLUMNS),
    ).order_by("-created_at")[:SECTION_ROWS + 1],
    credential=Handoff._meta.get_field("credential"),
)


def handoffs_for_credential(credential: Credential) -> list[Handoff]:
    """Its newest hand-offs, SECTION_ROWS at most, and one more if there are more, each with
    its version (never its secret) and who sent and revoked it: one prepared query (every
    credential page's Details tab asks)."""
    handoffs = []
    for row in _HANDOFFS_OF.rows(credential=credential.pk):
        values = iter(row)
        handoff = take(values, Handoff, _HANDOFF_COLUMNS)
        handoff.credential = credential
        handoff.version = take(values, CredentialVersion, _VERSION_COLUMNS)
        handoff.created_by = take(values, User, _USER_COLUMNS)
        handoff.revoked_by = take(values, User, _USER_COLUMNS)
        handoffs.append(handoff)
    return handoffs
