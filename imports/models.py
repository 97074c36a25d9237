from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from organizations.models import Organization, User


class ImportSource(models.TextChoices):
    UPLOAD = "upload", "Upload"
    DROP_FOLDER = "drop_folder", "Drop folder"


class ImportState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPLIED = "applied", "Applied"
    DISCARDED = "discarded", "Discarded"
    FAILED = "failed", "Failed"


class ImportAction(models.TextChoices):
    ADD = "add", "Add as new credential"
    UPDATE = "update", "Update Existing Credential"


class PendingImportQuerySet(models.QuerySet):
    def for_user(self, user: User) -> PendingImportQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(organization__memberships__user=user)


class PendingImport(models.Model):
    """A managed credential payload received for an organization and waiting for an
    administrator to add it as a new credential or apply it to an existing one.

    The payload is stored as received: it is encrypted under the sender's password, which
    Keyturn never keeps. The same file counts once per organization (sha256 is unique), so a
    drop folder scanned twice, or a file uploaded again, does not queue it twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="pending_imports"
    )
    source = models.CharField(max_length=20, choices=ImportSource.choices)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    file_name = models.CharField(max_length=255)
    payload = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(
        max_length=20, choices=ImportState.choices, default=ImportState.PENDING
    )
    action = models.CharField(max_length=20, choices=ImportAction.choices, blank=True)
    credential = models.ForeignKey(
        "credentials.Credential", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="The credential the import added or updated.",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    result_note = models.TextField(blank=True)

    objects = PendingImportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "sha256"], name="one_import_per_payload"
            ),
        ]
        indexes = [models.Index(fields=["organization", "state"])]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.state})"

    def __repr__(self) -> str:
        return f"<PendingImport {self.pk} {self.file_name!r} {self.state} payload=***>"

    @property
    def payload_bytes(self) -> bytes:
        # PostgreSQL hands BinaryField back as memoryview, SQLite as bytes.
        return bytes(self.payload)
