"""Forms of the credential pages: validation only. The form that takes new material is the
kind's own (CredentialKind.form_class, in credentials.kinds)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from organizations import dates
from organizations.models import BusinessUnit, Organization

from . import network
from .crypto import MaterialError
from .errors import RotationError
from .kinds import Family, api_key, kind_choices, kind_for
from .kinds.forms import SecretTextarea
from .material import Material
from .models import DEFAULT_LIFETIME_DAYS, Connection, Credential, RotationMode, RotationPolicy
from .rotation.requests import rotation_times_check
from .selectors import SORTS
from .status import Badge


class DateTimeInput(forms.DateTimeInput):
    """A native date-and-time picker. The value is in the viewer's time zone, which
    Django's DateTimeField turns into an aware datetime (stored in UTC)."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def _datetime_field(label: str, help_text: str = "", required: bool = False) -> forms.Field:
    return dates.DateTimeField(
        label=label, required=required, widget=DateTimeInput(), help_text=help_text,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )


# --- Lists -------------------------------------------------------------------------------


def _fixed(choices: list[tuple[str, str]]) -> Callable[[], list[tuple[str, str]]]:
    """Choices fixed for a form's life, as a function returning them: each form made copies its
    fields' lists of choices (and their widgets' lists) one element at a time, but not a
    function (CredentialFilterForm, parsed on every list page: 0.16 ms to 0.09)."""
    return lambda: choices


