"""Members pages: who belongs to the organization, invitations (sent, re-sent, revoked, and
accepted by the invitee), role changes and removal."""

from __future__ import annotations

import logging
import smtplib
import uuid

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.reauthentication import reauthentication_required
from accounts.services import AccountError, organization_second_factor_set
from organizations.access import client_ip, get_organization, require_org_perm
from organizations.models import Membership
from organizations.roles import Perm, Role

from .emails import invitation_email_send
from .forms import InvitationSignUpForm, InviteForm, RoleForm, SecondFactorPolicyForm
from .models import Invitation
from .selectors import accepted_invitation, organization_invitations, organization_members
from .services import (
    INVALID_INVITATION,
    InvitationError,
    MembershipError,
    invitation_accept,
    invitation_create,
    invitation_open_for,
    invitation_resend,
    invitation_revoke,
    invitation_sign_up,
    invitation_token_hash,
    membership_remove,
    membership_set_role,
)

logger = logging.getLogger(__name__)


@login_required
@reauthentication_required  # inviting (POST)
def member_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    require_org_perm(request, organization, Perm.MANAGE_MEMBERS)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, token = invitation_create(
                organization=organization, email=form.cleaned_data["email"],
                role=form.cleaned_data["role"], actor=request.user, now=timezone.now(),
                source_ip=client_ip(request),
            )
        except MembershipError as exc:
            form.add_error("email", str(exc))
        else:
            # The same answer whether or not the address has an account anywhere.
            _send_invitation(request, invitation, token)
            return redirect("member_list", org_slug=organization.slug)
    return render(request, "members/member_list.html", {
        "organization": organization,
        "members": organization_members(organization),
        "invitations": [(invitation, invitation.state_at(timezone.now()))
                        for invitation in organization_invitations(organization)],
        "form": form,
        "roles": Role.choices,
        "policy_form": SecondFactorPolicyForm(
            initial={"require_second_factor": organization.require_second_factor}),
    })


@login_required
@require_POST
@reauthentication_required
def second_factor_policy(request: HttpRequest, org_slug: str) -> HttpResponse:
    """An owner requires (or stops requiring) a second factor of every member."""
    organization = get_organization(request, org_slug)
    require_org_perm(request, organization, Perm.MANAGE_MEMBERS)
    form = SecondFactorPolicyForm(request.POST)
    form.is_valid()  # a checkbox: always valid
    required = form.cleaned_data["require_second_factor"]
    try:
        changed = organization_second_factor_set(organization=organization, required=required,
                                                 actor=request.user,
                                                 source_ip=client_ip(request))
    except AccountError as exc:
        messages.error(request, str(exc))
    else:
        if changed:
            messages.success(request, f"{organization.name} now "
                             f"{'requires' if required else 'no longer requires'} a second "
                             "factor of every member.")
    return redirect("member_list", org_slug=organization.slug)


def _send_invitation(request: HttpRequest, invitation: Invitation, token: str) -> None:
    try:
        invitation_email_send(invitation=invitation, token=token)
    except (smtplib.SMTPException, OSError) as exc:
        # The exception text may quote the message (and so the link): the type only.
        logger.warning("invitation email %s not sent: %s", invitation.pk, type(exc).__name__)
        messages.warning(request, f"The invitation to {invitation.email} is saved, but the "
                                  "email could not be sent. Use Resend to try again.")
    else:
        messages.success(request, f"Invitation sent to {invitation.email}.")


def _get_invitation(request: HttpRequest, org_slug: str, pk: uuid.UUID) -> Invitation:
    organization = get_organization(request, org_slug)
    invitation = get_object_or_404(organization.invitations.select_related("organization"),
                                   pk=pk)
    require_org_perm(request, organization, Perm.MANAGE_MEMBERS)
    return invitation


