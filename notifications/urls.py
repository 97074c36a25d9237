from django.urls import path

from . import views

urlpatterns = [
    path("o/<slug:org_slug>/reminders/", views.reminder_settings, name="reminder_settings"),
    path("o/<slug:org_slug>/reminders/<slug:unit_slug>/", views.reminder_toggle,
         name="reminder_toggle"),
    path("email/opt-out/<str:audience>/<str:token>/", views.email_opt_out_view,
         name="email_opt_out"),
]
