from django.urls import path

from . import views

urlpatterns = [
    path("o/<slug:org_slug>/imports/", views.import_list, name="import_list"),
    path("o/<slug:org_slug>/imports/upload/", views.import_upload, name="import_upload"),
    path("o/<slug:org_slug>/imports/<uuid:pk>/update/", views.import_choose,
         name="import_choose"),
    path("o/<slug:org_slug>/imports/<uuid:pk>/password/", views.import_password,
         name="import_password"),
    path("o/<slug:org_slug>/imports/<uuid:pk>/preview/", views.import_preview,
         name="import_preview"),
    path("o/<slug:org_slug>/imports/<uuid:pk>/discard/", views.import_discard,
         name="import_discard"),
]
