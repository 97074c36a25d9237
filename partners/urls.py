from django.urls import path

from . import views

org = "o/<slug:org_slug>/"

urlpatterns = [
    path(org + "connections/<uuid:pk>/contacts/new/", views.connection_contact_add,
         name="connection_contact_add"),
    path(org + "credentials/<uuid:pk>/contacts/new/", views.credential_contact_add,
         name="credential_contact_add"),
    path(org + "contacts/<uuid:contact_pk>/edit/", views.contact_edit, name="contact_edit"),
    path(org + "contacts/<uuid:contact_pk>/remove/", views.contact_remove,
         name="contact_remove"),
]
