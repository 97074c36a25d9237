"""A few small factories: real objects made through the real services."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import timezone

from credentials import material as m
from credentials.models import Connection, ConnectionKind, Credential, Kind
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


def material_for(kind: str, *, now: datetime | None = None, **overrides: str) -> m.Material:
    n = next(_seq)
    now = now or timezone.now()
    if kind == Kind.SFTP_PASSWORD:
        return m.sftp_password(username=overrides.get("username", f"partner{n}"),
                               password=overrides.get("password", m.generate_password()))
    if kind == Kind.SFTP_KEY:
        return m.sftp_key_generated(username=overrides.get("username", f"partner{n}"))
    if kind == Kind.AS2_CERTIFICATE:
        return m.as2_certificate_generated(common_name=f"as2-{n}.example", days=365, now=now)
    if kind == Kind.API_CLIENT_SECRET:
        return m.api_client_secret(client_id=overrides.get("client_id", f"client-{n}"))
    return m.api_key(client_id=overrides.get("client_id", f"client-{n}"),
                     key_id=overrides.get("key_id", f"key-{n}"),
                     private_key=m.crypto.generate_pem_private_key())


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


CONNECTION_KIND_FOR = {
    Kind.SFTP_PASSWORD: ConnectionKind.INBOUND_SFTP,
    Kind.SFTP_KEY: ConnectionKind.INBOUND_SFTP,
    Kind.AS2_CERTIFICATE: ConnectionKind.AS2_PROFILE,
    Kind.API_CLIENT_SECRET: ConnectionKind.API_INTEGRATION,
    Kind.API_KEY: ConnectionKind.API_INTEGRATION,
}


def make_connection(credential: Credential, actor: User, *, active: bool = True,
                    kind: str | None = None, **fields: object) -> Connection:
    return connection_save(
        connection=Connection(
            business_unit=credential.business_unit, name=f"connection {next(_seq)}",
            kind=kind or CONNECTION_KIND_FOR[credential.kind], credential=credential,
            is_active=active, **fields,
        ),
        actor=actor,
    )


def partner_certificate(not_after: datetime = NO_EXPIRY) -> tuple[bytes, bytes]:
    """A partner certificate as real ones come: (certificate PEM, private key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "as2.forever.example")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC)).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
