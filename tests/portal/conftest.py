"""Helpers for the portal's tests: a credential of every kind, each used by a connection, and
the list of every page a signed-in user can open about a credential."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from credentials.models import Credential, Kind
from credentials.rotation.requests import rotation_schedule
from tests.factories import make_connection, make_credential, material_for


def credential_pages(credential: Credential) -> list[str]:
    """Every GET page about one credential (the Manage actions included)."""
    org = credential.business_unit.organization.slug
    pk = credential.pk
    pages = [
        reverse("credential_detail", args=[org, pk]),
        reverse("credential_detail", args=[org, pk]) + "?tab=usage",
        reverse("credential_detail", args=[org, pk]) + "?tab=history",
        reverse("credential_edit", args=[org, pk]),
        reverse("credential_rotate", args=[org, pk]),
        reverse("credential_deactivate", args=[org, pk]),
        reverse("credential_reactivate", args=[org, pk]),
        reverse("credential_attach", args=[org, pk]),
        reverse("unit_family", args=[org, credential.business_unit.slug, credential.family]),
    ]
    for rotation in credential.rotations.filter(state="scheduled"):
        pages.append(reverse("rotation_cancel", args=[org, pk, rotation.pk]))
    for connection in credential.connections.all():
        pages.append(reverse("connection_edit", args=[org, connection.pk]))
        pages.append(reverse("connection_detach", args=[org, connection.pk]))
    return pages


def organization_pages(org: str) -> list[str]:
    return [
        reverse("organization_overview", args=[org]),
        reverse("unit_list", args=[org]),
        reverse("credential_list", args=[org]),
        reverse("credential_list", args=[org]) + "?status=expiring_soon&sort=expiry",
        reverse("credential_new", args=[org]),
        reverse("connection_list", args=[org]),
        reverse("connection_create", args=[org]),
        reverse("audit_list", args=[org]),
        reverse("member_list", args=[org]),
        *(reverse("credential_create", args=[org, kind]) for kind in Kind.values),
    ]


@pytest.fixture
def every_kind(unit, alice) -> dict[str, Credential]:
    """One credential of each kind, used by an active connection, with a scheduled rotation
    to new material (so a pending version exists too)."""
    now = timezone.now()
    made = {}
    for kind in Kind.values:
        credential = make_credential(unit, kind, actor=alice, name=f"Every {kind}",
                                     expires_in=timedelta(days=90))
        make_connection(credential, alice)
        rotation_schedule(credential=credential, starts_at=now + timedelta(days=5),
                          material=material_for(kind), actor=alice)
        made[kind] = credential
    return made
