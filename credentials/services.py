"""Writes to credentials, versions and connections. Each runs in one transaction and records
its audit event in it; rotations live in credentials.rotation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from audit.services import audit_record
from organizations.access import Actor, require_perm, user_of
from organizations.models import BusinessUnit, User
from organizations.roles import Perm

from . import crypto
from .errors import CredentialError
from .kinds import FAMILIES, kind_for
from .lifecycle import first_version_valid_until
from .material import Material
from .models import (
    CONNECTION_FAMILY,
    DEFAULT_LIFETIME_DAYS,
    Connection,
    Credential,
    CredentialVersion,
    RotationPolicy,
    VersionState,
)


def credential_lock(credential: Credential | object) -> Credential:
    """The credential's row, locked until the end of the caller's transaction (with its
    unit and organization). Every write that must not race another on the same credential
    (rotations, activation, the headless API's changes, imports) takes this lock first, and
    takes it before any lock on the credential's versions or rotations."""
    pk = credential.pk if isinstance(credential, Credential) else credential
    return Credential.objects.select_for_update().select_related(
        "business_unit__organization").get(pk=pk)


def version_build(
    *,
    credential: Credential,
    material: Material,
    state: str,
    valid_from: datetime,
    valid_until: datetime | None,
    actor: Actor,
    kind: str | None = None,
) -> CredentialVersion:
    """Creates a version with its secret encrypted under the newest key, bound to its id. A
    current version gets the next number; a pending one gets its number when it goes live.
    The material must be of the credential's kind, or of `kind` for a rotation that switches
    the credential to it (credentials.rotation decides when it may)."""
    version = version_new(credential=credential, material=material, state=state,
                          valid_from=valid_from, valid_until=valid_until, actor=actor,
                          kind=kind)
    version.save()
    return version


def version_new(
    *,
    credential: Credential,
    material: Material,
    state: str,
    valid_from: datetime,
    valid_until: datetime | None,
    actor: Actor,
    kind: str | None = None,
) -> CredentialVersion:
    """version_build's version, not saved yet: the sweep creates a batch of them at once."""
    if material.kind != (kind or credential.kind):
        raise CredentialError(
            f"This material is for a {material.kind}, not a {credential.get_kind_display()}."
        )
    cert = material.certificate
    version = CredentialVersion(
        credential=credential,
        number=next_version_number(credential) if state == VersionState.CURRENT else None,
        state=state,
        username=material.username,
        client_id=material.client_id,
        key_id=material.key_id,
        public_key=material.public_key,
        fingerprint=material.fingerprint,
        certificate_pem=cert.pem if cert else "",
        cert_subject=cert.subject if cert else "",
        cert_issuer=cert.issuer if cert else "",
        cert_serial=cert.serial if cert else "",
        cert_not_before=cert.not_before if cert else None,
        secret_digest=crypto.secret_digest(material.secret) if material.digest_secret else "",
        valid_from=valid_from,
        valid_until=material.valid_until or valid_until,
        created_by=user_of(actor),
        activated_at=valid_from if state == VersionState.CURRENT else None,
    )
    version.secret_ciphertext = crypto.key_ring().encrypt(material.secret, aad=version.aad)
    return version


def next_version_number(credential: Credential) -> int:
    """The number of the next version to go live. Call it with the credential row locked (or
    just created): numbers are given only to versions that go live, so they have no gaps."""
    return (credential.versions.aggregate(n=Max("number"))["n"] or 0) + 1


def version_secret(version: CredentialVersion) -> str:
    """Decrypts a version's secret. Only reveal, export and authentication call this."""
    return crypto.key_ring().decrypt(version.secret_ciphertext, aad=version.aad)


def version_summary(version: CredentialVersion) -> dict[str, object]:
    """What the audit trail may say about a version: never the secret."""
    summary: dict[str, object] = {"version": version.number, "state": version.state}
    for name in ("username", "client_id", "key_id", "fingerprint"):
        if getattr(version, name):
            summary[name] = getattr(version, name)
    return summary


@transaction.atomic
def credential_create(
    *,
    business_unit: BusinessUnit,
    kind: str,
    name: str,
    material: Material,
    valid_until: datetime | None,
    actor: Actor,
    notes: str = "",
    rotation_policy: str | None = None,
    lifetime_days: int = DEFAULT_LIFETIME_DAYS,
    source_ip: str | None = None,
    now: datetime | None = None,
) -> Credential:
    now = now or timezone.now()
    spec = kind_for(kind)
    require_perm(actor, business_unit.organization, spec.manage_perm)
    if not name.strip():
        raise CredentialError("Give the credential a name.", field="name")
    valid_until = first_version_valid_until(
        material_valid_until=material.valid_until, given=valid_until,
        expires_by_default=spec.automatic_by_default, lifetime_days=lifetime_days, now=now)
    if material.valid_until is not None and material.valid_until <= now:
        raise CredentialError("This certificate has already expired.", field="certificate")
    if valid_until is not None and material.valid_until is None and valid_until <= now:
        raise CredentialError("The expiry must be in the future.", field="valid_until")
    credential = Credential.objects.create(
        business_unit=business_unit,
        name=name.strip(),
        kind=kind,
        notes=notes,
        rotation_policy=rotation_policy
        or (RotationPolicy.AUTOMATIC if spec.automatic_by_default else RotationPolicy.REMINDERS),
        lifetime_days=lifetime_days,
        created_by=user_of(actor),
    )
    version = version_build(
        credential=credential, material=material, state=VersionState.CURRENT,
        valid_from=now, valid_until=valid_until, actor=actor,
    )
    audit_record(
        action="credential.create", actor=actor, organization=business_unit.organization,
        target=credential, source_ip=source_ip,
        details={"kind": kind, **version_summary(version)},
    )
    return credential


@transaction.atomic
def credential_update(
    *,
    credential: Credential,
    actor: User,
    name: str,
    notes: str,
    rotation_policy: str,
    lifetime_days: int,
    source_ip: str | None = None,
) -> Credential:
    require_perm(actor, credential.organization, credential.manage_perm)
    if not name.strip():
        raise CredentialError("Give the credential a name.", field="name")
    changes = {}
    for attr, value in (("name", name.strip()), ("notes", notes),
                        ("rotation_policy", rotation_policy), ("lifetime_days", lifetime_days)):
        if getattr(credential, attr) != value:
            changes[attr] = value if attr != "notes" else "(changed)"
            setattr(credential, attr, value)
    if changes:
        credential.save()
        audit_record(
            action="credential.update", actor=actor,
            organization=credential.business_unit.organization, target=credential,
            source_ip=source_ip, details=changes,
        )
    return credential


@transaction.atomic
def credential_set_active(
    *, credential: Credential, active: bool, actor: User, source_ip: str | None = None
) -> Credential:
    require_perm(actor, credential.organization, credential.manage_perm)
    if credential.is_active != active:
        credential.is_active = active
        credential.save(update_fields=["is_active"])
        audit_record(
            action="credential.reactivate" if active else "credential.deactivate", actor=actor,
            organization=credential.business_unit.organization, target=credential,
            source_ip=source_ip,
        )
    return credential


def current_version(credential: Credential) -> CredentialVersion | None:
    return credential.versions.filter(state=VersionState.CURRENT).first()


@transaction.atomic
def secret_reveal(
    *, credential: Credential, actor: User, source_ip: str | None = None,
    pending: bool = False,
) -> str:
    """The current secret in plain text, for a user allowed to reveal; always audited.

    With `pending`, the new secret a rotation has prepared, so that partners can be given
    it before the switch."""
    require_perm(actor, credential.organization, Perm.REVEAL)
    kind_for(credential.kind)  # a kind no release registers is refused before any reveal
    state = VersionState.PENDING if pending else VersionState.CURRENT
    version = credential.versions.filter(state=state).first()
    if version is None:
        raise CredentialError("This credential has no prepared new version to reveal."
                              if pending else "This credential has no current version to "
                              "reveal.")
    audit_record(
        action="secret.reveal", actor=actor, organization=credential.business_unit.organization,
        target=credential, source_ip=source_ip, details=version_summary(version),
    )
    return version_secret(version)


@transaction.atomic
def connection_save(
    *,
    connection: Connection,
    actor: Actor,
    source_ip: str | None = None,
) -> Connection:
    """Creates or updates a connection after checking the credential it uses fits it."""
    org = connection.business_unit.organization
    credential = connection.credential
    if credential is not None:
        if credential.business_unit.organization_id != org.pk:
            raise CredentialError("That credential belongs to another organization.", "credential")
        if credential.family != CONNECTION_FAMILY[connection.kind]:
            raise CredentialError(
                f"A {connection.get_kind_display()} cannot use a "
                f"{credential.get_kind_display()}.", "credential",
            )
    require_perm(actor, org, FAMILIES[CONNECTION_FAMILY[connection.kind]].manage_perm)
    adding = connection._state.adding
    connection.save()
    audit_record(
        action="connection.create" if adding else "connection.update", actor=actor,
        organization=org, target=connection, source_ip=source_ip,
        details={"credential": str(credential.pk) if credential else None,
                 "active": connection.is_active},
    )
    return connection


@dataclass(frozen=True)
class EncryptedField:
    """A column holding a key-ring ciphertext: the column itself, or one key of a JSON
    column (allauth's second factors keep their seeds in `data`). `aad` is the associated
    data it was sealed with: the row's `aad` property, or a fixed one for the seeds."""

    model: str
    field: str
    json_key: str | None = None
    fixed_aad: str | None = None

    def pending(self, current_prefix: str) -> QuerySet:
        model = apps.get_model(self.model)
        if self.json_key is None:
            return model.objects.exclude(**{f"{self.field}__startswith": current_prefix})
        path = f"{self.field}__{self.json_key}"
        return model.objects.filter(**{f"{self.field}__has_key": self.json_key}).exclude(
            **{f"{path}__startswith": current_prefix})

    def reencrypt(self, row: Any, ring: crypto.KeyRing) -> None:
        aad = self.fixed_aad or row.aad
        if self.json_key is None:
            setattr(row, self.field, ring.encrypt(ring.decrypt(getattr(row, self.field),
                                                                aad=aad), aad=aad))
        else:
            data = getattr(row, self.field)
            data[self.json_key] = ring.encrypt(ring.decrypt(data[self.json_key], aad=aad),
                                               aad=aad)


# Every secret sealed with the key ring.
ENCRYPTED_FIELDS = [
    EncryptedField("credentials.CredentialVersion", "secret_ciphertext"),
    EncryptedField("sftpd.HostKey", "private_key_ciphertext"),
    # allauth.mfa's authenticator app key and recovery codes' seed (second_factor_seeds).
    EncryptedField("mfa.Authenticator", "data", json_key="secret", fixed_aad=crypto.MFA_SEED_AAD),
    EncryptedField("mfa.Authenticator", "data", json_key="seed", fixed_aad=crypto.MFA_SEED_AAD),
]


def secrets_reencrypt(*, batch_size: int = 200) -> Iterator[tuple[int, int]]:
    """Re-encrypts every secret not yet under the newest key, a batch per transaction.

    Yields (done, total) after each batch. Interrupted, it resumes where it stopped: rows
    already under the newest key are skipped by their token's key id.
    """
    ring = crypto.key_ring()
    current = f"{crypto.TOKEN_PREFIX}:{ring.current_key_id}:"
    pending = [(spec, spec.pending(current)) for spec in ENCRYPTED_FIELDS]
    total = sum(queryset.count() for _, queryset in pending)
    done = 0
    for spec, queryset in pending:
        while True:
            with transaction.atomic():
                batch = list(queryset.select_for_update().order_by("pk")[:batch_size])
                if not batch:
                    break
                for row in batch:
                    spec.reencrypt(row, ring)
                queryset.model.objects.bulk_update(batch, [spec.field])
            done += len(batch)
            yield done, total
