from django.http import HttpRequest
from django.urls import reverse

from .models import ImportState, PendingImport
from .services import is_import_admin

IMPORT_PAGES = {"import_list", "import_upload", "import_choose", "import_password",
                "import_preview", "import_discard"}


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
    return {
        "pending_import_count": PendingImport.objects.filter(
            organization=organization, state=ImportState.PENDING
        ).count(),
        "pending_imports_url": reverse("import_list", kwargs={"org_slug": organization.slug}),
    }