@login_required
@require_POST
@reauthentication_required
def invitation_resend_view(request: HttpRequest, org_slug: str, pk: uuid.UUID) -> HttpResponse:
    invitation = _get_invitation(request, org_slug, pk)
    try:
        token = invitation_resend(invitation=invitation, actor=request.user, now=timezone.now(),
                                  source_ip=client_ip(request))
    except (InvitationError, MembershipError) as exc:
        messages.error(request, str(exc))
    else:
        _send_invitation(request, invitation, token)
    return redirect("member_list", org_slug=org_slug)


@login_required
@require_POST
@reauthentication_required
def invitation_revoke_view(request: HttpRequest, org_slug: str, pk: uuid.UUID) -> HttpResponse:
    invitation = _get_invitation(request, org_slug, pk)
    try:
        invitation_revoke(invitation=invitation, actor=request.user, now=timezone.now(),
                          source_ip=client_ip(request))
    except (InvitationError, MembershipError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Revoked the invitation to {invitation.email}; its link no "
                                  "longer works.")
    return redirect("member_list", org_slug=org_slug)


# --- Accepting an invitation (the invitee, signed in or not) ----------------------------------

# The session keeps the hash of the link's token, so that the token leaves the address bar
# (and the Referer) at the first redirect, and survives signing in.
INVITATION_SESSION_KEY = "keyturn_invitation"


@never_cache
def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    request.session[INVITATION_SESSION_KEY] = invitation_token_hash(token)
    return redirect("invitation_accept")


@never_cache
@sensitive_post_parameters("password1", "password2")
def invitation_accept_view(request: HttpRequest) -> HttpResponse:
    """Shows the invitation; a signed-in user accepts it, a visitor signs in first or
    chooses a user name and password for a new account."""
    now = timezone.now()
    token_hash = request.session.get(INVITATION_SESSION_KEY, "")
    invitation = invitation_open_for(token_hash, now) if token_hash else None
    if invitation is None:
        accepted = accepted_invitation(token_hash) if token_hash else None
        if accepted is not None:  # people come back by the email's link: lead them in
            return render(request, "members/invitation_accepted.html", {
                "invitation": accepted,
                "url": reverse("organization_overview", args=[accepted.organization.slug]),
            })
        return render(request, "members/invitation_invalid.html",
                      {"message": INVALID_INVITATION}, status=404)
    user = request.user
    form = None if user.is_authenticated else InvitationSignUpForm(
        request.POST if request.method == "POST" else None, email=invitation.email)
    error = ""
    if request.method == "POST":
        try:
            if user.is_authenticated:
                invitation_accept(token_hash=token_hash, user=user, now=now,
                                  source_ip=client_ip(request))
            elif form is not None and form.is_valid():
                user = invitation_sign_up(
                    token_hash=token_hash, username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"], now=now,
                    source_ip=client_ip(request),
                )
                login(request, user, backend="accounts.backends.ModelBackend")
        except InvitationError as exc:
            error = str(exc)
        if user.is_authenticated and not error:
            request.session.pop(INVITATION_SESSION_KEY, None)
            messages.success(request, f"Welcome to {invitation.organization.name}: you are "
                                      f"a {invitation.get_role_display()} there.")
            return redirect("organization_overview", org_slug=invitation.organization.slug)
    return render(request, "members/invitation_accept.html", {
        "invitation": invitation, "form": form, "error": error,
        "login_url": f"{reverse('account_login')}?next={reverse('invitation_accept')}",
    }, status=400 if error or (form is not None and form.errors) else 200)


def _get_membership(request: HttpRequest, org_slug: str, pk: int) -> Membership:
    organization = get_organization(request, org_slug)
    membership = get_object_or_404(organization_members(organization), pk=pk)
    require_org_perm(request, organization, Perm.MANAGE_MEMBERS)
    return membership


@login_required
@require_POST
@reauthentication_required
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
@reauthentication_required
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
    return render(request, "members/member_remove.html", {
        "organization": membership.organization, "membership": membership,
    })
