from django.urls import path

from . import views

urlpatterns = [
    path("o/<slug:org_slug>/sftp/", views.endpoint, name="sftp_endpoint"),
    path("o/<slug:org_slug>/sftp/<slug:unit_slug>/", views.unit_transfers, name="sftp_unit"),
    path(
        "o/<slug:org_slug>/connections/<uuid:pk>/test/", views.connection_test_page,
        name="connection_test",
    ),
]
