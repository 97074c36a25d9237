"""Hand-off pages. For members: Send to partner and Revoke (the credential is looked up in the
user's organization first, 404 otherwise, then the permission to reveal, 403), and what the
credential's page shows of its hand-offs. For the partner, who has no account: the link's
page, answered with the strictest headers, which shows nothing secret until Show is pressed."""

from __future__ import annotations

from datetime import UTC
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from accounts.reauthentication import reauthentication_required
from credentials.hooks import DetailSection
from credentials.kinds import kind_for
from credentials.models import Credential, VersionState
from credentials.selectors import credential_for_detail, credential_versions
from credentials.templatetags.keyturn import format_dual
from organizations.access import client_ip, get_organization, require_org_perm
from organizations.models import Organization, User
from organizations.roles import Perm
from partners.selectors import contacts_for_credential

from . import selectors
from .forms import HandoffSendForm, ShowForm
from .models import MAX_PASSPHRASE_ATTEMPTS, EmailState, Handoff, HandoffState
from .services import (
    HandoffClosed,
    HandoffError,
    Recipient,
    WrongPassphrase,
    handoff_opened,
    handoff_revoke,
    handoff_send,
    handoff_show,
)

# --- For members ------------------------------------------------------------------------------


def _get_credential(request: HttpRequest, org_slug: str, pk: UUID
                    ) -> tuple[Organization, Credential]:
    """The credential in the URL if it is in one of the user's organizations (404), then the
    permission to reveal its secret (403)."""
    organization = get_organization(request, org_slug)
    try:
        credential = credential_for_detail(user=request.user, organization=organization, pk=pk)
    except Credential.DoesNotExist:
        raise Http404("No such credential.") from None
    kind_for(credential.kind)  # a kind no release registers: no page, as in credentials
    require_org_perm(request, organization, Perm.REVEAL)
    return organization, credential


def _section_url(credential: Credential) -> str:
    return reverse("credential_detail", args=[credential.business_unit.organization.slug,
                                              credential.pk]) + "#handoffs"


# Sending a secret's link asks for the same fresh proof of identity as revealing it, before
# the passphrase is typed.
@sensitive_post_parameters("passphrase", "passphrase_again")
@login_required
@reauthentication_required(on_get=True)
def handoff_send_view(request: HttpRequest, org_slug: str, pk: UUID) -> HttpResponse:
    """Send to partner: a one-time link to one version's secret, by email."""
    organization, credential = _get_credential(request, org_slug, pk)
    versions = credential_versions(credential)
    spec = credential.kind_spec
    form = HandoffSendForm(request.POST if request.method == "POST" else None,
                           noun=spec.secret_noun, current=versions.current,
                           pending=versions.pending,
                           contacts=list(contacts_for_credential(credential)))
    if request.method == "POST" and form.is_valid():
        cleaned = form.cleaned_data
        try:
            handoff = handoff_send(
                credential=credential, which=cleaned["which"],
                recipient=Recipient(name=cleaned["recipient_name"],
                                    email=cleaned["recipient_email"]),
                lifetime=cleaned["lifetime"], passphrase=cleaned["passphrase"],
                actor=request.user, source_ip=client_ip(request),
            )
        except HandoffError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            _tell_sender(request, handoff)
            return redirect(_section_url(credential))
    return render(request, "handoffs/send.html", {
        "organization": organization, "credential": credential, "form": form,
        "noun": spec.secret_noun, "secret_label": spec.secret_label,
        "can_send": credential.is_active and bool(form.fields["which"].choices),
    })


def _tell_sender(request: HttpRequest, handoff: Handoff) -> None:
    to = handoff.recipient
    if handoff.email_state != EmailState.SENT:
        messages.error(request, f"The link to {to} could not be emailed: "
                                f"{handoff.email_error} Revoke it and send a new one.")
        return
    text = (f"Sent a one-time link to {to}. It works once, until "
            f"{format_dual(handoff.expires_at)}.")
    if handoff.has_passphrase:
        text += " Give them the passphrase another way (by phone, not by email)."
    messages.success(request, text)


@login_required
def handoff_revoke_view(request: HttpRequest, org_slug: str, pk: UUID,
                        handoff_pk: UUID) -> HttpResponse:
    organization = get_organization(request, org_slug)
    try:
        credential = credential_for_detail(user=request.user, organization=organization, pk=pk)
        handoff = selectors.handoff_of_credential(credential, handoff_pk)
    except (Credential.DoesNotExist, Handoff.DoesNotExist):
        raise Http404("No such hand-off.") from None
    require_org_perm(request, organization, Perm.REVEAL)
    if request.method == "POST":
        try:
            handoff_revoke(handoff=handoff, actor=request.user, source_ip=client_ip(request))
        except HandoffError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Revoked the link to {handoff.recipient}: it no longer "
                                      "works.")
        return redirect(_section_url(credential))
    return render(request, "handoffs/revoke.html", {
        "organization": organization, "credential": credential, "handoff": handoff,
        "open": handoff.state_at(timezone.now()) in (HandoffState.OPEN, HandoffState.VOID),
    })


def handoff_menu_entries(credential: Credential, user: User) -> list[dict[str, str]]:
    """The Manage menu's "Send to partner" (credentials.hooks.MANAGE_ACTIONS)."""
    organization = credential.business_unit.organization
    if not credential.is_active or not user.has_org_perm(organization, Perm.REVEAL):
        return []
    return [{"label": "Send to partner",
             "url": reverse("handoff_send", args=[organization.slug, credential.pk])}]


