"""Reads across credentials, versions, connections and rotations for the portal's pages.

Each selector returns a queryset (or a small structure) with its joins and prefetches
already applied, so a page costs the same number of queries for 10 credentials or 10,000.
Badges are never decided here: status.with_status/status_q do that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from django.db.models import (
    Count,
    Exists,
    F,
    FilteredRelation,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from audit.models import AuditEvent
from audit.selectors import REVEAL_ACTIONS
from config.instances import columns, prefixed, take
from config.prepared import PreparedQuery
from organizations.models import BusinessUnit, Membership, Organization, User

from .kinds import Family, kinds_in_family
from .models import (
    Connection,
    Credential,
    CredentialTally,
    CredentialVersion,
    Kind,
    Rotation,
    RotationState,
    VersionState,
    connection_kinds_for,
)
from .status import Badge, badge_counts, badge_sets, indexed_status_q, with_status
from .usage import old_in_use_q

# Public columns of a version; the ciphertext is never loaded for a page.
PUBLIC_VERSION_FIELDS = (
    "id", "credential", "number", "state", "username", "client_id", "key_id", "public_key",
    "fingerprint", "certificate_pem", "cert_subject", "cert_issuer", "cert_serial",
    "cert_not_before", "valid_from", "valid_until", "created_at", "created_by",
    "activated_at", "retired_at", "last_used_at", "stops_at",
)

SORTS: dict[str, tuple[object, ...]] = {
    "name": ("name", "pk"),
    "-name": ("-name", "pk"),
    "expiry": (F("expires_at").asc(nulls_last=True), "name", "pk"),
    "-expiry": (F("expires_at").desc(nulls_last=True), "name", "pk"),
}
EXPIRING_LIST_WINDOW = timedelta(days=30)


def organization_credentials(user: User, organization: Organization) -> QuerySet[Credential]:
    """The organization's credentials as `user` may see them (none for a non-member)."""
    return Credential.objects.for_user(user).filter(business_unit__organization=organization)


@dataclass(frozen=True)
class CredentialFilters:
    """What a list page was asked for; every field comes from a GET parameter."""

    status: str = ""
    kind: str = ""
    family: str = ""
    unit: BusinessUnit | None = None
    q: str = ""
    sort: str = "name"
    old_in_use: bool = False  # usage.old_in_use_q: an overlap whose old version is in use


@dataclass
class ListRow:
    """What a row of a credential list shows: the credential's public columns, its badge
    facts (status.facts_of reads them) and its current version's public identifiers; the
    view adds its address and badges."""

    pk: UUID
    name: str
    kind: str
    is_active: bool
    unit_name: str
    expires_at: datetime | None
    in_use: bool
    rotation_scheduled: bool
    username: str | None
    client_id: str | None
    key_id: str | None
    fingerprint: str | None
    url: str = ""
    badges_html: str = ""

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def identity(self) -> str:
        return self.username or self.client_id or "—"


KIND_LABELS = dict(Kind.choices)
_ROW_COLUMNS = ("pk", "name", "kind", "is_active", "business_unit__name", "expires_at",
                "in_use", "rotation_scheduled", "current__username", "current__client_id",
                "current__key_id", "current__fingerprint")


def _with_current(credentials: QuerySet[Credential]) -> QuerySet[Credential]:
    """Joins each credential's current version (at most one: a constraint) as `current`."""
    return credentials.annotate(current=FilteredRelation(
        "versions", condition=Q(versions__state=VersionState.CURRENT)))


# Filters whose SQL holds no time: a page they shape is prepared once per process (see
# CredentialPage). The others write `now` moved by a window into their SQL as a constant, or
# wrap the search text in a pattern, so those pages are compiled per request.
_TIMELESS_STATUSES = frozenset({"", Badge.ACTIVE, Badge.INACTIVE, Badge.ROTATION_SCHEDULED})
_PARAMETERS = {
    "user": Membership._meta.get_field("user"),
    "organization": BusinessUnit._meta.get_field("organization"),
    "unit": Credential._meta.get_field("business_unit"),
    "kind": Credential._meta.get_field("kind"),
}
_PREPARED_PAGES: dict[tuple[object, ...], tuple[PreparedQuery, PreparedQuery]] = {}


