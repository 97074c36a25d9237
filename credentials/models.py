from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from organizations.models import BusinessUnit, User

from .kinds import CredentialKind, Family, kind_for


class Kind(models.TextChoices):
    """The kinds the database knows. Each has its CredentialKind in credentials.kinds, which
    decides everything about it (a test keeps the two lists the same)."""

    SFTP_PASSWORD = "sftp_password", "SFTP password"
    SFTP_KEY = "sftp_key", "SFTP key"
    AS2_CERTIFICATE = "as2_certificate", "AS2 certificate"
    API_CLIENT_SECRET = "api_client_secret", "API client secret"
    API_KEY = "api_key", "API key"


class RotationPolicy(models.TextChoices):
    REMINDERS = "reminders", "Reminders only"
    AUTOMATIC = "automatic", "Automatic rotation"


# How long a version lives when nobody says otherwise: a new credential's lifetime.
DEFAULT_LIFETIME_DAYS = 180


class CredentialQuerySet(models.QuerySet):
    def for_user(self, user: User) -> CredentialQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.visible_to(user.pk)

    def visible_to(self, user_id: object) -> CredentialQuerySet:
        """The credentials of the organizations the (signed-in) user with this id is a member
        of; for_user when the user is at hand."""
        return self.filter(business_unit__organization__memberships__user=user_id)


class Credential(models.Model):
    """A named credential of one kind. It keeps its identity, connections and history across
    rotations; each generation of secret material is a CredentialVersion."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.PROTECT, related_name="credentials"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(
        default=True, help_text="A deactivated credential works nowhere until reactivated."
    )
    rotation_policy = models.CharField(
        max_length=20, choices=RotationPolicy.choices, default=RotationPolicy.REMINDERS
    )
    lifetime_days = models.PositiveIntegerField(
        default=DEFAULT_LIFETIME_DAYS, help_text="How long a newly generated version stays valid."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = CredentialQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [
            # A unit's credentials of some kinds; with created_at and id in it, a page of them
            # oldest first (the headless API's lists) is read from the index alone instead of
            # from every matching row, which cost 4 ms at 7,000 credentials.
            models.Index(fields=["business_unit", "kind", "created_at", "id"],
                         name="credential_unit_kind_created"),
            # A list page by name: each unit's credentials read in name order from the index
            # alone, and the reading stops once a page is full (SQLite sorted every matching
            # row first, 2 ms at 10,000).
            models.Index(fields=["business_unit", "name", "id"], name="credential_unit_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def kind_spec(self) -> CredentialKind:
        """What knows this credential's kind; an unregistered kind raises UnknownKind."""
        return kind_for(self.kind)

    @property
    def family(self) -> str:
        return self.kind_spec.family

    @property
    def manage_perm(self) -> str:
        return self.kind_spec.manage_perm

    @property
    def organization(self) -> object:
        return self.business_unit.organization


