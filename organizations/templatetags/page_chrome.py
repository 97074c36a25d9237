"""The frame of every page, worked out once per process: the header's organization switcher
and the sidebar of every organization page (their two dozen links cost more to reverse than
the rest of a simple page), the links without arguments and the static files' addresses.

Each is keyed by everything it shows (names, slugs, ids, which links the user's permissions
allow) and by what its links are worked out against (URL configuration, script prefix,
language, static files' storage), so a renamed organization or a changed role shows at once,
and no user or organization ever sees another's. They are bounded: least recently used ones
are dropped."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django import template
from django.conf import settings
from django.template.loader import get_template
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from organizations.models import Organization
from organizations.roles import Perm

register = template.Library()

# The sidebar's links that depend on a permission, by the name its template tests (the view
# behind each link checks the permission again).
SIDEBAR_PERMS = (("can_audit", Perm.VIEW_AUDIT), ("can_members", Perm.MANAGE_MEMBERS),
                 ("can_api_keys", Perm.MANAGE_API_KEYS), ("can_sftp", Perm.MANAGE_SFTP),
                 ("can_as2", Perm.MANAGE_AS2), ("can_api", Perm.MANAGE_API))
MEMO_SIZE = 1024
_LINKS_KEY = "keyturn_page_chrome_links_key"


def _links_key(context: template.Context) -> tuple[Any, ...]:
    """What reverse() and static() answer with: the URL configuration (settings' or the
    request's), the script prefix the site is served under, the language (for translated
    patterns) and the static files' address and storage. Read once per page."""
    key = context.render_context.get(_LINKS_KEY)
    if key is None:
        key = (settings.ROOT_URLCONF, get_urlconf(), get_script_prefix(), get_language(),
               settings.STATIC_URL, settings.STORAGES["staticfiles"]["BACKEND"])
        context.render_context[_LINKS_KEY] = key
    return key


@register.simple_tag(takes_context=True)
def fixed_url(context: template.Context, name: str) -> str:
    """{% url name %} for a URL without arguments."""
    return _reversed(_links_key(context), name)


@register.simple_tag(takes_context=True)
def fixed_static(context: template.Context, path: str) -> str:
    """{% static path %}."""
    return _static(_links_key(context), path)


@register.simple_tag(takes_context=True)
def org_switcher(context: template.Context, current: Organization,
                 organizations: Any) -> SafeString:
    """The header's menu of the user's organizations, the current one marked."""
    return _switcher(_links_key(context), (current.pk, current.name),
                     tuple((org.pk, org.slug, org.name) for org in organizations))


@register.simple_tag(takes_context=True)
def org_sidebar(context: template.Context, organization: Organization) -> SafeString:
    """The organization's sections, those the user may not open left out."""
    allows = context["user"].has_org_perm
    allowed = tuple(allows(organization, perm) for _, perm in SIDEBAR_PERMS)
    return _sidebar(_links_key(context), organization.slug, organization.name, allowed)


@lru_cache(maxsize=MEMO_SIZE)
def _switcher(links_key: tuple[Any, ...], current: tuple[int, str],
              organizations: tuple[tuple[int, str, str], ...]) -> SafeString:
    return get_template("organizations/_switcher.html").render({
        "current_organization": {"pk": current[0], "name": current[1]},
        "user_organizations": [{"pk": pk, "slug": slug, "name": name}
                               for pk, slug, name in organizations],
    })


@lru_cache(maxsize=MEMO_SIZE)
def _sidebar(links_key: tuple[Any, ...], slug: str, name: str,
             allowed: tuple[bool, ...]) -> SafeString:
    return get_template("organizations/_sidebar.html").render({
        "current_organization": {"slug": slug, "name": name},
        **{flag: ok for (flag, _), ok in zip(SIDEBAR_PERMS, allowed, strict=True)},
    })


@lru_cache(maxsize=MEMO_SIZE)
def _reversed(links_key: tuple[Any, ...], name: str) -> str:
    return reverse(name)


@lru_cache(maxsize=MEMO_SIZE)
def _static(links_key: tuple[Any, ...], path: str) -> str:
    return static(path)
