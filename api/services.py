"""Writes of the API app: API keys, token issue with activation on first use, the
new-credentials retrieval with its rate limit, and the headless SFTP credentials (which
orchestrate the credentials services: one transaction each, audited in it, acting as the
request's API key: ApiKey.actor). They know no HTTP: they take values and raise the domain's
errors (credentials.errors, PermissionDenied), which api.http.respond answers."""

from __future__ import annotations

import hmac
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q

from audit.services import audit_record
from credentials import crypto
from credentials import material as m
from credentials.errors import CredentialError
from credentials.kinds import KINDS
from credentials.models import (
    Connection,
    ConnectionKind,
    Credential,
    CredentialVersion,
    RotationState,
    VersionState,
)
from credentials.rotation.automatic import version_activate
from credentials.rotation.requests import rotation_rotate_now
from credentials.services import (
    connection_save,
    credential_create,
    credential_lock,
    credential_set_active,
    current_version,
    version_secret,
    version_summary,
)
from credentials.usage import UseChannel, version_use_record
from organizations.access import Actor, SystemActor, require_perm, user_of
from organizations.models import BusinessUnit, Organization
from organizations.roles import Perm

from . import selectors
from .authentication import ClientCredentials, access_token_issue, client_version_verify
from .models import ApiKey, RateLimitHit

# --- API keys ------------------------------------------------------------------------------


class ApiKeyError(Exception):
    """A request about API keys the rules refuse; the message is safe to show."""


@transaction.atomic
def api_key_create(
    *, organization: Organization, name: str, actor: Actor, source_ip: str | None = None,
    now: datetime,
) -> tuple[ApiKey, str]:
    """A new key: (the row, the key itself). The key is not kept; show it once."""
    require_perm(actor, organization, Perm.MANAGE_API_KEYS)
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiKeyError("Give the key a name of 1 to 100 characters.")
    if organization.api_keys.filter(name=name, revoked_at__isnull=True).exists():
        raise ApiKeyError(f"A key named {name!r} already exists; choose another name.")
    prefix = secrets.token_hex(6)
    plaintext = f"kt_{prefix}_{secrets.token_urlsafe(32)}"
    try:
        with transaction.atomic():
            api_key = ApiKey.objects.create(
                organization=organization, name=name, prefix=prefix,
                key_digest=crypto.secret_digest(plaintext), created_by=user_of(actor),
                created_at=now,
            )
    except IntegrityError:  # the same name created at the same moment
        raise ApiKeyError(f"A key named {name!r} already exists; choose another name.") from None
    audit_record(
        action="api_key.create", actor=actor, organization=organization, target=api_key,
        source_ip=source_ip, details={"name": name, "prefix": prefix},
    )
    return api_key, plaintext


@transaction.atomic
def api_key_revoke(
    *, api_key: ApiKey, actor: Actor, source_ip: str | None = None, now: datetime
) -> bool:
    """Revokes a key from `now` on. Returns False (changing nothing) if it already was."""
    require_perm(actor, api_key.organization, Perm.MANAGE_API_KEYS)
    changed = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=user_of(actor)
    )
    if changed:
        audit_record(
            action="api_key.revoke", actor=actor, organization=api_key.organization,
            target=api_key, source_ip=source_ip,
            details={"name": api_key.name, "prefix": api_key.prefix},
        )
    api_key.refresh_from_db()
    return bool(changed)


# Successful reads with one key are audited and dated at most this often (see
# api_key_record_use).
API_KEY_READ_RESOLUTION = timedelta(minutes=1)
SAFE_METHODS = ("GET", "HEAD")


def api_key_use_is_recorded(*, api_key: ApiKey, method: str, status: int,
                            now: datetime) -> bool:
    """Whether a request's use of a key is audited: every change and every refused request
    (a 4xx or 5xx, a revoked key), and of the successful reads the first in a minute, which
    dates the key's last use. Reads show public fields only (never a secret), so a client
    polling the list does not write an audit event per GET; the event of a minute's first
    read stands for the reads after it."""
    if method not in SAFE_METHODS or not 200 <= status < 300:
        return True
    stale = now - API_KEY_READ_RESOLUTION
    return api_key.last_used_at is None or api_key.last_used_at <= stale


