from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def current_organization(request: HttpRequest) -> dict[str, object]:
    """The organization the page is about (set by the view that resolved it) and the
    organizations the user may switch to, read only by a page that shows them (the header's
    switcher shows them on an organization's pages)."""
    organization = getattr(request, "organization", None)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current_organization": organization, "user_organizations": []}
    return {
        "current_organization": organization,
        "user_organizations": SimpleLazyObject(lambda: list(user.organization_roles())),
    }
