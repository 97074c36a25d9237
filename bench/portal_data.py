"""The organization bench/pages and bench/http measure: `total` credentials (each with its
encrypted current version; a third used by a connection, some expired or expiring, 2% with a
scheduled rotation and its pending version), filled with bulk_create (not timed), and the
callers the HTTP bench needs: a signed-in owner, an API client and an API key."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any


def fill(total: int) -> dict[str, Any]:
    from django.db import transaction
    from django.utils import timezone

    from audit.services import audit_record
    from credentials import crypto
    from credentials.models import (
        Connection,
        ConnectionKind,
        Credential,
        CredentialVersion,
        Kind,
        Rotation,
        RotationMode,
        VersionState,
    )
    from members.services import membership_set_role
    from organizations.access import SYSTEM
    from organizations.models import BusinessUnit, Organization, User
    from organizations.roles import Role

    now = timezone.now()
    ring = crypto.key_ring()
    org = Organization.objects.create(name="Bench Logistics", slug="bench")
    owner = User.objects.create_user(username="owner", password=secrets.token_urlsafe(16))
    membership_set_role(organization=org, user=owner, role=Role.OWNER, actor=SYSTEM)
    units = [BusinessUnit.objects.create(organization=org, name=f"Unit {i:02}", slug=f"u{i:02}",
                                         contact_emails=f"unit{i}@bench.example")
             for i in range(10)]
    kinds = [Kind.SFTP_PASSWORD] * 6 + [Kind.API_CLIENT_SECRET] * 3 + [Kind.SFTP_KEY]
    credentials, versions, connections, rotations = [], [], [], []
    for n in range(total):
        kind = kinds[n % len(kinds)]
        credential = Credential(id=uuid.uuid4(), business_unit=units[n % len(units)],
                                name=f"Partner {n:05}", kind=kind, created_by=owner)
        credentials.append(credential)
        # Expiries from 30 days ago to a year ahead: some expired, some expiring soon.
        versions.append(_version(ring, credential, 1, VersionState.CURRENT, n,
                                 now - timedelta(days=60), now + timedelta(days=n % 395 - 30)))
        if n % 3 == 0:
            connections.append(Connection(
                business_unit=credential.business_unit, name=f"Connection {n:05}",
                credential=credential, hostname=f"sftp{n % 50}.partner.example",
                kind=ConnectionKind.API_INTEGRATION if kind == Kind.API_CLIENT_SECRET
                else ConnectionKind.INBOUND_SFTP))
        if n % 50 == 7:
            starts = now + timedelta(days=n % 20 + 1)
            pending = _version(ring, credential, 2, VersionState.PENDING, n, starts,
                               starts + timedelta(days=180))
            versions.append(pending)
            rotations.append(Rotation(credential=credential, from_version=versions[-2],
                                      to_version=pending, mode=RotationMode.SCHEDULED,
                                      starts_at=starts, overlap_ends_at=starts + timedelta(7),
                                      requested_by=owner))
    with transaction.atomic():
        Credential.objects.bulk_create(credentials, batch_size=2000)
        CredentialVersion.objects.bulk_create(versions, batch_size=2000)
        Connection.objects.bulk_create(connections, batch_size=2000)
        Rotation.objects.bulk_create(rotations, batch_size=2000)
        for credential in credentials[:30]:
            audit_record(action="secret.reveal", actor=owner, organization=org,
                         target=credential, source_ip="192.0.2.1", details={"version": 1})
    detail = next(c for c in credentials[7::50] if c.connections.exists())
    return {"organization": org, "owner": owner, "detail": detail, "versions": len(versions),
            "connections": len(connections), "rotations": len(rotations)}


def _version(ring: Any, credential: Any, number: int, state: str, n: int,
             valid_from: Any, valid_until: Any) -> Any:
    """A version with its own secret, encrypted under its own id (the associated data binds
    the ciphertext to the row, as in production)."""
    from credentials.models import CredentialVersion, Kind

    version = CredentialVersion(
        # A version gets its number when it goes live (a pending one has none yet).
        id=uuid.uuid4(), credential=credential, number=number if state != "pending" else None,
        state=state,
        username=f"partner-{n:05}" if credential.kind != Kind.API_CLIENT_SECRET else "",
        client_id=f"client-{n:05}-{number}" if credential.kind == Kind.API_CLIENT_SECRET else "",
        fingerprint=f"SHA256:{secrets.token_urlsafe(32)}" if credential.kind == Kind.SFTP_KEY
        else "",
        valid_from=valid_from, valid_until=valid_until,
        activated_at=valid_from if state == "current" else None,
    )
    version.secret_ciphertext = ring.encrypt(secrets.token_urlsafe(24), aad=version.aad)
    return version


def session_cookie(user: Any) -> str:
    """A `Cookie` header value for a session of `user`, made as a sign-in makes it, with the
    CSRF cookie a browser holds from its first page on (without it, every page would make
    a new CSRF secret and send it back, which a browser's requests after the first do not)."""
    from django.conf import settings
    from django.shortcuts import resolve_url
    from django.test import Client

    client = Client()
    client.force_login(user)
    page = client.get(resolve_url("profile"))  # a page with forms: it sets the CSRF cookie
    assert page.status_code == 200, page.status_code
    names = (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
    return "; ".join(f"{name}={client.cookies[name].value}" for name in names)


def api_client(organization: Any) -> tuple[str, str]:
    """A valid API client (not expiring during the bench): (client id, secret)."""
    from django.utils import timezone

    from credentials.kinds import api_client_secret
    from credentials.models import Kind
    from credentials.services import credential_create
    from organizations.access import SYSTEM

    material = api_client_secret.material(client_id="bench-token-client")
    credential_create(
        business_unit=organization.business_units.first(), kind=Kind.API_CLIENT_SECRET,
        name="Bench token client", material=material,
        valid_until=timezone.now() + timedelta(days=300), actor=SYSTEM,
    )
    return material.client_id, material.secret


def api_key(organization: Any) -> str:
    from django.utils import timezone

    from api.services import api_key_create
    from organizations.access import SYSTEM

    _, key = api_key_create(organization=organization, name="Bench", actor=SYSTEM,
                            now=timezone.now())
    return key
