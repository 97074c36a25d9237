from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache

from .models import Organization


def get_organization(request: HttpRequest, slug: str) -> Organization:
    """The organization named in the URL, if the user belongs to it (404 otherwise)."""
    organization = get_object_or_404(Organization.objects.for_user(request.user), slug=slug)
    request.organization = organization
    return organization


@login_required
def home(request: HttpRequest) -> HttpResponse:
    organization = Organization.objects.for_user(request.user).first()
    if organization is None:
        return render(request, "organizations/no_organization.html")
    return redirect("organization_overview", org_slug=organization.slug)


@login_required
def organization_overview(request: HttpRequest, org_slug: str) -> HttpResponse:
    organization = get_organization(request, org_slug)
    return render(request, "organizations/overview.html", {"organization": organization})


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