@transaction.atomic
def api_key_record_use(
    *, api_key: ApiKey, method: str, path: str, status: int, source_ip: str | None,
    now: datetime,
) -> bool:
    """Audits a request made with a key (method, path, answer) and dates the key's last use,
    when api_key_use_is_recorded says so. A read is recorded by the one process whose
    conditional UPDATE dates the key: two concurrent first reads of a minute write one event.
    Returns whether an event was written."""
    if not api_key_use_is_recorded(api_key=api_key, method=method, status=status, now=now):
        return False
    dated = ApiKey.objects.filter(pk=api_key.pk)
    if method in SAFE_METHODS and 200 <= status < 300:
        dated = dated.filter(Q(last_used_at__isnull=True)
                             | Q(last_used_at__lte=now - API_KEY_READ_RESOLUTION))
    if not dated.update(last_used_at=now) and method in SAFE_METHODS and 200 <= status < 300:
        return False
    audit_record(
        action="api_key.use", actor=api_key.actor, organization=api_key.organization,
        target=api_key,
        source_ip=source_ip, details={"method": method, "path": path, "status": status},
    )
    return True


def _via(api_key: ApiKey) -> dict[str, str]:
    """The key's name and prefix in the details of the API's own events, as they were before
    the key became their actor (ApiKey.actor); the audit log shows them."""
    return {"api_key": api_key.name, "api_key_prefix": api_key.prefix}


# --- Tokens and activation on first use ---------------------------------------------------

@dataclass(frozen=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_in: int
    version: CredentialVersion
    activated: bool


def client_token_issue(
    *, credentials: ClientCredentials | None, now: datetime, source_ip: str | None = None
) -> IssuedToken | None:
    """A token for client credentials valid at the request's arrival time `now`, or None.

    A pending version that authenticates becomes current at once (version_activate: exactly
    once, the old version retires from `now`); the token is returned either way. The use is
    recorded (credentials.usage: no query when the version was written in the last minute)."""
    version = client_version_verify(credentials=credentials, now=now, accept_pending=True)
    if version is None:
        return None
    activated = False
    if version.state == VersionState.PENDING:
        activated = version_activate(version=version, now=now)
    version_use_record(version=version, channel=UseChannel.TOKEN, address=source_ip, now=now)
    token, expires_in = access_token_issue(version=version, now=now)
    return IssuedToken(token, expires_in, version, activated)


# --- New credentials (GET /api/credentials/new) --------------------------------------------

NEW_CREDENTIALS_LIMIT = 10
NEW_CREDENTIALS_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class NewCredentials:
    outcome: str  # retrieved, none, already_active or rate_limited
    version: CredentialVersion | None = None
    secret: str = field(default="", repr=False)
    retry_after: int = 0


@transaction.atomic
def new_credentials_retrieve(
    *, version: CredentialVersion, now: datetime, source_ip: str | None = None
) -> NewCredentials:
    """What GET /api/credentials/new answers to the client of `version` (authenticated).

    At most NEW_CREDENTIALS_LIMIT counted requests per client id in any hour: each counted
    request is a row, counted under a lock of the credential row, so the limit holds across
    processes. Refused (429) requests are not counted."""
    credential = credential_lock(version.credential_id)
    bucket = f"credentials-new:{version.client_id}"
    window_start = now - NEW_CREDENTIALS_WINDOW
    RateLimitHit.objects.filter(bucket=bucket, at__lte=window_start).delete()
    hits = list(RateLimitHit.objects.filter(bucket=bucket, at__gt=window_start).order_by(
        "at").values_list("at", flat=True)[:NEW_CREDENTIALS_LIMIT])
    if len(hits) >= NEW_CREDENTIALS_LIMIT:
        wait = (hits[0] + NEW_CREDENTIALS_WINDOW - now).total_seconds()
        return NewCredentials("rate_limited", retry_after=max(1, math.ceil(wait)))
    RateLimitHit.objects.create(bucket=bucket, at=now)
    pending = credential.versions.filter(state=VersionState.PENDING).first()
    if pending is not None:
        secret = version_secret(pending)
        audit_record(
            action="secret.retrieve", actor=SystemActor(
                label=f"API client {version.client_id}"[:200],
                organization_id=credential.business_unit.organization_id),
            organization=credential.business_unit.organization, target=credential,
            source_ip=source_ip,
            details={"via": "GET /api/credentials/new", "client_id": version.client_id,
                     "new": version_summary(pending)},
        )
        return NewCredentials("retrieved", version=pending, secret=secret)
    latest = credential.rotations.filter(to_version__isnull=False).order_by("-created_at").first()
    if latest is not None and latest.state == RotationState.COMPLETED:
        return NewCredentials("already_active")
    return NewCredentials("none")


# --- Headless SFTP credentials -------------------------------------------------------------
# Refusals of what was sent are CredentialErrors naming a field of SftpFields (the API's body
# says the same); what the credential's state refuses, or a rotation that failed, is a
# RotationError (api.http.respond answers them 400 and 409).

# The kind each auth_type stands for (CredentialKind.api_auth_type).
AUTH_TYPE_KIND = {kind.api_auth_type: kind.key for kind in KINDS.values() if kind.api_auth_type}
# Material errors name the portal's form fields; SftpFields says `user`.
_FIELD_NAMES = {"username": "user"}


@dataclass(frozen=True)
class SftpFields:
    hostname: str
    port: int
    user: str
    auth_type: str
    password: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)

    @property
    def secret_field(self) -> str:
        """The body field of this auth type's secret: its kind's secret_field."""
        return KINDS[AUTH_TYPE_KIND[self.auth_type]].secret_field

    @property
    def secret(self) -> str:
        """The secret given for this auth type ("" keeps the existing one). The other
        secret field is ignored: clients commonly send both (see README)."""
        return getattr(self, self.secret_field)


