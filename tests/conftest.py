"""Shared fixtures: alice the owner, bob the manager, rita the reviewer and vic the viewer of
Acme; charlie the owner of Globex, another organization."""

import pytest

from organizations.roles import Role
from tests.factories import make_org, make_user


@pytest.fixture
def acme(db):
    return make_org("acme", units=("warehouse", "finance"))


@pytest.fixture
def globex(db):
    return make_org("globex", units=("operations",))


@pytest.fixture
def unit(acme):
    return acme.business_units.get(slug="warehouse")


@pytest.fixture
def alice(acme):
    return make_user("alice", acme, Role.OWNER)


@pytest.fixture
def bob(acme):
    return make_user("bob", acme, Role.MANAGER)


@pytest.fixture
def rita(acme):
    return make_user("rita", acme, Role.REVIEWER)


@pytest.fixture
def vic(acme):
    return make_user("vic", acme, Role.VIEWER)


@pytest.fixture
def charlie(globex):
    return make_user("charlie", globex, Role.OWNER)


@pytest.fixture(autouse=True)
def _postgres_only(request):
    """Tests marked `postgres` run in the PostgreSQL pass of .ci/run and skip elsewhere."""
    if request.node.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL: `DATABASE_URL=postgres://... make test-postgres`")
