from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config import views as config_views
from organizations import views as org_views

urlpatterns = [
    path("", org_views.home, name="home"),
    path("healthz", config_views.healthz, name="healthz"),
    path("favicon.ico", config_views.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("", include("members.urls")),
    path("", include("credentials.urls")),
    path("", include("audit.urls")),
    path("", include("notifications.urls")),
    path("", include("api.urls")),
    path("", include("sftpd.urls")),
    path("", include("imports.urls")),
    path("", include("handoffs.urls")),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
