from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views

org = "o/<slug:org_slug>/"

urlpatterns = [
    path(org, views.organization_overview, name="organization_overview"),
    path(org + "units/", views.unit_list, name="unit_list"),
    path(org + "members/", views.member_list, name="member_list"),
    path(org + "members/<int:pk>/role/", views.member_role, name="member_role"),
    path(org + "members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    # Invited users choose their first password through Django's password reset link.
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            success_url=reverse_lazy("password_reset_complete")
        ),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
]
