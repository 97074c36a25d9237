"""API keys of the headless REST API, and the request log behind the per-client rate limit.

Access tokens of API clients have no table: they are signed (django.core.signing) and carry
their version and expiry, so issuing one costs no write (see api/authentication.py).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from organizations.access import SystemActor
from organizations.models import Organization, User


class ApiKeyQuerySet(models.QuerySet):
    def for_user(self, user: User) -> ApiKeyQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(organization__memberships__user=user)


class ApiKey(models.Model):
    """A key for the headless API of one organization. Only a keyed hash of the key is
    kept; the key itself is shown once, when it is created.

    A key reads `kt_<prefix>_<secret>`: the prefix finds the row, the keyed hash of the
    whole key decides."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_digest = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Names tell keys apart in the list and the audit trail; a revoked key frees its name.
            models.UniqueConstraint(
                fields=["organization", "name"], condition=Q(revoked_at__isnull=True),
                name="unique_live_api_key_name",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (kt_{self.prefix}_…)"

    def __repr__(self) -> str:
        return f"<ApiKey {self.prefix} {self.name!r} digest=***>"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def display_prefix(self) -> str:
        return f"kt_{self.prefix}_…"

    @property
    def actor(self) -> SystemActor:
        """Who acts in a request made with this key: Keyturn on the key's behalf, in its
        organization only, named in the audit trail by the key's name and prefix."""
        return SystemActor(label=f'API key "{self.name}" (kt_{self.prefix})',
                           organization_id=self.organization_id)


class RateLimitHit(models.Model):
    """One counted request of a rate-limited endpoint. Counting rows (under a row lock of
    the client's credential) gives an exact sliding window that holds across processes."""

    bucket = models.CharField(max_length=250)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["bucket", "at"])]

    def __str__(self) -> str:
        return f"{self.bucket} at {self.at:%Y-%m-%d %H:%M:%S}"
