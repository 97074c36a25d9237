from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from organizations.access import get_organization
from organizations.models import BusinessUnit
from organizations.roles import Role

from .models import ReminderOptOut
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
