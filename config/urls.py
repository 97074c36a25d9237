from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from config import views as config_views
from organizations import views as org_views

# The admin's own sign-in page is replaced by Keyturn's (second factor included); before the
# admin's URLs are made from it.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", org_views.home, name="home"),
    path("healthz", config_views.healthz, name="healthz"),
    # The JSON API first: its requests are the most frequent, and each pattern tried before
    # one matches costs (its paths begin with authentication/, api/ and o/<slug>/api-keys/,
    # which no other app's patterns match).
    path("", include("api.urls")),
    path("favicon.ico", config_views.favicon, name="favicon"),
    # --- Accounts (issue 15): Keyturn's profile first, then allauth's sign-in, second factors,
    # password reset, re-authentication and single sign-on. The admin signs in there too.
    path("", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    # --- end of accounts
    path("admin/", admin.site.urls),
    path("", include("members.urls")),
    path("", include("credentials.urls")),
    path("", include("audit.urls")),
    path("", include("partners.urls")),
    path("", include("notifications.urls")),
    path("", include("sftpd.urls")),
    path("", include("imports.urls")),
    path("", include("handoffs.urls")),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