def _matching(p: dict[str, Any], filters: CredentialFilters,
              now: datetime | None) -> QuerySet[Credential]:
    """The credentials a list page shows: those of organization `p["organization"]` that user
    `p["user"]` may see, filtered (not annotated, not ordered). The unit and the kind come
    from `p`, as parameters of a prepared query do."""
    credentials = _in_unit_and_kind(Credential.objects.visible_to(p["user"]).filter(
        business_unit__organization=p["organization"]), p, filters)
    if filters.status:
        credentials = credentials.filter(indexed_status_q(filters.status, now))
    if filters.q:
        credentials = credentials.filter(search_q(filters.q))
    if filters.old_in_use:
        credentials = credentials.filter(old_in_use_q(now))
    return credentials


def _in_unit_and_kind(rows: QuerySet[Any], p: dict[str, Any],
                      filters: CredentialFilters) -> QuerySet[Any]:
    """`rows` (credentials, or their units' tallies: both have a unit and a kind) narrowed by
    the list's unit, family and kind."""
    if "unit" in p:
        rows = rows.filter(business_unit=p["unit"])
    if filters.family:
        rows = rows.filter(kind__in=kinds_in_family(filters.family))
    if "kind" in p:
        rows = rows.filter(kind=p["kind"])
    return rows


def _count(p: dict[str, Any], filters: CredentialFilters,
           now: datetime | None) -> QuerySet[Credential]:
    return _matching(p, filters, now).order_by().values_list(
        Func(F("pk"), function="COUNT", output_field=IntegerField()))


def _tally_answers(filters: CredentialFilters) -> bool:
    """Whether the units' tallies can count a list: they know each credential's unit and
    kind (so a family too), nothing else."""
    return not (filters.status or filters.q or filters.old_in_use)


def _tally_count(p: dict[str, Any], filters: CredentialFilters) -> QuerySet[CredentialTally]:
    """The count of a list filtered by unit, kind or family only (see _tally_answers), summed
    from the units' tallies (credentials.models.CredentialTally, kept by the database): a
    few rows, where counting the credentials themselves read every one of them (0.4 ms at
    10,000). The same membership join as _matching: a non-member counts nothing."""
    tallies = _in_unit_and_kind(CredentialTally.objects.filter(
        business_unit__organization=p["organization"],
        business_unit__organization__memberships__user=p["user"]), p, filters)
    return tallies.order_by().values_list(Coalesce(
        Func(F("total"), function="SUM", output_field=IntegerField()), 0))


def _page(p: dict[str, Any], filters: CredentialFilters, now: datetime | None,
          page: slice) -> QuerySet[Credential]:
    """The rows of one page. Its ids are chosen first, from the credentials alone (by name
    from the (unit, name, id) index; by expiry through the join to the current version),
    then only those rows get their badge facts and current version: annotating every
    matching credential before the sort cost 3 ms at 10,000."""
    ordering = SORTS.get(filters.sort, SORTS["name"])
    matching = _matching(p, filters, now)
    if filters.sort in ("expiry", "-expiry"):
        matching = _with_current(matching).annotate(expires_at=F("current__valid_until"))
    ids = matching.order_by(*ordering).values("pk")[page]
    # The expiry is read from the joined current version (one per credential: a constraint)
    # rather than by a subquery per row.
    return with_status(_with_current(Credential.objects.filter(pk__in=ids)),
                       current="current").order_by(*ordering).values_list(*_ROW_COLUMNS)


def _prepared(filters: CredentialFilters, names: tuple[str, ...]) -> tuple[PreparedQuery,
                                                                           PreparedQuery]:
    """The count and page queries of one shape of filters (at most a few hundred shapes: the
    parameters present, a family, a timeless status, a sort), prepared on first use. Their
    builders see the filters' shape only, never a request's values. Without a status, the
    count is the tallies' (_tally_count)."""
    shape = CredentialFilters(status=filters.status, family=filters.family, sort=filters.sort)
    key = (shape, names)
    prepared = _PREPARED_PAGES.get(key)
    if prepared is None:
        parameters = {name: _PARAMETERS[name] for name in names}
        count = (partial(_tally_count, filters=shape) if _tally_answers(shape)
                 else partial(_count, filters=shape, now=None))
        prepared = (
            PreparedQuery(count, **parameters),
            PreparedQuery(lambda p: _page(p, shape, None, PreparedQuery.PAGE), paged=True,
                          **parameters),
        )
        _PREPARED_PAGES[key] = prepared
    return prepared


