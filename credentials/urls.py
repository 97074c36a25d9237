from django.urls import path

from . import change_wizard, usage_views, views

org = "o/<slug:org_slug>/"
credential = org + "credentials/<uuid:pk>/"

urlpatterns = [
    path(org, views.organization_overview, name="organization_overview"),
    path(org + "units/", views.unit_list, name="unit_list"),
    path(org + "credentials/", views.credential_list, name="credential_list"),
    path(org + "cutover.csv", usage_views.cutover_export, name="cutover_export"),
    path(org + "credentials/new/", views.credential_new, name="credential_new"),
    path(org + "credentials/new/<slug:kind>/", views.credential_create_view,
         name="credential_create"),
    path(credential, views.credential_detail, name="credential_detail"),
    path(credential + "reveal/", views.credential_reveal, name="credential_reveal"),
    path(credential + "edit/", views.credential_edit, name="credential_edit"),
    path(credential + "deactivate/", views.credential_deactivate, name="credential_deactivate"),
    path(credential + "reactivate/", views.credential_reactivate, name="credential_reactivate"),
    path(credential + "rotate/", views.credential_rotate, name="credential_rotate"),
    path(credential + "rotations/<uuid:rotation_pk>/cancel/", views.rotation_cancel_view,
         name="rotation_cancel"),
    path(credential + "rotations/<uuid:rotation_pk>/retry/", views.rotation_retry_view,
         name="rotation_retry"),
    path(credential + "attach/", views.credential_attach, name="credential_attach"),
    path(credential + "change/", change_wizard.credential_change, name="credential_change"),
    path(credential + "change/confirm/", change_wizard.credential_change_confirm,
         name="credential_change_confirm"),
    path(org + "units/<slug:unit_slug>/", views.credential_list, name="unit_detail"),
    path(org + "units/<slug:unit_slug>/<slug:family>/", views.credential_list,
         name="unit_family"),
    path(org + "connections/", views.connection_list, name="connection_list"),
    path(org + "connections/new/", views.connection_edit, name="connection_create"),
    path(org + "connections/<uuid:pk>/", views.connection_edit, name="connection_edit"),
    path(org + "connections/<uuid:pk>/detach/", views.connection_detach,
         name="connection_detach"),
]
