"""Keyturn's account pages, placed before allauth's (config/urls.py) so that its overview
pages of second factors and sessions are the profile's sections."""

from django.urls import path

from . import views

urlpatterns = [
    path("accounts/profile/", views.profile, name="profile"),
    path("accounts/2fa/", views.second_factors, name="profile_second_factors"),
    path("accounts/sessions/", views.sessions, name="profile_sessions"),
    path("accounts/reauthenticate/sso/", views.reauthenticate_sso,
         name="accounts_reauthenticate_sso"),
]