class CredentialPage:
    """The rows of a list page, for a Paginator: count() counts the matching credentials,
    a slice reads one page. Pages without a search, the use filter or a status that is a
    matter of time are read by queries prepared once per process (config.prepared): building
    and compiling them cost more than running them."""

    def __init__(self, *, user: User, organization: Organization, filters: CredentialFilters,
                 now: datetime) -> None:
        self.filters, self.now = filters, now
        self.visible = user.is_authenticated
        self.values: dict[str, Any] = {"user": user.pk, "organization": organization.pk}
        if filters.unit is not None:
            self.values["unit"] = filters.unit.pk
        if filters.kind:
            self.values["kind"] = filters.kind
        self.prepared = (_prepared(filters, tuple(self.values))
                         if filters.status in _TIMELESS_STATUSES and not filters.q
                         and not filters.old_in_use else None)

    def count(self) -> int:
        if not self.visible:
            return 0
        if self.prepared is not None:
            return self.prepared[0].rows(**self.values)[0][0]
        return _count(self.values, self.filters, self.now).get()[0]

    def __getitem__(self, page: slice) -> list[ListRow]:
        if not self.visible or page.stop <= page.start:
            return []
        if self.prepared is not None:
            rows = self.prepared[1].rows(limit=page.stop - page.start, offset=page.start,
                                         **self.values)
        else:
            rows = _page(self.values, self.filters, self.now, page)
        return [ListRow(*row) for row in rows]


def search_q(text: str) -> Q:
    """Name, or a public field of the current version: user, client id, key id,
    fingerprint, certificate subject or serial."""
    text = text.strip()
    in_current = CredentialVersion.objects.filter(
        credential=OuterRef("pk"), state=VersionState.CURRENT
    ).filter(
        Q(username__icontains=text) | Q(client_id__icontains=text) | Q(key_id__icontains=text)
        | Q(fingerprint__icontains=text) | Q(cert_subject__icontains=text)
        | Q(cert_serial__iexact=text)
    )
    return Q(name__icontains=text) | Exists(in_current)


def status_counts(*, user: User, organization: Organization, now: datetime) -> dict[str, int]:
    """How many credentials show each badge (and in total), in one query: one count per
    badge, each from an index (see status.badge_sets)."""
    sets = badge_sets(organization_credentials(user, organization), now)
    sizes = Organization.objects.filter(pk=organization.pk).annotate(**{
        f"n_{name}": Subquery(
            credentials.order_by().annotate(
                n=Func(F("pk"), function="COUNT", output_field=IntegerField())
            ).values("n")
        ) for name, credentials in sets.items()
    }).values(*(f"n_{name}" for name in sets)).get()
    return badge_counts({name.removeprefix("n_"): value for name, value in sizes.items()})


def credentials_expiring(
    *, user: User, organization: Organization, now: datetime, limit: int = 20
) -> QuerySet[Credential]:
    """Still working, but expiring within the next 30 days (the overview's worklist)."""
    # Starts from the versions' (state, valid_until) index through the join to the current
    # version, rather than from every credential's computed expiry.
    return with_status(organization_credentials(user, organization)).select_related(
        "business_unit"
    ).filter(
        versions__state=VersionState.CURRENT, versions__valid_until__gt=now,
        versions__valid_until__lte=now + EXPIRING_LIST_WINDOW,
    ).order_by("versions__valid_until", "name", "pk")[:limit]


def credentials_expired(
    *, user: User, organization: Organization, now: datetime, limit: int = 20
) -> QuerySet[Credential]:
    """Expired, most recently first (the overview's worklist), from the same index."""
    return with_status(organization_credentials(user, organization)).select_related(
        "business_unit"
    ).filter(indexed_status_q(Badge.EXPIRED, now)).order_by(
        "-versions__valid_until", "name", "pk"
    )[:limit]


