"""Organization pages: the overview security staff live on, business units and members."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from audit.selectors import recent_changes, recent_reveals
from audit.services import client_ip
from credentials import selectors
from credentials.status import Badge, credential_badges

from .forms import InvitationEmailForm, InviteForm, RoleForm
from .models import Membership, Organization, User
from .roles import Perm, Role
from .selectors import organization_members
from .services import MembershipError, membership_invite, membership_remove, membership_set_role


def get_organization(request: HttpRequest, slug: str) -> Organization:
    """The organization named in the URL, if the user belongs to it (404 otherwise).

    Every access helper answers in this order: the organization among the user's own (404),
    the object within it (404), then the permission (403). Existence comes before permission,
    so another organization's ids answer 404 whatever the user's role."""
    organization = get_object_or_404(Organization.objects.for_user(request.user), slug=slug)
    request.organization = organization
    return organization


def require_org_perm(request: HttpRequest, organization: Organization, perm: str) -> None:
    """403 for a member of the organization without `perm`."""
    if not request.user.has_org_perm(organization, perm):
        raise PermissionDenied


@login_required
def home(request: HttpRequest) -> HttpResponse:
    organization = Organization.objects.for_user(request.user).first()
    if organization is None:
        return render(request, "organizations/no_organization.html")
    return redirect("organization_overview", org_slug=organization.slug)


@login_required
def organization_overview(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    now = timezone.now()
    user = request.user
    counts = selectors.status_counts(user=user, organization=organization, now=now)
    expiring = list(selectors.credentials_expiring(user=user, organization=organization, now=now))
    expired = list(selectors.credentials_expired(user=user, organization=organization, now=now))
    for credential in expiring + expired:
        credential.badges = credential_badges(credential, now)
    can_view_audit = user.has_org_perm(organization, Perm.VIEW_AUDIT)
    return render(request, "organizations/overview.html", {
        "organization": organization,
        "total": counts["total"],
        "stats": [(badge, counts[badge.value]) for badge in Badge],
        "expiring": expiring,
        "expired": expired,
        "scheduled": list(selectors.rotations_scheduled(user=user, organization=organization)),
        "can_view_audit": can_view_audit,
        "reveals": list(recent_reveals(organization)) if can_view_audit else [],
        "changes": list(recent_changes(organization)) if can_view_audit else [],
        "now": now,
    })


@login_required
def unit_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    return render(request, "organizations/unit_list.html", {
        "organization": organization,
        "units": selectors.units_with_counts(request.user, organization),
    })


# --- Members -----------------------------------------------------------------------------


@login_required
def member_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    require_org_perm(request, organization, Perm.MANAGE_MEMBERS)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership, created = membership_invite(
                organization=organization, email=form.cleaned_data["email"],
                role=form.cleaned_data["role"], actor=request.user, source_ip=client_ip(request),
            )
        except MembershipError as exc:
            form.add_error("email", str(exc))
        else:
            invited = membership.user
            if created:
                _send_invitation(request, invited)
                messages.success(request, f"Invited {invited.email} as "
                                          f"{membership.get_role_display()}; they got an email "
                                          "to choose a password.")
            else:
                messages.success(request, f"Added {invited.get_username()} as "
                                          f"{membership.get_role_display()}.")
            return redirect("member_list", org_slug=organization.slug)
    return render(request, "organizations/member_list.html", {
        "organization": organization,
        "members": organization_members(organization),
        "form": form,
        "roles": Role.choices,
    })


def _send_invitation(request: HttpRequest, user: User) -> None:
    """Emails the invitee a link to choose a password (Django's password reset email)."""
    site = urlsplit(settings.SITE_URL)
    email_form = InvitationEmailForm(user)
    email_form.is_valid()
    email_form.save(
        domain_override=site.netloc, use_https=site.scheme == "https", request=request,
        subject_template_name="registration/invitation_subject.txt",
        email_template_name="registration/invitation_email.txt",
        extra_email_context={"organization": request.organization, "site_url": settings.SITE_URL,
                             "inviter": request.user},
    )


def _get_membership(request: HttpRequest, org_slug: str, pk: int) -> Membership:
    organization = get_organization(request, org_slug)
    membership = get_object_or_404(organization_members(organization), pk=pk)
    require_org_perm(request, organization, Perm.MANAGE_MEMBERS)
    return membership


@login_required
@require_POST
def member_role(request: HttpRequest, org_slug: str, pk: int) -> HttpResponse:
    membership = _get_membership(request, org_slug, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
    else:
        try:
            membership_set_role(organization=membership.organization, user=membership.user,
                                role=form.cleaned_data["role"], actor=request.user,
                                source_ip=client_ip(request))
        except MembershipError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{membership.user.get_username()} is now "
                                      f"{Role(form.cleaned_data['role']).label}.")
    return redirect("member_list", org_slug=org_slug)


@login_required
def member_remove(request: HttpRequest, org_slug: str, pk: int) -> HttpResponse:
    membership = _get_membership(request, org_slug, pk)
    if request.method == "POST":
        try:
            membership_remove(membership=membership, actor=request.user,
                              source_ip=client_ip(request))
        except MembershipError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Removed {membership.user.get_username()} from "
                                      f"{membership.organization.name}.")
        return redirect("member_list", org_slug=org_slug)
    return render(request, "organizations/member_remove.html", {
        "organization": membership.organization, "membership": membership,
    })


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
