from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from organizations.access import client_ip, get_organization
from organizations.models import BusinessUnit
from organizations.roles import Role

from .models import ReminderOptOut
from .optout import email_opt_out, opt_out_target
from .services import NotificationError, recipients_for, reminder_opt_out_set


@login_required
def reminder_settings(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    units = list(organization.business_units.all())
    opted_out = set(ReminderOptOut.objects.filter(
        user=request.user, business_unit__in=units).values_list("business_unit_id", flat=True))
    email = request.user.email.lower()
    rows = [{"unit": unit, "opted_out": unit.pk in opted_out,
             "receives": email in {r.lower() for r in recipients_for(unit)}} for unit in units]
    return render(request, "notifications/reminder_settings.html", {
        "organization": organization, "rows": rows,
        "is_owner": request.user.role_in(organization) == Role.OWNER,
    })


@login_required
@require_POST
def reminder_toggle(request: HttpRequest, org_slug: str, unit_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    unit = get_object_or_404(BusinessUnit, organization=organization, slug=unit_slug)
    opt_out = request.POST.get("opt_out") == "1"
    try:
        reminder_opt_out_set(user=request.user, business_unit=unit, opted_out=opt_out)
    except NotificationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"You will {'no longer ' if opt_out else ''}get reminder "
                                  f"emails about {unit.name}.")
    return redirect("reminder_settings", org_slug=organization.slug)


# --- The opt-out link of every reminder and rotation email (no account needed) ---------------

OPT_OUT_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                   "X-Robots-Tag": "noindex, nofollow"}


def _opt_out_page(template: str, context: dict[str, object], status: int = 200) -> HttpResponse:
    """Rendered without the request: no session, no user, no cookie."""
    html = render_to_string(f"notifications/opt_out/{template}.html", context)
    return HttpResponse(html, status=status, headers=OPT_OUT_HEADERS)


@csrf_exempt  # no session to protect: the signed token in the URL is the authority
@require_http_methods(["GET", "HEAD", "POST"])
def email_opt_out_view(request: HttpRequest, audience: str, token: str) -> HttpResponse:
    """GET (a person, or a link scanner) asks to confirm and changes nothing; POST, the
    confirm button or a mail client's one-click (RFC 8058), stops the emails at once."""
    target = opt_out_target(audience, token)
    if target is None:
        return _opt_out_page("invalid", {"days": settings.KEYTURN_EMAIL_OPT_OUT_DAYS},
                             status=404)
    if target.contact is None and target.is_owner:
        return _opt_out_page("owner", {"target": target})
    if request.method == "POST":
        email_opt_out(target=target, source_ip=client_ip(request))
        return _opt_out_page("done", {"target": target})
    if target.opted_out:
        return _opt_out_page("done", {"target": target})
    return _opt_out_page("confirm", {"target": target})