def rotations_scheduled(
    *, user: User, organization: Organization, limit: int = 20
) -> QuerySet[Rotation]:
    # From the rotations' (state, starts_at) index, each credential joined by its key
    # (rather than asking, credential by credential, whether it has one).
    return Rotation.objects.filter(
        state=RotationState.SCHEDULED,
        credential__business_unit__organization=organization,
        credential__business_unit__organization__memberships__user=user,
    ).select_related("credential__business_unit", "requested_by", "replacement").order_by(
        "starts_at", "pk"
    )[:limit]


# Who created or asked for something: the pages show the user name only.
_USER_COLUMNS = columns(User, ("id", "username"))

_CREDENTIAL_COLUMNS = columns(Credential)
_UNIT_COLUMNS = columns(BusinessUnit)
_ORGANIZATION_COLUMNS = columns(Organization)
_STATUS_COLUMNS = ("expires_at", "in_use", "rotation_scheduled")
_UNITS_OF = PreparedQuery(
    lambda p: BusinessUnit.objects.filter(organization=p["organization"]).values_list(
        *_UNIT_COLUMNS).order_by("name"),
    organization=BusinessUnit._meta.get_field("organization"),
)


def organization_units(organization: Organization) -> list[BusinessUnit]:
    """The organization's business units by name (a list page's unit filter and tabs), by
    one prepared query."""
    return [BusinessUnit.from_db("default", _UNIT_COLUMNS, row)
            for row in _UNITS_OF.rows(organization=organization.pk)]

_CREDENTIAL_FOR_DETAIL = PreparedQuery(
    lambda p: with_status(Credential.objects.visible_to(p["user"]).filter(
        pk=p["pk"], business_unit__organization=p["organization"],
    )).values_list(
        *_CREDENTIAL_COLUMNS, *_STATUS_COLUMNS,
        *prefixed("business_unit", _UNIT_COLUMNS),
        *prefixed("business_unit__organization", _ORGANIZATION_COLUMNS),
        *prefixed("created_by", _USER_COLUMNS),
    ).order_by(),
    pk=Credential._meta.get_field("id"),
    organization=BusinessUnit._meta.get_field("organization"),
    user=Membership._meta.get_field("user"),
)


def credential_for_detail(*, user: User, organization: Organization, pk: object) -> Credential:
    """One credential with its badge facts, its unit and organization and who created it;
    raises Credential.DoesNotExist for another organization's (or an unknown) id. Every page
    of a credential starts with it: one prepared query (config.prepared), selecting it as
    organization_credentials(user, organization) does."""
    rows = _CREDENTIAL_FOR_DETAIL.rows(pk=pk, organization=organization.pk, user=user.pk) \
        if user.is_authenticated else []
    if not rows:
        raise Credential.DoesNotExist
    values = iter(rows[0])
    credential = take(values, Credential, _CREDENTIAL_COLUMNS)
    for name in _STATUS_COLUMNS:
        setattr(credential, name, next(values))
    credential.business_unit = take(values, BusinessUnit, _UNIT_COLUMNS)
    credential.business_unit.organization = take(values, Organization, _ORGANIZATION_COLUMNS)
    credential.created_by = take(values, User, _USER_COLUMNS)
    return credential


@dataclass
class VersionSet:
    """The versions that matter for the detail page, by state."""

    current: CredentialVersion | None
    pending: CredentialVersion | None
    previous: CredentialVersion | None
    all: list[CredentialVersion]


_VERSION_COLUMNS = columns(CredentialVersion, tuple(
    CredentialVersion._meta.get_field(name).attname for name in PUBLIC_VERSION_FIELDS))
_VERSIONS_OF = PreparedQuery(
    lambda p: CredentialVersion.objects.filter(credential=p["credential"]).values_list(
        *_VERSION_COLUMNS, *prefixed("created_by", _USER_COLUMNS),
    ).order_by("-created_at", F("number").desc(nulls_first=True)),
    credential=CredentialVersion._meta.get_field("credential"),
)


