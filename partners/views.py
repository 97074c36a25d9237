"""Partner contact pages: add on a connection's page or an API client credential's page, edit,
remove. The object in the URL is looked up in the user's organization first (404), then the
permission to manage its family (403)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from credentials.hooks import DetailSection
from credentials.models import Connection, Credential
from credentials.selectors import credential_for_detail
from organizations.access import client_ip, get_organization, require_org_perm
from organizations.models import Organization, User

from . import selectors
from .forms import ContactForm
from .models import PartnerContact
from .services import (
    PartnerError,
    contacts_allowed,
    manage_perm,
    partner_contact_add,
    partner_contact_edit,
    partner_contact_remove,
)


def _owner_url(owner: Connection | Credential) -> str:
    org = owner.business_unit.organization.slug
    if isinstance(owner, Connection):
        return reverse("connection_edit", args=[org, owner.pk]) + "#partner-contacts"
    return reverse("credential_detail", args=[org, owner.pk]) + "#partner-contacts"


def _get_connection(request: HttpRequest, org_slug: str, pk: UUID
                    ) -> tuple[Organization, Connection]:
    organization = get_organization(request, org_slug)
    connection = get_object_or_404(
        Connection.objects.for_user(request.user).select_related("business_unit__organization"),
        pk=pk, business_unit__organization=organization)
    require_org_perm(request, organization, manage_perm(connection))
    return organization, connection


def _get_credential(request: HttpRequest, org_slug: str, pk: UUID
                    ) -> tuple[Organization, Credential]:
    organization = get_organization(request, org_slug)
    try:
        credential = credential_for_detail(user=request.user, organization=organization, pk=pk)
    except Credential.DoesNotExist:
        raise Http404("No such credential.") from None
    if not contacts_allowed(credential):
        raise Http404("This credential has no contacts of its own.")
    require_org_perm(request, organization, credential.manage_perm)
    return organization, credential


def _get_contact(request: HttpRequest, org_slug: str, contact_pk: UUID
                 ) -> tuple[Organization, PartnerContact]:
    organization = get_organization(request, org_slug)
    try:
        contact = selectors.contact_in_organization(organization, contact_pk)
    except PartnerContact.DoesNotExist:
        raise Http404("No such contact.") from None
    require_org_perm(request, organization, manage_perm(contact))
    return organization, contact


def _form_page(request: HttpRequest, organization: Organization, owner: Connection | Credential,
               form: ContactForm, contact: PartnerContact | None) -> HttpResponse:
    return render(request, "partners/contact_form.html", {
        "organization": organization, "owner": owner, "form": form, "contact": contact,
        "is_connection": isinstance(owner, Connection), "back": _owner_url(owner),
    })


def _add(request: HttpRequest, organization: Organization,
         owner: Connection | Credential) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = partner_contact_add(owner=owner, fields=form.contact_fields(),
                                          actor=request.user, source_ip=client_ip(request))
        except PartnerError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, f"Added {contact} as a partner contact of "
                                      f"“{owner.name}”.")
            return redirect(_owner_url(owner))
    return _form_page(request, organization, owner, form, None)


@login_required
def connection_contact_add(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    organization, connection = _get_connection(request, org_slug, pk)
    return _add(request, organization, connection)


@login_required
def credential_contact_add(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    organization, credential = _get_credential(request, org_slug, pk)
    return _add(request, organization, credential)


@login_required
def contact_edit(request: HttpRequest, org_slug: str, contact_pk: UUID) -> HttpResponse:
    organization, contact = _get_contact(request, org_slug, contact_pk)
    owner = contact.attached_to
    form = ContactForm(request.POST or None, initial={
        "name": contact.name, "email": contact.email, "note": contact.note,
        "time_zone": contact.time_zone})
    if request.method == "POST" and form.is_valid():
        try:
            partner_contact_edit(contact=contact, fields=form.contact_fields(),
                                 actor=request.user, source_ip=client_ip(request))
        except PartnerError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, f"Saved {contact}.")
            return redirect(_owner_url(owner))
    return _form_page(request, organization, owner, form, contact)


@login_required
def contact_remove(request: HttpRequest, org_slug: str, contact_pk: UUID) -> HttpResponse:
    organization, contact = _get_contact(request, org_slug, contact_pk)
    owner = contact.attached_to
    if request.method == "POST":
        partner_contact_remove(contact=contact, actor=request.user,
                               source_ip=client_ip(request))
        messages.success(request, f"Removed {contact}: they get no more emails about "
                                  f"“{owner.name}”.")
        return redirect(_owner_url(owner))
    return render(request, "partners/contact_remove.html", {
        "organization": organization, "owner": owner, "contact": contact,
        "is_connection": isinstance(owner, Connection), "back": _owner_url(owner),
    })


# --- Sections of other apps' pages (credentials.hooks) --------------------------------------


def connection_contacts_section(connection: Connection, user: User) -> DetailSection:
    """The "Partner contacts" section of a connection's page (CONNECTION_SECTIONS); that page
    is for those who manage the connection already."""
    organization = connection.business_unit.organization
    return DetailSection("partners/_contacts.html", {
        "organization": organization, "contacts": list(
            selectors.contacts_of_connection(connection)),
        "add_url": reverse("connection_contact_add", args=[organization.slug, connection.pk]),
        "can_manage": user.has_org_perm(organization, manage_perm(connection)),
        "what": "connection",
    })


def credential_contacts_section(credential: Credential, user: User) -> DetailSection | None:
    """The Details tab's "Partner contacts" of an API client credential (DETAIL_SECTIONS): its
    own contacts and those of the connections that use it."""
    if not contacts_allowed(credential):
        return None
    organization = credential.business_unit.organization
    return DetailSection("partners/_contacts.html", {
        "organization": organization,
        "contacts": list(selectors.contacts_for_credential(credential)),
        "add_url": reverse("credential_contact_add", args=[organization.slug, credential.pk]),
        "can_manage": user.has_org_perm(organization, credential.manage_perm),
        "what": "credential",
    })
