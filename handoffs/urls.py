from django.urls import path, re_path

from . import views
from .services import TOKEN_PATTERN

credential = "o/<slug:org_slug>/credentials/<uuid:pk>/"

urlpatterns = [
    path(credential + "send/", views.handoff_send_view, name="handoff_send"),
    path(credential + "handoffs/<uuid:handoff_pk>/revoke/", views.handoff_revoke_view,
         name="handoff_revoke"),
    # The partner's link; any token of the right shape reaches the view, which answers 404
    # for one no link has.
    re_path(rf"^handoff/(?P<token>{TOKEN_PATTERN})/$", views.handoff_open,
            name="handoff_open"),
]