def credential_versions(credential: Credential) -> VersionSet:
    """Newest first: versions are created in the order they go live, and one that has not
    (pending, or never used) has no number yet. Their public columns only, with who created
    each, by one prepared query."""
    versions = []
    for row in _VERSIONS_OF.rows(credential=credential.pk):
        values = iter(row)
        version = take(values, CredentialVersion, _VERSION_COLUMNS)
        version.created_by = take(values, User, _USER_COLUMNS)
        versions.append(version)
    by_state = {v.state: v for v in versions
                if v.state in (VersionState.CURRENT, VersionState.PENDING, VersionState.PREVIOUS)}
    return VersionSet(
        current=by_state.get(VersionState.CURRENT),
        pending=by_state.get(VersionState.PENDING),
        previous=by_state.get(VersionState.PREVIOUS),
        all=versions,
    )


_ROTATION_COLUMNS = columns(Rotation)
_REPLACEMENT_COLUMNS = columns(Credential, ("id", "name"))
_ROTATIONS_OF = PreparedQuery(
    lambda p: Rotation.objects.filter(credential=p["credential"]).values_list(
        *_ROTATION_COLUMNS, *prefixed("requested_by", _USER_COLUMNS),
        *prefixed("replacement", _REPLACEMENT_COLUMNS),
    ).order_by("-created_at"),
    credential=Rotation._meta.get_field("credential"),
)


def credential_rotations(credential: Credential) -> list[Rotation]:
    """Newest first, with who asked and the swap's replacement (its name), by one prepared
    query (the page reads their versions' ids only: their rows, secret included, are not
    loaded)."""
    rotations = []
    for row in _ROTATIONS_OF.rows(credential=credential.pk):
        values = iter(row)
        rotation = take(values, Rotation, _ROTATION_COLUMNS)
        rotation.requested_by = take(values, User, _USER_COLUMNS)
        rotation.replacement = take(values, Credential, _REPLACEMENT_COLUMNS)
        rotations.append(rotation)
    return rotations


_CONNECTION_COLUMNS = columns(Connection)
_CONNECTIONS_OF = PreparedQuery(
    lambda p: Connection.objects.filter(credential=p["credential"]).values_list(
        *_CONNECTION_COLUMNS, *prefixed("business_unit", _UNIT_COLUMNS),
    ).order_by("-is_active", "name"),
    credential=Connection._meta.get_field("credential"),
)


def credential_connections(credential: Credential) -> list[Connection]:
    """What uses the credential, active first, each with its unit, by one prepared query."""
    connections = []
    for row in _CONNECTIONS_OF.rows(credential=credential.pk):
        values = iter(row)
        connection = take(values, Connection, _CONNECTION_COLUMNS)
        connection.business_unit = take(values, BusinessUnit, _UNIT_COLUMNS)
        connections.append(connection)
    return connections


def credential_reveals(credential: Credential, limit: int = 50) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        organization_id=credential.business_unit.organization_id,
        action__in=REVEAL_ACTIONS, target_type="credential", target_id=str(credential.pk),
    ).select_related("actor")[:limit]


def swap_candidates(credential: Credential, user: User) -> QuerySet[Credential]:
    """Other credentials of the same kind in the organization, for a swap."""
    return organization_credentials(user, credential.business_unit.organization).filter(
        kind=credential.kind
    ).exclude(pk=credential.pk).select_related("business_unit").order_by("name")


def attachable_connections(credential: Credential, user: User) -> QuerySet[Connection]:
    """The organization's connections whose kind may use this credential and that use
    another credential (or none)."""
    return Connection.objects.for_user(user).filter(
        business_unit__organization=credential.business_unit.organization_id,
        kind__in=connection_kinds_for(credential.family),
    ).exclude(credential=credential).select_related("business_unit", "credential").order_by(
        "name"
    )


def organization_connections(user: User, organization: Organization) -> QuerySet[Connection]:
    return Connection.objects.for_user(user).filter(
        business_unit__organization=organization
    ).select_related("business_unit", "credential").order_by("name")


def units_with_counts(user: User, organization: Organization) -> QuerySet[BusinessUnit]:
    """Business units with how many credentials of each family they hold."""
    counts = {
        f"{family.value}_count": Count(
            "credentials", filter=Q(credentials__kind__in=kinds_in_family(family)), distinct=True
        )
        for family in Family
    }
    return BusinessUnit.objects.for_user(user).filter(organization=organization).annotate(
        connection_count=Count("connections", distinct=True), **counts
    ).order_by("name")
