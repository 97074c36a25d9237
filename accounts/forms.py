from __future__ import annotations

import zoneinfo

from django import forms

from organizations.models import User, validate_time_zone


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    # The column's limit: a longer address passes EmailField's own (320) but not the model.
    email = forms.EmailField(
        max_length=User._meta.get_field("email").max_length,
        help_text="Password resets are sent here; single sign-on finds your account by it. "
                  "Changing it asks you to prove who you are.")
    # A text field with a list of zones (a <datalist>): type to search, as in "Berl".
    time_zone = forms.CharField(
        max_length=64, validators=[validate_time_zone],
        widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off",
                                      "spellcheck": "false"}),
        help_text="Dates and times are shown in this zone (stored in UTC). Type to search; "
                  "the list shows the time it is now in each zone.")


def time_zone_names() -> list[str]:
    return sorted(name for name in zoneinfo.available_timezones()
                  if "/" in name or name == "UTC")
