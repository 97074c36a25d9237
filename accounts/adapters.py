"""What Keyturn decides inside django-allauth's flows (settings.ACCOUNT_ADAPTER,
SOCIALACCOUNT_ADAPTER): nobody signs up by themselves (membership comes from invitations),
single sign-on only finds an existing user by the identity provider's verified email, and
which proofs a user may re-authenticate with."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django.shortcuts import redirect
from django.urls import reverse

from organizations.access import client_ip

from .reauthentication import recent_proof, signed_in_with_sso
from .services import account_event_record, sso_user_for

SSO_REFUSED = ("No Keyturn account has the verified email address your single sign-on "
               "account gave. Signing in does not make anyone a member: ask an owner of your "
               "organization to invite that address.")


def sso_enabled() -> bool:
    return bool(settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"])


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """allauth's own sensitive pages (adding or removing a second factor, new recovery
        codes) follow Keyturn's rule: a proof younger than KEYTURN_REAUTHENTICATION_MINUTES,
        the sign-in included, lets them through."""
        request = getattr(context, "request", None) or self.request
        return request is None or recent_proof(request) is None

    def get_reauthentication_methods(self, user: Any) -> list[dict[str, Any]]:
        """Password and second factor; a session begun with single sign-on proves itself
        with a second factor or a fresh single sign-on round trip instead of a password."""
        methods = super().get_reauthentication_methods(user)
        if not user.is_authenticated or not sso_enabled():
            return methods
        request = getattr(context, "request", None) or self.request
        sso_session = request is not None and signed_in_with_sso(request)
        has_sso = SocialAccount.objects.filter(user_id=user.pk).exists()
        if sso_session:
            methods = [m for m in methods if m["id"] != "reauthenticate"]
        if has_sso:
            methods.append({"id": "sso", "description": f"Sign in again with "
                            f"{settings.KEYTURN_OIDC_NAME}",
                            "url": reverse("accounts_reauthenticate_sso")})
        return methods

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # Links in emails are built from SITE_URL, as every other email's.
        context = {**context, "site_url": settings.SITE_URL}
        super().send_mail(template_prefix, email, context)

    def get_reset_password_from_key_url(self, key: str) -> str:
        path = reverse("account_reset_password_from_key",
                       kwargs={"uidb36": "UID", "key": "KEY"}).replace("UID-KEY", key)
        return settings.SITE_URL + path

    def set_password(self, user: AbstractBaseUser, password: str) -> None:
        """Every password change and reset ends in here: the new password, and the audit
        event (the other sessions end because their stored password hash no longer
        matches; the profile's sessions list drops them)."""
        super().set_password(user, password)
        request = getattr(context, "request", None)
        account_event_record(user=user, action="user.password_change",
                             source_ip=client_ip(request), details={})


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """A first single sign-on links the identity to the one active Keyturn user with
        the provider's verified email address; no match, no sign-in."""
        if sociallogin.is_existing:
            return
        verified = [address.email for address in sociallogin.email_addresses
                    if address.verified]
        user = sso_user_for(verified)
        if user is None:
            messages.error(request, SSO_REFUSED)
            raise ImmediateHttpResponse(redirect("account_login"))
        sociallogin.connect(request, user)
        account_event_record(user=user, action="user.sso_link", source_ip=client_ip(request),
                             details={"provider": settings.KEYTURN_OIDC_NAME})
