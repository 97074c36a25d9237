"""Demo data: two organizations, units, a user per role (one outside UTC, so times show in two
zones), credentials of every kind in every status, the connections and AS2 profiles that use
them, and something for every Manage-menu action: a scheduled rotation to cancel, a failed one
to retry, a deactivated credential to reactivate, an API key to change, an outbound
connection to test, and a partner halfway through a cut-over. Safe to run again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from members.services import membership_set_role
from organizations.access import SYSTEM
from organizations.models import BusinessUnit, Organization, User
from organizations.roles import Role

from .kinds import kind_for
from .models import Connection, ConnectionKind, Credential, Kind, UseChannel
from .rotation.engine import rotation_execute
from .rotation.requests import rotation_schedule
from .services import connection_save, credential_create, credential_set_active, current_version
from .usage import version_use_record

DEMO_PASSWORD = "keyturn-demo-2026"
# The reviewer signs in with an authenticator app too, to try it: add this key to one (the
# README prints it). Demo data only: a real key is made at random when a user sets one up.
DEMO_TOTP_USER = "reviewer"
DEMO_TOTP_KEY = "KEYTURNDEMOTOTPKEYFORTRYINGIT234"


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
    if demo.username == DEMO_TOTP_USER and not Authenticator.objects.filter(
            user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, DEMO_TOTP_KEY)
    return user


@dataclass(frozen=True)
class DemoUnit:
    organization: str
    name: str
    slug: str
    contacts: str


DEMO_UNITS = [
    DemoUnit("northwind", "Warehousing", "warehousing", "warehouse-ops@example.com"),
    DemoUnit("northwind", "Finance", "finance", "finance-it@example.com"),
    DemoUnit("northwind", "Partner Integrations", "partners", "integrations@example.com"),
    DemoUnit("globex", "Operations", "operations", "ops@globex.example"),
]


@dataclass(frozen=True)
class DemoCredential:
    """One credential, its material the kind's own example named after `identity`. `days`:
    when it expires from now (None: never), or for material that carries its expiry (a
    certificate), how long it is valid from its issue `issued_days_ago`."""

    unit: str
    name: str
    kind: str
    identity: str
    days: int | None
    issued_days_ago: int = 0


# Every registered kind, in every status (a test checks it).
DEMO_CREDENTIALS = [
    DemoCredential("warehousing", "Acme inbound drop", Kind.SFTP_PASSWORD, "acme-drop", 90),
    DemoCredential("warehousing", "Carrier outbound key", Kind.SFTP_KEY, "northwind", 10),
    DemoCredential("warehousing", "Legacy upload", Kind.SFTP_PASSWORD, "legacy", -5),
    DemoCredential("finance", "Bank statements", Kind.SFTP_PASSWORD, "bank", 45),
    DemoCredential("finance", "Bank statements (spare)", Kind.SFTP_PASSWORD, "bank-spare", None),
    DemoCredential("partners", "EDI signing 2027", Kind.AS2_CERTIFICATE, "edi.northwind.example",
                   400),
    DemoCredential("partners", "EDI signing 2025", Kind.AS2_CERTIFICATE,
                   "old-edi.northwind.example", 1, issued_days_ago=30),
    DemoCredential("finance", "Billing API", Kind.API_CLIENT_SECRET, "northwind-billing", 20),
    DemoCredential("partners", "Warranty API key", Kind.API_KEY, "northwind-warranty", 120),
    DemoCredential("partners", "Tracking API key", Kind.API_KEY, "northwind-tracking", 200),
    DemoCredential("operations", "Dock scheduler", Kind.SFTP_PASSWORD, "dock", 60),
]


@dataclass(frozen=True)
class DemoConnection:
    unit: str
    name: str
    kind: str
    credential: str
    fields: tuple[tuple[str, object], ...] = ()


DEMO_CONNECTIONS = [
    DemoConnection("warehousing", "Acme partner upload", ConnectionKind.INBOUND_SFTP,
                   "Acme inbound drop"),
    DemoConnection("warehousing", "Carrier manifests", ConnectionKind.OUTBOUND_SFTP,
                   "Carrier outbound key", (("hostname", "sftp.carrier.example"), ("port", 22),
                                            ("remote_path", "/manifests"))),
    DemoConnection("partners", "Retailer AS2 profile", ConnectionKind.AS2_PROFILE,
                   "EDI signing 2027", (("partner_as2_id", "RETAILER-AS2"),)),
    DemoConnection("finance", "Bank statement pickup", ConnectionKind.INBOUND_SFTP,
                   "Bank statements"),
    DemoConnection("partners", "Tracking portal", ConnectionKind.API_INTEGRATION,
                   "Tracking API key", (("endpoint_url", "https://tracking.example/api"),)),
    DemoConnection("finance", "Billing platform", ConnectionKind.API_INTEGRATION,
                   "Billing API", (("endpoint_url", "https://billing.example/api"),)),
    DemoConnection("partners", "Warranty portal", ConnectionKind.API_INTEGRATION,
                   "Warranty API key", (("endpoint_url", "https://warranty.example/api"),
                                        ("is_active", False))),
    DemoConnection("operations", "Dock scheduler upload", ConnectionKind.INBOUND_SFTP,
                   "Dock scheduler"),
]


def _unit(org: Organization, demo: DemoUnit) -> BusinessUnit:
    unit, _ = BusinessUnit.objects.get_or_create(
        organization=org, slug=demo.slug,
        defaults={"name": demo.name, "contact_emails": demo.contacts},
    )
    return unit


def _credential(unit: BusinessUnit, demo: DemoCredential, owner: User,
                now: datetime) -> Credential:
    """Creates the credential unless it exists; an already expired one is created in the past."""
    existing = Credential.objects.filter(business_unit=unit, name=demo.name).first()
    if existing:
        return existing
    kind = kind_for(demo.kind)
    valid_until = None
    if kind.expiry_from_material:
        material = kind.example(identity=demo.identity, days=demo.days or 365,
                                now=now - timedelta(days=demo.issued_days_ago))
    else:
        material = kind.example(identity=demo.identity, now=now)
        valid_until = now + timedelta(days=demo.days) if demo.days is not None else None
    expiry = valid_until or material.valid_until
    created = expiry - timedelta(days=60) if expiry and expiry <= now else now
    return credential_create(
        business_unit=unit, kind=demo.kind, name=demo.name, material=material,
        valid_until=valid_until, actor=owner, now=created,
    )


def _connect(unit: BusinessUnit, demo: DemoConnection, credential: Credential,
             owner: User) -> None:
    if not Connection.objects.filter(business_unit=unit, name=demo.name).exists():
        connection_save(
            connection=Connection(business_unit=unit, name=demo.name, kind=demo.kind,
                                  credential=credential, **dict(demo.fields)),
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


def _scheduled_change(credential: Credential, owner: User, now: datetime) -> None:
    """A rotation to new material in a week, with a week of overlap: the rotation banner and
    the Cancel Scheduled Rotation action."""
    rotation_schedule(
        credential=credential, actor=owner, starts_at=now + timedelta(days=7),
        overlap_ends_at=now + timedelta(days=14),
        material=credential.kind_spec.generate(
            current=current_version(credential), name=credential.name,
            days=credential.lifetime_days, now=now),
        reason="Quarterly key change",
    )


def _cutover(credential: Credential, owner: User, now: datetime) -> None:
    """A rotation yesterday with five days of overlap: the partner's new host logs
    in with the new password, an old one still with the old password (the Cut-over panel,
    the overview's overlaps and the list filter "old version still in use")."""
    old = current_version(credential)
    start = now - timedelta(days=1)
    rotation = rotation_schedule(
        credential=credential, actor=owner, starts_at=start, now=start - timedelta(days=1),
        overlap_ends_at=now + timedelta(days=4),
        material=credential.kind_spec.generate(current=old, name=credential.name,
                                               days=credential.lifetime_days, now=start),
        reason="The partner moves to a new upload host",
    )
    rotation_execute(rotation=rotation, now=start)
    new = current_version(credential)
    for hours, version, address in ((20, old, "198.51.100.23"), (6, new, "203.0.113.40"),
                                    (3, old, "198.51.100.23"), (1, new, "203.0.113.40")):
        version_use_record(version=version, channel=UseChannel.SFTP_LOGIN, address=address,
                           now=now - timedelta(hours=hours))


def _members(organizations: dict[str, Organization]) -> dict[str, User]:
    """Each demo user with their role; returns each organization's owner."""
    owners = {}
    for demo in DEMO_USERS:
        user = _user(demo)
        membership_set_role(organization=organizations[demo.organization], user=user,
                            role=demo.role, actor=SYSTEM)
        if demo.role == Role.OWNER:
            owners[demo.organization] = user
    return owners


@transaction.atomic
def load_demo_data(now: datetime | None = None) -> list[DemoUser]:
    now = now or timezone.now()
    organizations = {
        "northwind": Organization.objects.get_or_create(
            slug="northwind", defaults={"name": "Northwind Logistics"})[0],
        "globex": Organization.objects.get_or_create(
            slug="globex", defaults={"name": "Globex Freight"})[0],
    }
    owners = _members(organizations)
    units = {demo.slug: _unit(organizations[demo.organization], demo) for demo in DEMO_UNITS}
    owner_of = {demo.slug: owners[demo.organization] for demo in DEMO_UNITS}
    credentials = {demo.name: _credential(units[demo.unit], demo, owner_of[demo.unit], now)
                   for demo in DEMO_CREDENTIALS}
    for demo in DEMO_CONNECTIONS:
        _connect(units[demo.unit], demo, credentials[demo.credential], owner_of[demo.unit])
    warranty, bank = credentials["Warranty API key"], credentials["Bank statements"]
    if not warranty.rotations.exists():
        _scheduled_change(warranty, owner_of["partners"], now)
    if not bank.rotations.exists():
        _failed_swap(bank, credentials["Bank statements (spare)"], owner_of["finance"], now)
    acme = credentials["Acme inbound drop"]
    if not acme.rotations.exists():
        _cutover(acme, owner_of["warehousing"], now)
    for step in settings.KEYTURN_DEMO_STEPS:  # the apps above credentials: partner contacts
        import_string(step)(now)
    return DEMO_USERS