def _sftp_material(fields: SftpFields, *, secret: str) -> m.Material:
    kind = KINDS[AUTH_TYPE_KIND[fields.auth_type]]
    try:
        return kind.parse({"username": fields.user, kind.secret_field: secret})
    except crypto.MaterialError as exc:
        raise CredentialError(exc.message, field=_FIELD_NAMES.get(exc.field, exc.field)) from None


def _sftp_name(fields: SftpFields) -> str:
    return _derived_name(fields.user, fields.hostname)


def _derived_name(user: str, hostname: str) -> str:
    return f"{user}@{hostname}"[:200]


def _connection_name(fields: SftpFields) -> str:
    return f"sftp://{fields.user}@{fields.hostname}:{fields.port}"[:200]


def _with_organization(credential: Credential) -> Credential:
    return Credential.objects.select_related("business_unit__organization").get(
        pk=credential.pk)


def sftp_credential_create(
    *, business_unit: BusinessUnit, fields: SftpFields, api_key: ApiKey,
    source_ip: str | None = None, now: datetime,
) -> Credential:
    """An SFTP credential and the outbound SFTP connection that uses it, together."""
    if not fields.secret:
        raise CredentialError(f"This field is required when auth_type is {fields.auth_type}.",
                              field=fields.secret_field)
    material = _sftp_material(fields, secret=fields.secret)
    actor = api_key.actor
    with transaction.atomic():
        credential = credential_create(
            business_unit=business_unit, kind=material.kind, name=_sftp_name(fields),
            material=material, valid_until=None, actor=actor, source_ip=source_ip, now=now,
        )
        connection_save(
            connection=Connection(
                business_unit=business_unit, name=_connection_name(fields),
                kind=ConnectionKind.OUTBOUND_SFTP, credential=credential,
                hostname=fields.hostname, port=fields.port,
            ),
            actor=actor, source_ip=source_ip,
        )
        audit_record(
            action="api.sftp_credential.create", actor=actor,
            organization=business_unit.organization, target=credential, source_ip=source_ip,
            details=_via(api_key),
        )
    return credential


@dataclass(frozen=True)
class _SftpChange:
    """What a PUT changes besides host and port, decided before anything is locked."""

    material: m.Material | None  # new material to rotate to; None: the versions stay
    rotated: list[str]  # what the rotation changes, as the audit event lists it
    rename: bool  # the API derived the name, so it follows the user and host


def sftp_credential_update(
    *, credential: Credential, fields: SftpFields, api_key: ApiKey,
    source_ip: str | None = None, now: datetime,
) -> Credential:
    """Updates host, port, user, auth type and secret. A new password, key or user is a
    rotation (rotation_rotate_now: a new version, audit, emails; of the other SFTP kind when
    auth_type changes) and the rest of the request (host, port, name, its audit event)
    commits with its switch or not at all; a rotation that fails is recorded on the
    credential's History tab, for a retry, and raised as a RotationError. An empty or omitted
    secret keeps the existing one; switching auth_type needs the new type's secret. A refusal
    changes nothing."""
    credential = _with_organization(credential)
    require_perm(api_key.actor, credential.business_unit.organization, credential.manage_perm)
    change = _sftp_change(credential, fields)

    def apply(locked: Credential) -> None:
        _sftp_apply(locked, fields, change, api_key=api_key, source_ip=source_ip)

    if change.material is None:
        with transaction.atomic():
            apply(credential_lock(credential))
    else:
        rotation_rotate_now(
            credential=credential, material=change.material, actor=api_key.actor,
            source_ip=source_ip,
            reason=f"Changed through the headless API with the key {api_key.name}",
            now=now, with_switch=apply,
        )
    return _with_organization(credential)


