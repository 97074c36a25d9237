"""Decisions and writes of the built-in SFTP endpoint: who may log in, what a login, a refusal
and a transfer leave behind, the host key, and pinning a partner server's host key.

The one rule for whether a version authenticates is `CredentialVersion.works_at(now)`, with
`now` taken when the login attempt arrives: an immediate rotation refuses the old password on
the very next attempt, and an overlap ends at its exact second whether or not a job has run.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from credentials import crypto
from credentials.crypto import KeyRingError
from credentials.models import Connection, Credential, CredentialVersion, VersionState
from credentials.rotation.automatic import version_activate
from credentials.services import version_secret, version_summary
from organizations.access import SYSTEM, Actor, require_perm
from organizations.models import BusinessUnit

from . import selectors
from .models import Direction, FailedLogin, HostKey, TransferLog

logger = logging.getLogger(__name__)

# --- Host key ------------------------------------------------------------------------------


@transaction.atomic
def host_key_create() -> HostKey:
    """A new Ed25519 host key, encrypted under the key ring and bound to its row. The newest
    host key is the one the server presents (from its next start)."""
    private_key, info = crypto.generate_ssh_key()
    host_key = HostKey(public_key=info.public_key, fingerprint=info.fingerprint)
    host_key.private_key_ciphertext = crypto.key_ring().encrypt(private_key, aad=host_key.aad)
    host_key.save()
    audit_record(
        action="sftp.host_key_create", actor=SYSTEM, target=host_key,
        details={"fingerprint": host_key.fingerprint},
    )
    return host_key


def host_key_get_or_create() -> HostKey:
    """The server's host key: generated on the first start, then kept."""
    return selectors.current_host_key() or host_key_create()


def host_key_private(host_key: HostKey) -> str:
    """The host key's private key in OpenSSH format; only the server calls this."""
    return crypto.key_ring().decrypt(host_key.private_key_ciphertext, aad=host_key.aad)


# --- Folders -------------------------------------------------------------------------------


def unit_folder(unit: BusinessUnit) -> Path:
    """Where a business unit's partners' files live: <root>/<organization>/<unit>. Slugs
    cannot contain '/' or '..', so the folder is always inside the root."""
    return Path(settings.KEYTURN_SFTP_ROOT) / unit.organization.slug / unit.slug


# --- Slowing down guessing -----------------------------------------------------------------

FAILURE_WINDOW = timedelta(minutes=15)
FREE_FAILURES = 3  # typos cost nothing
FIRST_DELAY = 1.0
MAX_DELAY = 16.0  # below clients' usual 30-second authentication timeout
REFUSE_AFTER = 30  # failures in the window: further attempts are refused unchecked
FAILED_LOGIN_RETENTION = timedelta(days=30)
# A version's last use is dated to the minute, as on the token endpoint.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def failure_delay(failures: int) -> float:
    """Seconds to hold back the answer to an address with `failures` recent failed logins:
    nothing for the first few, then doubling from one second up to MAX_DELAY."""
    if failures <= FREE_FAILURES:
        return 0.0
    return min(FIRST_DELAY * 2 ** (failures - FREE_FAILURES - 1), MAX_DELAY)


def recent_failures(address: str, now: datetime) -> int:
    return FailedLogin.objects.filter(address=address, at__gt=now - FAILURE_WINDOW).count()


# --- Deciding a login ----------------------------------------------------------------------


class Refusal:
    """Why a login was refused: for the audit trail only, never told to the client."""

    UNKNOWN_USER = "unknown_user"
    WRONG_SECRET = "wrong_secret"
    NOT_VALID_NOW = "version_not_valid"  # expired, retired, overlap over or not yet valid
    CREDENTIAL_INACTIVE = "credential_inactive"
    NO_ACTIVE_CONNECTION = "no_active_connection"
    AMBIGUOUS = "ambiguous"  # one secret opens credentials of two business units
    THROTTLED = "throttled"


# Which version wins when the same secret matches several versions of one credential.
STATE_PREFERENCE = {VersionState.CURRENT: 0, VersionState.PENDING: 1, VersionState.PREVIOUS: 2}


@dataclass(frozen=True)
class LoginDecision:
    """The outcome of one login attempt. Holds no secret."""

    username: str
    method: str
    version: CredentialVersion | None = None
    reason: str = ""
    business_unit: BusinessUnit | None = None
    credential: Credential | None = None

    @property
    def ok(self) -> bool:
        return self.version is not None


def _decide(
    *, username: str, method: str, now: datetime,
    matches: Callable[[CredentialVersion], bool],
) -> LoginDecision:
    candidates = list(selectors.inbound_versions_for_username(username))
    units = {v.credential.business_unit_id: v.credential.business_unit for v in candidates}
    known_unit = next(iter(units.values())) if len(units) == 1 else None
    matching = [v for v in candidates if matches(v)]
    working = [v for v in matching if v.has_active_connection and v.works_at(now)]

    def refuse(reason: str, version: CredentialVersion | None = None) -> LoginDecision:
        return LoginDecision(
            username=username, method=method, reason=reason,
            business_unit=version.credential.business_unit if version else known_unit,
            credential=version.credential if version else None,
        )

    if len({v.credential_id for v in working}) > 1:
        # The same secret opens two credentials (two units' folders): refuse rather than
        # guess whose folder the partner meant.
        return refuse(Refusal.AMBIGUOUS)
    if working:
        version = min(working, key=lambda v: STATE_PREFERENCE.get(v.state, 9))
        return LoginDecision(
            username=username, method=method, version=version,
            business_unit=version.credential.business_unit, credential=version.credential,
        )
    if matching:
        version = matching[0]
        if not version.credential.is_active:
            return refuse(Refusal.CREDENTIAL_INACTIVE, version)
        if not version.has_active_connection:
            return refuse(Refusal.NO_ACTIVE_CONNECTION, version)
        return refuse(Refusal.NOT_VALID_NOW, version)
    return refuse(Refusal.WRONG_SECRET if candidates else Refusal.UNKNOWN_USER)