class CredentialFilterForm(forms.Form):
    """The GET parameters of a credential list. Unknown values are ignored, not errors, so a
    shared URL with a stale filter still opens."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(required=False, choices=_fixed([("", "All"), *Badge.choices]))
    kind = forms.ChoiceField(required=False, choices=_fixed([("", "All"), *kind_choices()]))
    family = forms.ChoiceField(required=False, choices=_fixed([("", "All"), *Family.choices]))
    unit = forms.ChoiceField(required=False)
    sort = forms.ChoiceField(required=False, choices=_fixed([(s, s) for s in SORTS]))

    def __init__(self, *args: Any, units: list[BusinessUnit], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.units = {u.slug: u for u in units}
        self.fields["unit"].choices = _fixed([("", "All"), *((u.slug, u.name) for u in units)])

    def values(self) -> dict[str, str]:
        """The valid parameters; an invalid one counts as not given."""
        self.is_valid()
        return {name: str(self.cleaned_data.get(name) or "").strip() for name in self.fields
                if name not in self.errors}


# --- Create and edit ---------------------------------------------------------------------

ROTATION_POLICY_HELP = (
    "Either way, reminder emails go out 30, 14 and 7 days before the current version expires. "
    "Automatic rotation also generates a new version 30 days before: both work until the new "
    "one is first used (a token request or an SFTP login) or the current one expires."
)
LIFETIME_HELP = (
    "How long a version brought in by a rotation stays valid, from its start (from the old "
    "version's expiry for automatic rotations), if the credential expires at all. A "
    "certificate keeps its own end date."
)


class CredentialDetailsForm(forms.Form):
    """What a credential is besides its material."""

    business_unit = forms.ModelChoiceField(
        queryset=BusinessUnit.objects.none(), label="Business unit", to_field_name="slug"
    )
    name = forms.CharField(max_length=200)
    valid_until = _datetime_field("Expires")
    rotation_policy = forms.ChoiceField(choices=RotationPolicy.choices, label="Rotation policy",
                                        help_text=ROTATION_POLICY_HELP)
    lifetime_days = forms.IntegerField(
        min_value=1, max_value=3650, initial=DEFAULT_LIFETIME_DAYS, label="Lifetime (days)",
        help_text=LIFETIME_HELP,
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, organization: Organization, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["business_unit"].queryset = organization.business_units.all()
        spec = kind_for(kind)
        if spec.expiry_from_material:
            del self.fields["valid_until"]  # the certificate's end date is the expiry
        elif spec.automatic_by_default:
            self.fields["valid_until"].help_text = (
                "In your time zone. Leave empty to expire after the lifetime below.")
        else:
            self.fields["valid_until"].help_text = "In your time zone. Leave empty for no expiry."


class CredentialEditForm(forms.Form):
    name = forms.CharField(max_length=200)
    rotation_policy = forms.ChoiceField(choices=RotationPolicy.choices, label="Rotation policy",
                                        help_text=ROTATION_POLICY_HELP)
    lifetime_days = forms.IntegerField(min_value=1, max_value=3650, label="Lifetime (days)",
                                       help_text=LIFETIME_HELP)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


# --- Rotation ----------------------------------------------------------------------------


METHOD_NEW = "new"
METHOD_SWAP = "swap"
TIMING_IMMEDIATE = "immediate"
TIMING_SCHEDULED = "scheduled"


class RotatePlanForm(forms.Form):
    """Step 1 of a rotation: what replaces the credential and when. No secrets here, so the
    confirmation step can carry these values in hidden fields."""

    method = forms.ChoiceField(
        widget=forms.RadioSelect, initial=METHOD_NEW, label="Replace with",
        choices=[(METHOD_NEW, "New material for this credential"),
                 (METHOD_SWAP, "Another existing credential of the same kind (scheduled only)")],
        help_text="A swap moves the connections to the other credential at the start time, so "
                  "it can only be scheduled.",
    )
    timing = forms.ChoiceField(
        widget=forms.RadioSelect, initial=TIMING_IMMEDIATE, label="When",
        choices=[(TIMING_IMMEDIATE, "Immediately"), (TIMING_SCHEDULED, "Scheduled")],
    )
    starts_at = _datetime_field("Start", "Scheduled only: when the switch happens.")
    overlap_ends_at = _datetime_field(
        "Old one works until",
        "Optional overlap: the current credential keeps working until then (never after its "
        "own expiry). Empty: it stops when the new one starts.",
    )
    test_before_switch = forms.BooleanField(
        required=False, label="Test first",
        help_text="Try the new material on the active outbound SFTP connections before the "
                  "switch; if a test fails, the rotation fails and nothing changes.",
    )
    reason = forms.CharField(required=False, max_length=500)

    def __init__(self, *args: Any, kind: str, now: datetime | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()
        if kind_for(kind).sftp_login is None:  # the test logs in to outbound SFTP servers
            del self.fields["test_before_switch"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned.setdefault("test_before_switch", False)
        timing, starts_at = cleaned.get("timing"), cleaned.get("starts_at")
        if cleaned.get("method") == METHOD_SWAP and timing == TIMING_IMMEDIATE:
            self.add_error("timing", "A swap can only be scheduled: choose Scheduled and a start.")
        if timing == TIMING_SCHEDULED and starts_at is None and "starts_at" not in self.errors:
            self.add_error("starts_at", "Choose when the scheduled rotation starts.")
        if timing == TIMING_IMMEDIATE:
            cleaned["starts_at"] = None
        if timing and not self.errors:
            # The engine's own rule, asked now so that a start in the past is refused here,
            # before the new material is entered, not after the final click.
            scheduled = timing == TIMING_SCHEDULED
            try:
                rotation_times_check(
                    mode=RotationMode.SCHEDULED if scheduled else RotationMode.IMMEDIATE,
                    starts_at=starts_at if scheduled else self.now,
                    overlap_ends_at=cleaned.get("overlap_ends_at"), now=self.now)
            except RotationError as exc:
                self.add_error(exc.field, str(exc))
        return cleaned


class SwapForm(forms.Form):
    replacement = forms.ModelChoiceField(
        queryset=Credential.objects.none(), label="Swap in",
        help_text="The connections that use this credential move to this one.",
    )

    def __init__(self, *args: Any, candidates: QuerySet[Credential], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["replacement"].queryset = candidates


# --- Connections -------------------------------------------------------------------------


class ChangeCredentialForm(forms.Form):
    """Step 1 of the Change Credential wizard: an API key's new name, ids and private key."""

    name = forms.CharField(label="Credential name", max_length=200)
    client_id = forms.CharField(label="Client ID", max_length=200)
    key_id = forms.CharField(label="Key ID", max_length=200)
    private_key = forms.CharField(
        label="PEM private key", strip=False,
        widget=SecretTextarea(attrs={"rows": 8, "cols": 66, "autocomplete": "off",
                                     "spellcheck": "false",
                                     "placeholder": "-----BEGIN PRIVATE KEY-----"}),
        help_text="PKCS#8 or traditional PEM, without a passphrase: Ed25519, ECDSA "
                  "(P-256, P-384, P-521) or RSA of 2048 bits or more.",
    )

    material: Material | None = None

    def __init__(self, *args: Any, current_client_id: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The credential's id, which it may keep (credentials.material).
        self.current_client_id = current_client_id

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            try:
                self.material = api_key.material(
                    client_id=data["client_id"], key_id=data["key_id"],
                    private_key=data["private_key"], current_client_id=self.current_client_id)
            except MaterialError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


class ConnectionForm(forms.ModelForm):
    endpoint_url = forms.URLField(required=False, assume_scheme="https", label="Endpoint URL")
    hostname = forms.CharField(required=False, label="Host name",
                               validators=network.hostname_validators,
                               help_text="The partner's server, e.g. sftp.example.com.")
    port = forms.IntegerField(required=False, validators=network.port_validators,
                              help_text=f"{network.PORT_MIN} to {network.PORT_MAX}; SFTP "
                                        "usually uses 22.")
    host_key_fingerprint = forms.CharField(
        required=False, label="Pinned host key", validators=network.host_key_pin_validators,
        help_text="The SHA256 fingerprint of the server's host key, as ssh-keygen -lf prints it. "
                  "Leave empty and Test connection shows the key for you to pin.",
    )

    class Meta:
        model = Connection
        fields = ["business_unit", "name", "kind", "credential", "is_active", "hostname",
                  "port", "remote_path", "host_key_fingerprint", "partner_as2_id",
                  "endpoint_url"]
        labels = {"business_unit": "Business unit", "is_active": "Active",
                  "partner_as2_id": "Partner AS2 ID", "endpoint_url": "Endpoint URL"}

    def __init__(self, *args: Any, organization: Organization,
                 credentials: QuerySet[Credential], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["business_unit"].queryset = organization.business_units.all()
        self.fields["credential"].queryset = credentials
        self.fields["credential"].required = False
        self.fields["credential"].empty_label = "(none: no credential attached)"


class AttachForm(forms.Form):
    connection = forms.ModelChoiceField(queryset=Connection.objects.none(), label="Connection")

    def __init__(self, *args: Any, connections: QuerySet[Connection], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection"].queryset = connections

