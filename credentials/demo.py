"""Demo data: two organizations, units, a user per role (one outside UTC, so times show in two
zones), credentials of every kind in every status, the connections and AS2 profiles that use
them, and something for every Manage-menu action: a scheduled rotation to cancel, a failed one
to retry, a deactivated credential to reactivate, an API key to change, an outbound
connection to test. Safe to run again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from members.services import membership_set_role
from organizations.access import SYSTEM
from organizations.models import BusinessUnit, Organization, User
from organizations.roles import Role

from .crypto import generate_pem_private_key
from .kinds import api_client_secret, api_key, as2_certificate, sftp_key, sftp_password
from .material import Material, generate_password
from .models import Connection, ConnectionKind, Credential
from .rotation.engine import rotation_execute
from .rotation.requests import rotation_schedule
from .services import connection_save, credential_create, credential_set_active

DEMO_PASSWORD = "keyturn-demo-2026"


@dataclass(frozen=True)
class DemoUser:
    username: str
    organization: str
    role: str
    time_zone: str = "UTC"


DEMO_USERS = [
    DemoUser("owner", "northwind", Role.OWNER),
    DemoUser("manager", "northwind", Role.MANAGER, "Europe/Berlin"),
    DemoUser("reviewer", "northwind", Role.REVIEWER),
    DemoUser("viewer", "northwind", Role.VIEWER),
    DemoUser("globex-owner", "globex", Role.OWNER),
]


def _user(demo: DemoUser) -> User:
    user, created = User.objects.get_or_create(
        username=demo.username,
        defaults={"email": f"{demo.username}@example.com", "time_zone": demo.time_zone},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


def _unit(org: Organization, name: str, slug: str, contacts: str = "") -> BusinessUnit:
    unit, _ = BusinessUnit.objects.get_or_create(
        organization=org, slug=slug, defaults={"name": name, "contact_emails": contacts}
    )
    return unit


def _credential(
    unit: BusinessUnit, name: str, material: Material, valid_until: datetime | None,
    owner: User, now: datetime,
) -> Credential:
    """Creates the credential unless it exists; an already expired one is created in the past."""
    existing = Credential.objects.filter(business_unit=unit, name=name).first()
    if existing:
        return existing
    expiry = valid_until or material.valid_until
    created = expiry - timedelta(days=60) if expiry and expiry <= now else now
    return credential_create(
        business_unit=unit, kind=material.kind, name=name, material=material,
        valid_until=valid_until, actor=owner, now=created,
    )


def _connect(unit: BusinessUnit, name: str, kind: str, credential: Credential, owner: User,
             **fields: object) -> None:
    if not Connection.objects.filter(business_unit=unit, name=name).exists():
        connection_save(
            connection=Connection(business_unit=unit, name=name, kind=kind,
                                  credential=credential, **fields),
            actor=owner,
        )


def _failed_swap(credential: Credential, spare: Credential, owner: User, now: datetime) -> None:
    """A swap to the spare, scheduled for yesterday, that failed because the spare was
    deactivated meanwhile: the Retry Failed Rotation and Reactivate actions, and the failure
    banner. Reactivating the spare and retrying completes it."""
    rotation = rotation_schedule(
        credential=credential, replacement=spare, actor=owner,
        starts_at=now - timedelta(days=1), now=now - timedelta(days=2),
        reason="Move the bank's pickup to the spare login",
    )
    credential_set_active(credential=spare, active=False, actor=owner)
    rotation_execute(rotation=rotation, now=now)


@transaction.atomic
def load_demo_data(now: datetime | None = None) -> list[DemoUser]:
    now = now or timezone.now()
    northwind, _ = Organization.objects.get_or_create(
        slug="northwind", defaults={"name": "Northwind Logistics"}
    )
    globex, _ = Organization.objects.get_or_create(
        slug="globex", defaults={"name": "Globex Freight"}
    )
    orgs = {"northwind": northwind, "globex": globex}
    for demo in DEMO_USERS:
        membership_set_role(
            organization=orgs[demo.organization], user=_user(demo), role=demo.role,
            actor=SYSTEM,
        )
    owner = User.objects.get(username="owner")
    warehousing = _unit(northwind, "Warehousing", "warehousing", "warehouse-ops@example.com")
    finance = _unit(northwind, "Finance", "finance", "finance-it@example.com")
    partners = _unit(northwind, "Partner Integrations", "partners", "integrations@example.com")

    days = lambda n: now + timedelta(days=n)  # noqa: E731
    acme = _credential(warehousing, "Acme inbound drop", sftp_password.material(
        username="acme-drop", password=generate_password()), days(90), owner, now)
    carrier = _credential(warehousing, "Carrier outbound key",
                          sftp_key.generated(username="northwind"), days(10), owner, now)
    _credential(warehousing, "Legacy upload", sftp_password.material(
        username="legacy", password=generate_password()), days(-5), owner, now)
    bank = _credential(finance, "Bank statements", sftp_password.material(
        username="bank", password=generate_password()), days(45), owner, now)
    spare = _credential(finance, "Bank statements (spare)", sftp_password.material(
        username="bank-spare", password=generate_password()), None, owner, now)
    edi = _credential(partners, "EDI signing 2027", as2_certificate.generated(
        common_name="edi.northwind.example", days=400, now=now), None, owner, now)
    _credential(partners, "EDI signing 2025", as2_certificate.generated(
        common_name="old-edi.northwind.example", days=1, now=now - timedelta(days=30)),
        None, owner, now)
    billing = _credential(finance, "Billing API", api_client_secret.material(client_id=""),
                          days(20), owner, now)
    warranty = _credential(partners, "Warranty API key", api_key.material(
        client_id="northwind-warranty", key_id="key-2026-01",
        private_key=generate_pem_private_key()), days(120), owner, now)
    tracking = _credential(partners, "Tracking API key", api_key.material(
        client_id="northwind-tracking", key_id="track-2026-01",
        private_key=generate_pem_private_key()), days(200), owner, now)

    _connect(warehousing, "Acme partner upload", ConnectionKind.INBOUND_SFTP, acme, owner)
    _connect(warehousing, "Carrier manifests", ConnectionKind.OUTBOUND_SFTP, carrier, owner,
             hostname="sftp.carrier.example", port=22, remote_path="/manifests")
    _connect(partners, "Retailer AS2 profile", ConnectionKind.AS2_PROFILE, edi, owner,
             partner_as2_id="RETAILER-AS2")
    _connect(finance, "Bank statement pickup", ConnectionKind.INBOUND_SFTP, bank, owner)
    _connect(partners, "Tracking portal", ConnectionKind.API_INTEGRATION, tracking, owner,
             endpoint_url="https://tracking.example/api")
    _connect(finance, "Billing platform", ConnectionKind.API_INTEGRATION, billing, owner,
             endpoint_url="https://billing.example/api")
    _connect(partners, "Warranty portal", ConnectionKind.API_INTEGRATION, warranty, owner,
             endpoint_url="https://warranty.example/api", is_active=False)
    if not warranty.rotations.exists():
        rotation_schedule(
            credential=warranty, actor=owner, starts_at=days(7), overlap_ends_at=days(14),
            material=api_key.material(client_id="northwind-warranty", key_id="key-2026-02",
                               private_key=generate_pem_private_key()),
            reason="Quarterly key change",
        )
    if not bank.rotations.exists():
        _failed_swap(bank, spare, owner, now)

    operations = _unit(globex, "Operations", "operations", "ops@globex.example")
    globex_owner = User.objects.get(username="globex-owner")
    dock = _credential(operations, "Dock scheduler", sftp_password.material(
        username="dock", password=generate_password()), days(60), globex_owner, now)
    _connect(operations, "Dock scheduler upload", ConnectionKind.INBOUND_SFTP, dock, globex_owner)
    return DEMO_USERS