def _sftp_change(credential: Credential, fields: SftpFields) -> _SftpChange:
    current = current_version(credential)
    connection = selectors.outbound_sftp_connection(credential)
    rename = credential.name == _derived_name(
        current.username if current else "", connection.hostname if connection else ""
    )
    switching = AUTH_TYPE_KIND[fields.auth_type] != credential.kind
    material = _sftp_new_material(fields, current, switching=switching)
    if material is None:
        return _SftpChange(None, [], rename)
    rotated = (["auth_type"] if switching else []) + ["secret" if fields.secret else "user"]
    return _SftpChange(material, rotated, rename)


def _sftp_new_material(fields: SftpFields, current: CredentialVersion | None, *,
                       switching: bool) -> m.Material | None:
    """The material a PUT rotates to, or None when user and secret stay as they are."""
    if (switching or current is None) and not fields.secret:
        reason = (f"This field is required to switch auth_type to {fields.auth_type}."
                  if switching else "This credential has no secret to keep; send one.")
        raise CredentialError(reason, field=fields.secret_field)
    if fields.secret:
        material = _sftp_material(fields, secret=fields.secret)
    elif current is not None and fields.user != current.username:
        material = _sftp_material(fields, secret=version_secret(current))
    else:
        return None
    if not switching and current is not None and _same_material(material, current):
        return None  # PUT is idempotent: resending the same secret rotates nothing
    return material


def _same_material(material: m.Material, version: CredentialVersion) -> bool:
    if material.username != version.username:
        return False
    if material.fingerprint:  # a key: its public key says whether it is the same
        return material.fingerprint == version.fingerprint
    return hmac.compare_digest(material.secret.encode(), version_secret(version).encode())


def _sftp_apply(credential: Credential, fields: SftpFields, change: _SftpChange, *,
                api_key: ApiKey, source_ip: str | None) -> None:
    """The rest of a PUT, with the credential locked (in the rotation's switch when there is
    one): host and port on the connection, the derived name, and one audit event."""
    changed = change.rotated + _sftp_connection_sync(credential, fields, api_key.actor,
                                                     source_ip)
    if change.rename and credential.name != _sftp_name(fields):
        credential.name = _sftp_name(fields)
        credential.save(update_fields=["name"])
    if changed:
        audit_record(
            action="api.sftp_credential.update", actor=api_key.actor,
            organization=credential.business_unit.organization, target=credential,
            source_ip=source_ip, details={**_via(api_key), "changed": changed},
        )


def _sftp_connection_sync(credential: Credential, fields: SftpFields, actor: Actor,
                          source_ip: str | None) -> list[str]:
    connection = selectors.outbound_sftp_connection(credential)
    if connection is None:
        connection = Connection(
            business_unit=credential.business_unit, name=_connection_name(fields),
            kind=ConnectionKind.OUTBOUND_SFTP, credential=credential,
            is_active=credential.is_active,
        )
    changed = [name for name in ("hostname", "port")
               if getattr(connection, name) != getattr(fields, name)]
    if changed or connection._state.adding:
        connection.hostname, connection.port = fields.hostname, fields.port
        connection.name = _connection_name(fields)
        connection_save(connection=connection, actor=actor, source_ip=source_ip)
    return changed


def sftp_credential_deactivate(
    *, credential: Credential, api_key: ApiKey, source_ip: str | None = None
) -> Credential:
    """DELETE deactivates: the credential and its connections stop working, its versions and
    audit trail stay (an owner can reactivate it in the portal). Repeating it changes
    nothing."""
    actor = api_key.actor
    with transaction.atomic():
        credential = credential_lock(credential)
        was_active = credential.is_active
        credential_set_active(credential=credential, active=False, actor=actor,
                              source_ip=source_ip)
        for connection in credential.connections.filter(is_active=True):
            connection.is_active = False
            connection_save(connection=connection, actor=actor, source_ip=source_ip)
        if was_active:
            audit_record(
                action="api.sftp_credential.deactivate", actor=actor,
                organization=credential.business_unit.organization, target=credential,
                source_ip=source_ip, details=_via(api_key),
            )
    return credential
