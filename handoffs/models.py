from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from credentials.models import Credential, CredentialVersion, VersionState

# Wrong passphrases a link takes before it locks for good (a database constraint too).
MAX_PASSPHRASE_ATTEMPTS = 5
# The versions whose secret a link may still give: about to work, working, or in overlap.
LIVE_VERSION_STATES = (VersionState.PENDING, VersionState.CURRENT, VersionState.PREVIOUS)


class HandoffState(models.TextChoices):
    OPEN = "open", "Open"
    SHOWN = "shown", "Shown"
    REVOKED = "revoked", "Revoked"
    LOCKED = "locked", "Locked"
    EXPIRED = "expired", "Expired"
    # Still open, but the version it gives stopped being in use (rotated away, its rotation
    # cancelled, expired) or the credential was deactivated: Show gives nothing.
    VOID = "void", "No longer in use"


class EmailState(models.TextChoices):
    PENDING = "pending", "Not sent yet"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Handoff(models.Model):
    """A one-time link that gives one version's secret to one partner contact, who needs no
    account. The secret is never copied: the hand-off points at its version, and Show decrypts
    it there. Only a SHA-256 of the link's token is kept, the passphrase only as a password
    hash. The link is spent by a conditional UPDATE of `shown_at`, so it shows the secret once
    however many requests race; the same for wrong passphrases counted and the lock."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="handoffs")
    version = models.ForeignKey(CredentialVersion, on_delete=models.CASCADE, related_name="+")
    recipient_name = models.CharField(max_length=200)
    recipient_email = models.EmailField(max_length=254)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    passphrase_hash = models.CharField(
        max_length=200, blank=True, editable=False,
        help_text="A password hash of the passphrase the partner is asked for; empty: none.",
    )
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    email_state = models.CharField(max_length=20, choices=EmailState.choices,
                                   default=EmailState.PENDING)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=200, blank=True)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    last_opened_at = models.DateTimeField(
        null=True, blank=True, help_text="The latest visit recorded (at most one a minute).")
    shown_at = models.DateTimeField(null=True, blank=True)
    shown_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    locked_at = models.DateTimeField(null=True, blank=True)
    expiry_recorded_at = models.DateTimeField(
        null=True, blank=True, help_text="When the sweep recorded that this link expired.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")),
                                   name="handoff_expires_after_creation"),
            models.CheckConstraint(condition=Q(failed_attempts__lte=MAX_PASSPHRASE_ATTEMPTS),
                                   name="handoff_attempts_bounded"),
        ]
        indexes = [
            models.Index(fields=["credential", "-created_at"]),
            # The sweep's question: open links past their expiry, not yet recorded.
            models.Index(fields=["expires_at"], name="handoff_open_by_expiry",
                         condition=Q(shown_at__isnull=True, revoked_at__isnull=True,
                                     locked_at__isnull=True, expiry_recorded_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"Hand-off of {self.credential_id} to {self.recipient_email}"

    def __repr__(self) -> str:
        # Never the token's or the passphrase's hash.
        return f"<Handoff {self.pk} to {self.recipient_email}>"

    @property
    def has_passphrase(self) -> bool:
        return bool(self.passphrase_hash)

    @property
    def recipient(self) -> str:
        return f"{self.recipient_name} <{self.recipient_email}>"

    def is_open_at(self, now: datetime) -> bool:
        """Whether the link itself still works (the version it gives aside)."""
        return (self.shown_at is None and self.revoked_at is None and self.locked_at is None
                and now < self.expires_at)

    def state_at(self, now: datetime) -> HandoffState:
        """What the link does now. Needs the version and its credential loaded."""
        if self.shown_at is not None:
            return HandoffState.SHOWN
        if self.revoked_at is not None:
            return HandoffState.REVOKED
        if self.locked_at is not None:
            return HandoffState.LOCKED
        if now >= self.expires_at:
            return HandoffState.EXPIRED
        if not self.secret_in_use_at(now):
            return HandoffState.VOID
        return HandoffState.OPEN

    def secret_in_use_at(self, now: datetime) -> bool:
        """A link gives its version's secret only while that secret is, or is about to be, in
        use: a retired, never-used or expired version, or a deactivated credential (the
        emergency stop), gives nothing."""
        return (self.version.state in LIVE_VERSION_STATES and not self.version.is_expired(now)
                and self.credential.is_active)
