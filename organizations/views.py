"""The front door: signed-in users land on their first organization's overview."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .models import Organization


@login_required
def home(request: HttpRequest) -> HttpResponse:
    organization = Organization.objects.for_user(request.user).first()
    if organization is None:
        return render(request, "organizations/no_organization.html")
    return redirect("organization_overview", org_slug=organization.slug)
