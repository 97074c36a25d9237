"""Forms of the organization pages: validation only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordResetForm

from .models import User
from .roles import Role


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=150, label="Email address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InvitationEmailForm(PasswordResetForm):
    """Django's password-reset email, sent to one invited user so they choose a password.

    The stock form skips users without a usable password, which is exactly what a new
    invitee has, so the recipient is given rather than looked up."""

    def __init__(self, user: User, **kwargs: Any) -> None:
        super().__init__(data={"email": user.email}, **kwargs)
        self.invited = user

    def get_users(self, email: str) -> Iterator[User]:
        yield self.invited
