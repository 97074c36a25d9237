"""Helpers for the portal's tests: the pages a signed-in user can open, and the check that a
form refused bad input with an error on the field at fault."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpResponse
from django.urls import reverse

from credentials.models import Credential, Kind
from partners.models import PartnerContact

# The fields every credential form asks for besides its kind's own.
CREDENTIAL_FORM = {"business_unit": "warehouse", "rotation_policy": "reminders",
                   "lifetime_days": "180", "notes": ""}


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
        pages.append(reverse("connection_contact_add", args=[org, connection.pk]))
    if credential.kind_spec.token_client:
        pages.append(reverse("credential_contact_add", args=[org, pk]))
    for contact in PartnerContact.objects.filter(
            Q(credential=credential) | Q(connection__credential=credential)):
        pages.append(reverse("contact_edit", args=[org, contact.pk]))
        pages.append(reverse("contact_remove", args=[org, contact.pk]))
    pages.append(reverse("handoff_send", args=[org, pk]))
    for handoff in credential.handoffs.all():
        pages.append(reverse("handoff_revoke", args=[org, pk, handoff.pk]))
    return pages


def organization_pages(org: str) -> list[str]:
    """Every GET page of one organization that is about no single credential."""
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


def form_errors(response: HttpResponse) -> dict[str, list[str]]:
    """Every error of every form on the page, by field name."""
    errors: dict[str, list[str]] = {}
    for name in ("details", "material_form", "form", "plan", "second"):
        form = response.context.get(name) if response.context else None
        if form is not None:
            for field, messages in form.errors.items():
                errors.setdefault(field, []).extend(messages)
    return errors


def assert_refused(response: HttpResponse, field: str, words: str) -> None:
    """The page came back with `words` in an error on `field`, shown on that field's row."""
    assert response.status_code == 200
    errors = form_errors(response)
    assert field in errors, errors
    assert words in " ".join(errors[field])
    html = response.content.decode()
    row = html.split(f"field-{field}", 1)[1].split('<div class="form-row', 1)[0]
    assert words in row  # shown on the field's own row
