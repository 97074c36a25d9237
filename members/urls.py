from django.urls import path

from . import views

org = "o/<slug:org_slug>/"

urlpatterns = [
    path(org + "members/", views.member_list, name="member_list"),
    path(org + "members/second-factor/", views.second_factor_policy,
         name="second_factor_policy"),
    path(org + "members/<int:pk>/role/", views.member_role, name="member_role"),
    path(org + "members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path(org + "members/invitations/<uuid:pk>/resend/", views.invitation_resend_view,
         name="invitation_resend"),
    path(org + "members/invitations/<uuid:pk>/revoke/", views.invitation_revoke_view,
         name="invitation_revoke"),
    # The emailed link; it moves the token into the session and redirects to the next one.
    path("invitations/accept/", views.invitation_accept_view, name="invitation_accept"),
    path("invitations/<str:token>/", views.invitation_open, name="invitation_open"),
]
