"""Validation only: the send form and the partner's Show form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django import forms
from django.core import signing

from credentials.models import CredentialVersion
from credentials.templatetags.keyturn import format_dual
from partners.models import PartnerContact

from .models import Handoff
from .services import DEFAULT_LIFETIME, LIFETIMES, PASSPHRASE_MAX_LENGTH, PASSPHRASE_MIN_LENGTH

# The Show form carries a nonce signed for its hand-off instead of Django's CSRF token: the
# partner has no session, and under Referrer-Policy: no-referrer browsers send the POST with
# `Origin: null`, which Django's CSRF check refuses. A POST without a page shown first, or
# for another link, is refused; a page left open longer than this asks to press Show again.
NONCE_SALT = "handoffs.show"
NONCE_MAX_AGE = timedelta(hours=1)


def _lifetime_label(lifetime: timedelta) -> str:
    hours = int(lifetime.total_seconds() // 3600)
    if hours % 24 == 0 and hours > 72:
        return f"{hours // 24} days"
    return f"{hours} hour{'s' if hours != 1 else ''}"


def _hours(lifetime: timedelta) -> str:
    return str(int(lifetime.total_seconds() // 3600))


SOMEONE_ELSE = "other"


class HandoffSendForm(forms.Form):
    which = forms.ChoiceField(label="Which secret", widget=forms.RadioSelect)
    # Offered when the credential has partner contacts (its own or its connections'); the
    # name and address below are for someone else.
    contact = forms.ChoiceField(label="Recipient", widget=forms.RadioSelect)
    recipient_name = forms.CharField(label="Recipient's name", max_length=200)
    recipient_email = forms.EmailField(label="Recipient's email address", max_length=254)
    lifetime = forms.TypedChoiceField(
        label="The link works for", coerce=lambda hours: timedelta(hours=int(hours)),
        choices=[(_hours(life), _lifetime_label(life)) for life in LIFETIMES],
        initial=_hours(DEFAULT_LIFETIME),
        help_text="Once shown, it stops working at once; you can also revoke it.",
    )
    passphrase = forms.CharField(
        label="Passphrase (optional)", required=False, strip=False,
        max_length=PASSPHRASE_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=f"At least {PASSPHRASE_MIN_LENGTH} characters. The link asks for it before "
                  "it shows anything; give it to the recipient another way (by phone, not by "
                  "email). Five wrong tries lock the link.",
    )
    passphrase_again = forms.CharField(
        label="Passphrase again", required=False, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, noun: str, current: CredentialVersion | None,
                 pending: CredentialVersion | None, contacts: Sequence[PartnerContact] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contacts = {str(contact.pk): contact for contact in contacts}
        if self.contacts:
            self.fields["contact"].choices = [
                *((pk, f"{c.name} <{c.email}>" + (f" ({c.connection.name})" if c.connection_id
                                                  else ""))
                  for pk, c in self.contacts.items()),
                (SOMEONE_ELSE, "Someone else (enter their name and address below)"),
            ]
            self.fields["contact"].initial = next(iter(self.contacts))
            self.fields["recipient_name"].required = False
            self.fields["recipient_email"].required = False
            self.fields["recipient_name"].label = "Someone else's name"
            self.fields["recipient_email"].label = "Someone else's email address"
        else:
            del self.fields["contact"]
        choices = []
        if pending is not None:
            choices.append(("pending", f"The new {noun}, which starts working "
                                       f"{format_dual(pending.valid_from)}"))
        if current is not None:
            choices.append(("current", f"The current {noun} (version {current.number})"))
        self.fields["which"].choices = choices
        self.fields["which"].label = f"Which {noun}"
        if choices:
            self.fields["which"].initial = choices[0][0]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("passphrase", "") != cleaned.get("passphrase_again", ""):
            self.add_error("passphrase_again", "The two passphrases differ.")
        chosen = self.contacts.get(cleaned.get("contact", ""))
        if chosen is not None:
            cleaned["recipient_name"], cleaned["recipient_email"] = chosen.name, chosen.email
        elif self.contacts and cleaned.get("contact") == SOMEONE_ELSE:
            for field in ("recipient_name", "recipient_email"):
                if not cleaned.get(field) and field not in self.errors:
                    self.add_error(field, "Enter it, or choose a partner contact above.")
        return cleaned


def show_nonce(handoff: Handoff) -> str:
    return signing.TimestampSigner(salt=NONCE_SALT).sign(str(handoff.pk))


class ShowForm(forms.Form):
    nonce = forms.CharField(widget=forms.HiddenInput, required=False)  # clean_nonce decides
    passphrase = forms.CharField(
        label="Passphrase", strip=False, max_length=PASSPHRASE_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="The sender gave it to you another way (by phone, for example).",
    )

    def __init__(self, *args: Any, handoff: Handoff, **kwargs: Any) -> None:
        super().__init__(*args, initial={"nonce": show_nonce(handoff)}, **kwargs)
        self.handoff = handoff
        if not handoff.has_passphrase:
            del self.fields["passphrase"]

    def clean_nonce(self) -> str:
        try:
            value = signing.TimestampSigner(salt=NONCE_SALT).unsign(
                self.cleaned_data["nonce"], max_age=NONCE_MAX_AGE)
        except signing.BadSignature:
            value = ""
        if value != str(self.handoff.pk):
            raise forms.ValidationError("This page was open too long: press Show again.")
        return value