class CredentialTally(models.Model):
    """How many credentials of each kind a business unit holds, kept by the database itself:
    triggers on the credentials' table (migration 0013) count every insert and delete and
    every move to another unit or kind, whatever makes it (a service, bulk_create, an import,
    the demo, a cascade, SQL by hand), in the same transaction. Counting an organization's
    credentials of some kinds reads a few of these rows instead of every credential. A
    migration that rebuilds the credentials' table on SQLite (Django does for many field
    changes) drops its triggers with it, and must create them again."""

    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    total = models.IntegerField(default=0)

    class Meta:
        constraints = [
            # The triggers' upsert (INSERT ... ON CONFLICT) targets it.
            models.UniqueConstraint(fields=["business_unit", "kind"],
                                    name="credential_tally_unit_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} in unit {self.business_unit_id}: {self.total}"


class VersionState(models.TextChoices):
    PENDING = "pending", "Pending"
    CURRENT = "current", "Current"
    PREVIOUS = "previous", "Previous (in overlap)"
    RETIRED = "retired", "Retired"
    # Withdrawn before it ever became current: its rotation was cancelled, failed (a retry
    # makes it pending again) or was replaced. It never worked and has no version number.
    UNUSED = "unused", "Never used"


# States of versions that have not gone live (yet): they carry no number.
UNNUMBERED_STATES = (VersionState.PENDING, VersionState.UNUSED)


class CredentialVersion(models.Model):
    """One generation of a credential's material: public parts in the clear, the secret
    encrypted under the key ring (credentials.crypto), bound to this row's id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="1, 2, 3... in the order versions went live; none until then, so a "
                  "cancelled or failed rotation uses up no number.",
    )
    state = models.CharField(max_length=20, choices=VersionState.choices)
    username = models.CharField(max_length=200, blank=True)
    client_id = models.CharField(max_length=200, blank=True, db_index=True)
    key_id = models.CharField(max_length=200, blank=True)
    public_key = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=128, blank=True, db_index=True)
    certificate_pem = models.TextField(blank=True)
    # As long as the certificate's: RFC 5280 bounds each attribute of a name, not their number.
    cert_subject = models.TextField(blank=True)
    cert_issuer = models.TextField(blank=True)
    cert_serial = models.CharField(max_length=100, blank=True)
    cert_not_before = models.DateTimeField(null=True, blank=True)
    secret_ciphertext = models.TextField()
    secret_digest = models.CharField(max_length=64, blank=True, db_index=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expiry_recorded_at = models.DateTimeField(
        null=True, blank=True, help_text="When the sweep recorded that this version expired."
    )
    stops_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When a scheduled rotation stops this version (its start, or its overlap "
                  "end), whether or not a job has run by then; cleared if it is cancelled or "
                  "fails.",
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["credential", "number"], name="unique_version_number"),
            models.UniqueConstraint(
                fields=["credential"], condition=Q(state="current"), name="one_current_version"
            ),
            models.UniqueConstraint(
                fields=["credential"], condition=Q(state="pending"), name="one_pending_version"
            ),
            models.UniqueConstraint(
                fields=["credential"], condition=Q(state="previous"), name="one_previous_version"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="version_valid_window",
            ),
            models.CheckConstraint(
                condition=Q(number__isnull=True, state__in=["pending", "unused"])
                | (Q(number__isnull=False) & ~Q(state__in=["pending", "unused"])),
                name="version_numbered_once_live",
            ),
        ]
        indexes = [
            # The sweep's plan (versions of a state whose end falls in a window), and the
            # overview's and lists' expired and expiring credentials, in expiry order.
            models.Index(fields=["state", "valid_until"]),
            # A page's or a batch's current versions of its credentials: without it SQLite reads
            # every current version to find 50 (a page) or 100 (a batch) of them.
            models.Index(fields=["credential", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.credential_id} v{self.number} ({self.state})"

    def __repr__(self) -> str:
        return f"<CredentialVersion {self.pk} v{self.number} {self.state} secret=***>"

    @property
    def aad(self) -> str:
        return f"credential-version:{self.pk}"

    def is_expired(self, now: datetime) -> bool:
        return self.valid_until is not None and now >= self.valid_until

    def works_at(self, now: datetime) -> bool:
        """Whether this version authenticated at `now` (a request's arrival time).

        Time alone decides the edges: an expired or overlapped-out version, or one a scheduled
        rotation stops, stops at its exact time even if no job has run, and a version retired
        after `now` still served a request that arrived before its retirement.
        """
        if self.state == VersionState.UNUSED:
            return False
        if not self.credential.is_active or now < self.valid_from or self.is_expired(now):
            return False
        if self.stops_at is not None and now >= self.stops_at:
            return False
        if self.state == VersionState.RETIRED:
            return self.retired_at is not None and now < self.retired_at
        return True


class ConnectionKind(models.TextChoices):
    INBOUND_SFTP = "inbound_sftp", "Inbound SFTP"
    OUTBOUND_SFTP = "outbound_sftp", "Outbound SFTP"
    AS2_PROFILE = "as2_profile", "AS2 profile"
    API_INTEGRATION = "api_integration", "API integration"


# The family of credentials each kind of connection uses: a connection may use any credential
# of its family, and who manages that family manages the connection.
CONNECTION_FAMILY: dict[str, str] = {
    ConnectionKind.INBOUND_SFTP: Family.SFTP,
    ConnectionKind.OUTBOUND_SFTP: Family.SFTP,
    ConnectionKind.AS2_PROFILE: Family.AS2,
    ConnectionKind.API_INTEGRATION: Family.API,
}


def connection_kinds_for(family: str) -> list[str]:
    """The kinds of connection that may use a credential of `family`, in ConnectionKind's
    order."""
    return [kind for kind, fits in CONNECTION_FAMILY.items() if fits == family]


class ConnectionQuerySet(models.QuerySet):
    def for_user(self, user: User) -> ConnectionQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(business_unit__organization__memberships__user=user)


class Connection(models.Model):
    """Something that uses a credential: an SFTP connection, an AS2 profile, an API
    integration."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.PROTECT, related_name="connections"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=ConnectionKind.choices)
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.PROTECT, related_name="connections"
    )
    is_active = models.BooleanField(default=True)
    hostname = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    remote_path = models.CharField(max_length=500, blank=True, default="/")
    host_key_fingerprint = models.CharField(
        max_length=128, blank=True, help_text="Pinned SHA256 fingerprint of the server's host key."
    )
    partner_as2_id = models.CharField(max_length=128, blank=True)
    endpoint_url = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RotationMode(models.TextChoices):
    IMMEDIATE = "immediate", "Immediate"
    SCHEDULED = "scheduled", "Scheduled"
    AUTOMATIC = "automatic", "Automatic"


class RotationState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


OPEN_ROTATION_STATES = (RotationState.SCHEDULED, RotationState.RUNNING)


class RotationQuerySet(models.QuerySet):
    def open(self) -> RotationQuerySet:
        """Scheduled or running: at most one per credential (a database constraint)."""
        return self.filter(state__in=OPEN_ROTATION_STATES)


class Rotation(models.Model):
    """A switch from one version to another (or, for a swap, to another credential)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="rotations")
    from_version = models.ForeignKey(
        CredentialVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_version = models.ForeignKey(
        CredentialVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    replacement = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="For a swap: the existing credential the connections move to.",
    )
    mode = models.CharField(max_length=20, choices=RotationMode.choices)
    state = models.CharField(
        max_length=20, choices=RotationState.choices, default=RotationState.SCHEDULED
    )
    starts_at = models.DateTimeField()
    overlap_ends_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    failure_reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claim = models.UUIDField(
        null=True, blank=True, db_index=True,
        help_text="The token of the sweep batch that last claimed it: a batch claims many "
                  "rotations in one UPDATE and reads back those it won by this token.",
    )
    test_before_switch = models.BooleanField(
        default=False,
        help_text="Test the outbound connections with the new material before switching.",
    )
    to_kind = models.CharField(
        max_length=30, choices=Kind.choices, blank=True,
        help_text="The kind the credential takes at the switch, when the new material is of "
                  "the other SFTP kind (password or key).",
    )

    objects = RotationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["credential"], condition=Q(state__in=["scheduled", "running"]),
                name="one_open_rotation",
            ),
            models.CheckConstraint(
                condition=Q(overlap_ends_at__isnull=True)
                | Q(overlap_ends_at__gt=models.F("starts_at")),
                name="overlap_after_start",
            ),
            models.CheckConstraint(
                condition=~(Q(to_version__isnull=False) & Q(replacement__isnull=False)),
                name="rotation_one_target",
            ),
        ]
        indexes = [
            # The sweep's due rotations, and the overview's scheduled rotations in (start, id)
            # order: with the id, PostgreSQL reads the first 20 from it too.
            models.Index(fields=["state", "starts_at", "id"]),
            # Status pages ask "does this credential have a scheduled rotation?" per row.
            models.Index(fields=["credential", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} rotation of {self.credential_id} ({self.state})"


class UseChannel(models.TextChoices):
    """How a version was used (credentials.usage records each)."""

    SFTP_LOGIN = "sftp_login", "SFTP login"
    SFTP_LOGIN_OLD_USERNAME = "sftp_login_failed_old_username", \
        "Refused SFTP login with this version's user name"
    TOKEN = "token", "Token request"
    NEW_CREDENTIALS = "new_credentials", "New-credentials request"
    CONNECTION_TEST = "connection_test", "Connection test"


class VersionUse(models.Model):
    """Who used a version, how often, and from where: one row per version, written at most
    once a minute per version (credentials.usage keeps the uses in between in memory)."""

    version = models.OneToOneField(
        CredentialVersion, primary_key=True, on_delete=models.CASCADE, related_name="use"
    )
    first_used_at = models.DateTimeField()
    first_source = models.CharField(max_length=300, blank=True)
    last_used_at = models.DateTimeField()
    last_source = models.CharField(max_length=300, blank=True)
    count = models.PositiveBigIntegerField(default=0)
    # The last SOURCE_LIMIT distinct addresses, newest first: [{"address", "at", "channel"}].
    sources = models.JSONField(default=list)
    # Uses per channel: {"sftp_login": 12, "token": 3}.
    channels = models.JSONField(default=dict)
    # Uses per hour for the last two days ({"2026-11-30T03": 5}), for "in the last 24 hours".
    hours = models.JSONField(default=dict)
    # When a process last wrote this row: the claim that keeps writes to one a minute.
    written_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["last_used_at"])]

    def __str__(self) -> str:
        return f"use of {self.version_id}: {self.count}"
