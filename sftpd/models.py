"""The built-in SFTP endpoint's tables: its host key, the transfer log and failed logins."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from credentials.models import Credential, CredentialVersion
from organizations.models import BusinessUnit


class HostKey(models.Model):
    """The endpoint's SSH host key. The newest row is the one the server presents; the private
    key is encrypted under the key ring and bound to this row (never a plaintext file)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    public_key = models.TextField(help_text="One OpenSSH line.")
    fingerprint = models.CharField(max_length=128)
    private_key_ciphertext = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return self.fingerprint

    def __repr__(self) -> str:
        return f"<HostKey {self.fingerprint} private=***>"

    @property
    def aad(self) -> str:
        return f"sftpd-host-key:{self.pk}"

    @property
    def key_type(self) -> str:
        return self.public_key.split()[0]


class Direction(models.TextChoices):
    UPLOAD = "upload", "Upload"
    DOWNLOAD = "download", "Download"


class TransferLog(models.Model):
    """One file a partner uploaded or downloaded, written when the file handle closes."""

    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.CASCADE, related_name="sftp_transfers"
    )
    # Kept (as NULL) if a credential is ever deleted: the username says who it was.
    credential = models.ForeignKey(
        Credential, null=True, on_delete=models.SET_NULL, related_name="sftp_transfers"
    )
    version = models.ForeignKey(
        CredentialVersion, null=True, on_delete=models.SET_NULL, related_name="sftp_transfers"
    )
    username = models.CharField(max_length=200)
    file_name = models.CharField(max_length=1000, help_text="Path inside the unit's folder.")
    size = models.BigIntegerField(help_text="Bytes: the file's size after an upload, the bytes "
                                  "sent for a download.")
    direction = models.CharField(max_length=10, choices=Direction.choices)
    completed = models.BooleanField(
        default=True, help_text="False when the session ended with the file still open."
    )
    remote_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["business_unit", "-at"]),
            models.Index(fields=["version", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.file_name} by {self.username}"


class FailedLogin(models.Model):
    """A refused SFTP login. Counted per address to slow down guessing; never holds the
    attempted password or key."""

    address = models.GenericIPAddressField()
    username = models.CharField(max_length=200)
    method = models.CharField(max_length=20)
    reason = models.CharField(max_length=40)
    business_unit = models.ForeignKey(
        BusinessUnit, null=True, blank=True, on_delete=models.CASCADE,
        related_name="sftp_failed_logins",
        help_text="The unit whose credential the user name belongs to, when it is known.",
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["address", "at"]),
            models.Index(fields=["business_unit", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.address} ({self.reason})"
