from django.db.models import QuerySet

from credentials.models import Credential

from .models import Notification


def notifications_for_credential(credential: Credential) -> QuerySet[Notification]:
    """Every email sent (or tried) about a credential, newest first, for its History tab."""
    return Notification.objects.filter(credential=credential).select_related("version")