def login_decide_password(
    *, username: str, password: str | bytes, now: datetime
) -> LoginDecision:
    """Whether this user name and password log in at `now`. Reads only."""
    offered = password.encode() if isinstance(password, str) else password

    def matches(version: CredentialVersion) -> bool:
        if version.credential.kind_spec.sftp_login != "password":
            return False
        try:
            expected = version_secret(version).encode()
        except KeyRingError:
            logger.error("SFTP login: version %s could not be decrypted", version.pk)
            return False
        return hmac.compare_digest(expected, offered)

    return _decide(username=username, method="password", now=now, matches=matches)


def login_decide_key(
    *, username: str, key_type: str, key_base64: str, now: datetime
) -> LoginDecision:
    """Whether this user name and public key (type and base64 blob, as in an OpenSSH line)
    log in at `now`. Reads only: the caller proves possession of the private key."""

    def matches(version: CredentialVersion) -> bool:
        if version.credential.kind_spec.sftp_login != "publickey":
            return False
        parts = version.public_key.split()
        return len(parts) >= 2 and parts[0] == key_type and hmac.compare_digest(
            parts[1].encode(), key_base64.encode()
        )

    return _decide(username=username, method="publickey", now=now, matches=matches)


def login_record_success(*, decision: LoginDecision, address: str, now: datetime) -> None:
    """A login that succeeded: the version's last use moves forward and the login is audited.
    A pending version (automatic rotation, or a scheduled one whose job has not run yet)
    becomes current on its first use, exactly as on the token endpoint."""
    version = decision.version
    assert version is not None
    credential = version.credential
    with transaction.atomic():
        # Dated to the minute: one conditional UPDATE a minute at most (a partner's script
        # logging in every few seconds does not write each time), and a slower concurrent
        # login never moves last use backwards.
        stale = now - LAST_USED_RESOLUTION
        if version.last_used_at is None or version.last_used_at <= stale:
            CredentialVersion.objects.filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=version.pk
            ).update(last_used_at=now)
        audit_record(
            action="sftp.login", actor=SYSTEM, organization=credential.business_unit.organization,
            target=credential, source_ip=address,
            details={"username": decision.username, "method": decision.method,
                     "address": address, **version_summary(version)},
        )
    if version.state == VersionState.PENDING:
        version_activate(version=version, now=now)


def login_record_failure(*, decision: LoginDecision, address: str, now: datetime) -> int:
    """A refused login: counted for its address and audited (user name, method, reason and
    address; never the attempted password or key). Returns the address's recent failures."""
    unit = decision.business_unit
    with transaction.atomic():
        FailedLogin.objects.create(
            address=address, username=decision.username[:200], method=decision.method,
            reason=decision.reason, business_unit=unit, at=now,
        )
        audit_record(
            action="sftp.login_failed", actor=SYSTEM,
            organization=unit.organization if unit else None,
            target=decision.credential, target_label=decision.username[:300],
            source_ip=address,
            details={"username": decision.username[:200], "address": address,
                     "method": decision.method, "reason": decision.reason},
        )
        FailedLogin.objects.filter(at__lt=now - FAILED_LOGIN_RETENTION).delete()
    return recent_failures(address, now)


# --- Transfers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """Who is logged in on one SFTP connection: what a transfer is recorded against."""

    username: str
    address: str
    business_unit_id: int
    credential_id: object
    version_id: object
    folder: Path


@transaction.atomic
def transfer_record(
    *, session: Session, file_name: str, size: int, direction: str, completed: bool = True,
    now: datetime | None = None,
) -> TransferLog:
    if direction not in Direction.values:
        raise ValueError(f"unknown direction {direction!r}")
    return TransferLog.objects.create(
        business_unit_id=session.business_unit_id, credential_id=session.credential_id,
        version_id=session.version_id, username=session.username, file_name=file_name[:1000],
        size=size, direction=direction, completed=completed, remote_address=session.address,
        at=now or timezone.now(),
    )


# --- Partner servers' host keys ------------------------------------------------------------


class PinError(Exception):
    """Pinning refused; the message is safe to show."""


@transaction.atomic
def connection_pin_host_key(
    *, connection: Connection, fingerprint: str, actor: Actor,
    source_ip: str | None = None,
) -> Connection:
    """Pins a partner server's host key on a connection that has none yet. A conditional
    UPDATE, so two administrators confirming different keys at once cannot both win; a pin
    is replaced only by clearing it on the connection first."""
    if connection.credential is not None:
        credential = connection.credential
        require_perm(actor, credential.organization, credential.manage_perm)
    if not fingerprint.startswith("SHA256:"):
        raise PinError("Not a SHA256 fingerprint.")
    changed = Connection.objects.filter(pk=connection.pk, host_key_fingerprint="").update(
        host_key_fingerprint=fingerprint
    )
    if changed != 1:
        raise PinError("This connection already has a pinned host key.")
    connection.host_key_fingerprint = fingerprint
    audit_record(
        action="connection.pin_host_key", actor=actor,
        organization=connection.business_unit.organization, target=connection,
        source_ip=source_ip, details={"fingerprint": fingerprint},
    )
    return connection
