from django.urls import path

from . import views

urlpatterns = [
    path("o/<slug:org_slug>/audit/", views.audit_list, name="audit_list"),
    path("o/<slug:org_slug>/audit/export.csv", views.audit_export, name="audit_export"),
]
