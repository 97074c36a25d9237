"""Partner contacts: the people at a partner who use a connection or an API client
credential, and who hear about its reminders and rotations (notifications.audiences)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from credentials.models import Connection, Credential
from organizations.models import validate_time_zone


class PartnerContact(models.Model):
    """Attached to exactly one of a connection or an API client credential (a database
    constraint). `opted_out_at` is set by the opt-out link of any email it received: from
    then on it gets no email about reminders or rotations."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.CASCADE,
        related_name="partner_contacts",
    )
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.CASCADE,
        related_name="partner_contacts",
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(max_length=254)
    note = models.CharField(max_length=500, blank=True)
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[validate_time_zone],
        help_text="Where the contact works; emails say their times in it, and in UTC.",
    )
    opted_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "email"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(connection__isnull=False, credential__isnull=True)
                           | Q(connection__isnull=True, credential__isnull=False)),
                name="partner_contact_of_one_thing",
            ),
            models.UniqueConstraint(fields=["connection", "email"],
                                    condition=Q(connection__isnull=False),
                                    name="one_contact_per_connection_email"),
            models.UniqueConstraint(fields=["credential", "email"],
                                    condition=Q(credential__isnull=False),
                                    name="one_contact_per_credential_email"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def attached_to(self) -> Connection | Credential:
        return self.connection if self.connection_id else self.credential  # type: ignore[return-value]
