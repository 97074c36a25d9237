from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.db.models.functions import Lower

from organizations.models import Organization, User
from organizations.roles import Role


class InvitationState(models.TextChoices):
    PENDING = "pending", "Pending"
    EXPIRED = "expired", "Expired"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"


class Invitation(models.Model):
    """An invitation to join an organization, accepted by whoever holds the emailed link.

    Only a SHA-256 of the link's token is kept, so the table alone lets nobody accept. An
    invitation is open until it is accepted, revoked or past `expires_at`; one open
    invitation per address and organization (inviting again re-sends it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=20, choices=Role.choices)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(help_text="When the latest link was sent.")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"), "organization",
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.organization_id}"

    def __repr__(self) -> str:
        # Never the token hash: it is what a link is checked against.
        return f"<Invitation {self.pk} {self.email} {self.role}>"

    def state_at(self, now: datetime) -> InvitationState:
        if self.accepted_at is not None:
            return InvitationState.ACCEPTED
        if self.revoked_at is not None:
            return InvitationState.REVOKED
        if now >= self.expires_at:
            return InvitationState.EXPIRED
        return InvitationState.PENDING
