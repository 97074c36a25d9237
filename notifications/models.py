from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Milestone(models.TextChoices):
    DAY_30 = "day_30", "30 days before expiry"
    DAY_14 = "day_14", "14 days before expiry"
    DAY_7 = "day_7", "7 days before expiry"
    DAY_1 = "day_1", "1 day before expiry"
    ROTATION_COMPLETE = "rotation_complete", "Rotation complete"
    ROTATION_FAILED = "rotation_failed", "Rotation failed"


EXPIRY_MILESTONES = (Milestone.DAY_30, Milestone.DAY_14, Milestone.DAY_7, Milestone.DAY_1)
# The reminders that say whether the expiring version is still in use (credentials.usage).
LAST_CALL_MILESTONES = (Milestone.DAY_7, Milestone.DAY_1)


class NotificationState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """One email about a credential, and the outbox it waits in. A reminder's row is created
    as its claim, just before the email is sent; a rotation's row is recorded in the
    transaction that completes or fails the rotation, unclaimed (`claimed_at` empty), and
    claimed by whoever sends it first. Its unique constraints make a second send of the same
    milestone impossible."""

    credential = models.ForeignKey(
        "credentials.Credential", on_delete=models.CASCADE, related_name="notifications"
    )
    version = models.ForeignKey(
        "credentials.CredentialVersion", null=True, blank=True, on_delete=models.CASCADE,
        related_name="notifications",
    )
    rotation = models.ForeignKey(
        "credentials.Rotation", null=True, blank=True, on_delete=models.CASCADE,
        related_name="notifications",
    )
    milestone = models.CharField(max_length=30, choices=Milestone.choices)
    subject = models.CharField(max_length=300)
    recipients = models.TextField(help_text="One address a line.")
    state = models.CharField(
        max_length=20, choices=NotificationState.choices, default=NotificationState.PENDING
    )
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="How often it was claimed.")
    claimed_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When a worker last took this email to send it; empty: recorded, not taken.",
    )
    claim = models.UUIDField(
        null=True, blank=True, db_index=True,
        help_text="The token of the batch that last claimed it: a batch claims many emails in "
                  "one statement and reads back those it won by this token.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "milestone"],
                condition=Q(milestone__in=["day_30", "day_14", "day_7", "day_1"]),
                name="one_reminder_per_version_milestone",
            ),
            models.UniqueConstraint(
                fields=["rotation", "milestone"],
                condition=Q(milestone__in=["rotation_complete", "rotation_failed"]),
                name="one_rotation_email_per_milestone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_milestone_display()} for {self.credential_id}"


class ReminderOptOut(models.Model):
    """A user who does not want reminder emails about one business unit's credentials."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminder_opt_outs"
    )
    business_unit = models.ForeignKey(
        "organizations.BusinessUnit", on_delete=models.CASCADE, related_name="reminder_opt_outs"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "business_unit"], name="one_opt_out"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} opts out of {self.business_unit_id}"
