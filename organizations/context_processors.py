from django.http import HttpRequest


def current_organization(request: HttpRequest) -> dict[str, object]:
    """The organization the page is about (set by the view that resolved it) and the
    organizations the user may switch to."""
    organization = getattr(request, "organization", None)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current_organization": organization, "user_organizations": []}
    return {
        "current_organization": organization,
        "user_organizations": list(user.organization_roles()),
    }