def handoffs_section(credential: Credential, user: User) -> DetailSection | None:
    """The Details tab's "Sent to partners" (credentials.hooks.DETAIL_SECTIONS), for those
    who may send or who read the audit trail: one query, however many hand-offs."""
    organization = credential.business_unit.organization
    can_send = user.has_org_perm(organization, Perm.REVEAL)
    if not (can_send or user.has_org_perm(organization, Perm.VIEW_AUDIT)):
        return None
    handoffs = selectors.handoffs_for_credential(credential)
    now = timezone.now()
    return DetailSection("handoffs/_credential_handoffs.html", {
        "organization": organization, "credential": credential,
        "rows": [(h, h.state_at(now)) for h in handoffs[:selectors.SECTION_ROWS]],
        "more": len(handoffs) > selectors.SECTION_ROWS,
        "can_send": can_send and credential.is_active, "can_revoke": can_send,
        "noun": credential.kind_spec.secret_noun, "max_attempts": MAX_PASSPHRASE_ATTEMPTS,
    })


# --- For the partner ------------------------------------------------------------------------

# Stricter than the portal's policy: nothing but this site's own script, style and images,
# and no framing. The copy and download buttons are handoffs/handoff.js and keyturn.js.
PARTNER_CSP = "; ".join([
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
    "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'",
])
PARTNER_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": PARTNER_CSP,
    "X-Robots-Tag": "noindex, nofollow",
}


def _partner_page(template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """Rendered without the request: no session, no user, no cookie, times in UTC (the
    partner's zone is unknown)."""
    with timezone.override(UTC):
        html = render_to_string(f"handoffs/partner/{template}.html", context)
    return HttpResponse(html, status=status, headers=PARTNER_HEADERS)


def _about(handoff: Handoff) -> dict[str, Any]:
    """What a link's holder may read before Show: who sent what, for which organization, and
    whom to ask. Never the secret, nor anything about other hand-offs."""
    credential = handoff.credential
    sender = handoff.created_by
    spec = credential.kind_spec
    return {
        "handoff": handoff, "credential_name": credential.name, "kind": spec.label,
        "secret_label": spec.secret_label, "noun": spec.secret_noun,
        "organization_name": credential.business_unit.organization.name,
        "sender_name": (sender.get_full_name() or sender.get_username()) if sender else "",
        "sender_email": sender.email if sender else "",
        "pending": handoff.version.state == VersionState.PENDING,
        "starts_at": handoff.version.valid_from, "max_attempts": MAX_PASSPHRASE_ATTEMPTS,
    }


def _closed(handoff: Handoff, state: HandoffState) -> HttpResponse:
    return _partner_page("closed", {**_about(handoff), "state": state.value}, status=410)


def _landing(handoff: Handoff, *, error: str = "", passphrase_error: str = "",
             status: int = 200) -> HttpResponse:
    """The page with the Show button, always with a fresh nonce and an empty passphrase."""
    return _partner_page("landing", {
        **_about(handoff), "form": ShowForm(handoff=handoff), "error": error,
        "passphrase_error": passphrase_error,
    }, status=status)


@csrf_exempt  # no session to protect; ShowForm's signed nonce guards the POST instead
@sensitive_post_parameters("passphrase")
@sensitive_variables("shown", "secret")
@require_http_methods(["GET", "HEAD", "POST"])
def handoff_open(request: HttpRequest, token: str) -> HttpResponse:
    """The link. GET and HEAD (a person, a mail preview or a link scanner) show who sent what
    and a Show button, and spend nothing; POST with the page's nonce (and the passphrase, if
    asked) shows the secret once."""
    now = timezone.now()
    handoff = selectors.handoff_by_token(token)
    if handoff is None:
        return _partner_page("unknown", {}, status=404)
    if request.method != "POST":
        handoff_opened(handoff=handoff, source_ip=client_ip(request), now=now,
                       method=request.method)
        state = handoff.state_at(now)
        if state != HandoffState.OPEN:
            return _closed(handoff, state)
        return _landing(handoff)
    state = handoff.state_at(now)
    if state != HandoffState.OPEN:
        return _closed(handoff, state)
    form = ShowForm(request.POST, handoff=handoff)
    if not form.is_valid():  # nothing counted, nothing spent
        return _landing(handoff, error=" ".join(form.errors.get("nonce", [])),
                        passphrase_error=" ".join(form.errors.get("passphrase", [])),
                        status=400)
    try:
        shown = handoff_show(handoff=handoff, passphrase=form.cleaned_data.get("passphrase", ""),
                             source_ip=client_ip(request), now=now)
    except WrongPassphrase as exc:
        if exc.attempts_left == 0:
            handoff.refresh_from_db(fields=["locked_at"])
            return _closed(handoff, HandoffState.LOCKED)
        return _landing(handoff, passphrase_error=exc.message, status=400)
    except HandoffClosed:
        handoff = selectors.handoff_by_token(token)
        return _closed(handoff, handoff.state_at(now))
    secret = shown.secret
    return _partner_page("secret", {
        **_about(handoff), "secret": secret, "multiline": "\n" in secret.strip(),
        "public_values": handoff.credential.kind_spec.public_values(shown.version),
        "valid_until": shown.version.valid_until,
        "file_name": _file_name(handoff.credential, secret),
    })


def _file_name(credential: Credential, secret: str) -> str:
    """The download's name: the credential's, in safe characters; .pem for a PEM block."""
    stem = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-"
                   for c in credential.name).strip("-") or "secret"
    return f"{stem[:60]}.{'pem' if secret.lstrip().startswith('-----BEGIN') else 'txt'}"
