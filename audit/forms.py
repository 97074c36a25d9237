"""The audit log's filters (GET parameters): validation only."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from organizations import dates
from organizations.models import User

SYSTEM = "system"


class AuditFilterForm(forms.Form):
    actor = forms.ChoiceField(required=False, label="Who")
    action = forms.ChoiceField(required=False, label="Action")
    credential = forms.CharField(required=False, max_length=200, label="Credential",
                                 help_text="Its name or id.")
    since = dates.DateField(required=False, label="From",
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = dates.DateField(required=False, label="To (inclusive)",
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, members: list[User], actions: list[str],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.members = {str(user.pk): user for user in members}
        self.fields["actor"].choices = [("", "Anyone"), (SYSTEM, "System (no user)"),
                                        *((str(u.pk), u.get_username()) for u in members)]
        self.fields["action"].choices = [("", "Any action"), *((a, a) for a in actions)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The chosen days as times in the viewer's zone: from the start of `since` to the
        end of `until`."""
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        zone = timezone.get_current_timezone()
        start = datetime.combine(since, time.min, tzinfo=zone) if since else None
        end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone) if until \
            else None
        return start, end
