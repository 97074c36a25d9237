"""The invitation email: text + HTML, with an absolute link built from SITE_URL.

Members sit below notifications in the app layers, so this app sends its one email with
Django's mail itself, in the same trio shape as notifications/emails/."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from .models import Invitation

TEMPLATES = "members/emails/invitation"


def invitation_url(token: str) -> str:
    return f"{settings.SITE_URL}{reverse('invitation_open', args=[token])}"


def invitation_email_send(*, invitation: Invitation, token: str) -> None:
    """Sends the link to the invited address. The same email whether or not the address has
    an account anywhere: the accept page lets its holder sign in or create one."""
    context = {
        "invitation": invitation,
        "organization": invitation.organization,
        "inviter": invitation.invited_by,
        "role": invitation.get_role_display(),
        "url": invitation_url(token),
    }
    subject = " ".join(render_to_string(f"{TEMPLATES}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string(f"{TEMPLATES}_body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL, to=[invitation.email],
    )
    message.attach_alternative(render_to_string(f"{TEMPLATES}_body.html", context), "text/html")
    message.send()
