"""Validation only: the contact form (the services check the same rules again, for the API)."""

from __future__ import annotations

from django import forms

from organizations.models import validate_time_zone

from .services import EMAIL_MAX, NAME_MAX, NOTE_MAX, ContactFields


class ContactForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX)
    email = forms.EmailField(label="Email address", max_length=EMAIL_MAX)
    time_zone = forms.CharField(
        label="Time zone (optional)", max_length=64, required=False,
        validators=[validate_time_zone],
        widget=forms.TextInput(attrs={"placeholder": "Europe/Berlin", "autocomplete": "off",
                                      "spellcheck": "false"}),
        help_text="Where the contact works, as in Europe/Berlin or America/New_York. Emails "
                  "say their deadlines in this zone and in UTC; without one, in UTC only.",
    )
    note = forms.CharField(
        label="Note (optional)", max_length=NOTE_MAX, required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For your colleagues (their role, when to call them); never emailed.",
    )

    def contact_fields(self) -> ContactFields:
        data = self.cleaned_data
        return ContactFields(name=data["name"], email=data["email"], note=data["note"],
                             time_zone=data["time_zone"])
