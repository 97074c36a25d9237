"""Forms of the organization pages: validation only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import UserCreationForm

from organizations.models import User
from organizations.roles import Role


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class SecondFactorPolicyForm(forms.Form):
    require_second_factor = forms.BooleanField(
        required=False, label="Require a second factor of every member",
        help_text="Members without one are led to set one up before they see anything of "
                  "this organization; their other organizations are unaffected.")


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InvitationSignUpForm(UserCreationForm):
    """A new account for an invited address: a user name and a password (Django's password
    validators, which also compare it with the invited address)."""

    class Meta:
        model = User
        fields = ("username",)

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.email = email
        self.fields["username"].label = "User name"
        self.fields["username"].widget.attrs["autocomplete"] = "username"
