"""A few small factories: real objects made through the real services."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import timezone

from credentials.kinds import kind_for
from credentials.material import Material
from credentials.models import Connection, Credential, Kind, connection_kinds_for
from credentials.services import connection_save, credential_create
from members.services import membership_set_role
from organizations.access import SYSTEM, Actor
from organizations.models import BusinessUnit, Organization, User
from organizations.roles import Role

PASSWORD = "correct-horse-battery"
NO_EXPIRY = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)  # RFC 5280's 99991231235959Z
_seq = itertools.count(1)


def make_user(username: str, organization: Organization | None = None,
              role: str = Role.VIEWER, time_zone: str = "UTC") -> User:
    user = User.objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD,
        time_zone=time_zone,
    )
    if organization is not None:
        membership_set_role(organization=organization, user=user, role=role, actor=SYSTEM)
    return user


def make_org(slug: str, units: tuple[str, ...] = ("ops",)) -> Organization:
    org = Organization.objects.create(name=slug.title(), slug=slug)
    for unit in units:
        BusinessUnit.objects.create(
            organization=org, name=unit.title(), slug=unit,
            contact_emails=f"{unit}-team@{slug}.example",
        )
    return org


def material_for(kind: str, *, now: datetime | None = None, **overrides: str) -> Material:
    """Material of `kind`: its kind's own example (credentials.kinds), with values replaced by
    name (username, password, client_id, key_id, ...)."""
    spec = kind_for(kind)
    values = spec.example_values(identity=f"partner{next(_seq)}", now=now or timezone.now())
    return spec.parse({**values, **overrides})


def make_credential(
    unit: BusinessUnit, kind: str = Kind.SFTP_PASSWORD, *, name: str | None = None,
    valid_until: datetime | None = None, expires_in: timedelta | None = None,
    actor: Actor = SYSTEM, now: datetime | None = None, **material_overrides: str,
) -> Credential:
    now = now or timezone.now()
    if expires_in is not None:
        valid_until = now + expires_in
    return credential_create(
        business_unit=unit, kind=kind, name=name or f"{kind} {next(_seq)}",
        material=material_for(kind, now=now, **material_overrides), valid_until=valid_until,
        actor=actor, now=now,
    )


def make_connection(credential: Credential, actor: User, *, active: bool = True,
                    kind: str | None = None, **fields: object) -> Connection:
    return connection_save(
        connection=Connection(
            business_unit=credential.business_unit, name=f"connection {next(_seq)}",
            kind=kind or connection_kinds_for(credential.family)[0], credential=credential,
            is_active=active, **fields,
        ),
        actor=actor,
    )


def partner_certificate(not_after: datetime = NO_EXPIRY, *,
                        not_before: datetime = datetime(2024, 1, 1, tzinfo=UTC),
                        ) -> tuple[bytes, bytes]:
    """A partner certificate as real ones come: (certificate PEM, private key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "as2.forever.example")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
