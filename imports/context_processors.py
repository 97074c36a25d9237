from django.db import router
from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse

from config.prepared import PreparedQuery

from .models import ImportState, PendingImport
from .services import is_import_admin

IMPORT_PAGES = {"import_list", "import_upload", "import_choose", "import_password",
                "import_preview", "import_discard"}

# Asked on every page of an organization its import administrators see: compiled once.
_PENDING_COUNT = PreparedQuery(
    lambda p: PendingImport.objects.filter(organization=p["organization"],
                                           state=ImportState.PENDING)
    .values("organization").annotate(pending=Count("id")).values_list("pending"),
    organization=PendingImport._meta.get_field("organization"),
)


def pending_imports(request: HttpRequest) -> dict[str, object]:
    """How many managed imports wait in the page's organization, for its administrators
    (anyone who may manage some family of credentials); 0 for everybody else. Feeds the
    banner in imports/_banner.html."""
    organization = getattr(request, "organization", None)
    user = getattr(request, "user", None)
    if organization is None or user is None or not user.is_authenticated:
        return {"pending_import_count": 0}
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name in IMPORT_PAGES:
        return {"pending_import_count": 0}  # these pages are where the banner leads
    if not is_import_admin(user, organization):
        return {"pending_import_count": 0}
    rows = _PENDING_COUNT.rows(organization=organization.pk,
                               using=router.db_for_read(PendingImport))
    count = rows[0][0] if rows else 0
    if not count:
        return {"pending_import_count": 0}
    return {
        "pending_import_count": count,
        "pending_imports_url": reverse("import_list", kwargs={"org_slug": organization.slug}),
    }
