from django.urls import path

from . import views

urlpatterns = [
    path("o/<slug:org_slug>/", views.organization_overview, name="organization_overview"),
]
