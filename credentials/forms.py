"""Forms of the credential pages: validation only. Material is checked by credentials.material;
its MaterialError names the field, which becomes that field's error here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.utils import timezone

from organizations import dates
from organizations.models import BusinessUnit, Organization

from . import material, network
from .crypto import MaterialError
from .errors import RotationError
from .models import Connection, Credential, Family, Kind, RotationMode, RotationPolicy
from .rotation.requests import rotation_times_check
from .selectors import SORTS
from .services import AUTOMATIC_BY_DEFAULT
from .status import Badge

MAX_UPLOAD_BYTES = 64 * 1024


class SecretTextarea(forms.Textarea):
    """Never renders a value: a pasted private key does not come back in the HTML, not even
    when the form is shown again with an error."""

    def format_value(self, value: Any) -> None:
        return None


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


class CredentialFilterForm(forms.Form):
    """The GET parameters of a credential list. Unknown values are ignored, not errors, so a
    shared URL with a stale filter still opens."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(required=False, choices=[("", "All"), *Badge.choices])
    kind = forms.ChoiceField(required=False, choices=[("", "All"), *Kind.choices])
    family = forms.ChoiceField(required=False, choices=[("", "All"), *Family.choices])
    unit = forms.ChoiceField(required=False)
    sort = forms.ChoiceField(required=False, choices=[(s, s) for s in SORTS])

    def __init__(self, *args: Any, units: list[BusinessUnit], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.units = {u.slug: u for u in units}
        self.fields["unit"].choices = [("", "All"), *((u.slug, u.name) for u in units)]

    def values(self) -> dict[str, str]:
        """The valid parameters; an invalid one counts as not given."""
        self.is_valid()
        return {name: str(self.cleaned_data.get(name) or "").strip() for name in self.fields
                if name not in self.errors}


# --- Material ----------------------------------------------------------------------------


SOURCE_GENERATE = "generate"
SOURCE_ENTER = "enter"


class MaterialForm(forms.Form):
    """The secret material of one kind. After is_valid(), `self.material` holds it."""

    kind: str = ""
    source_choices: list[tuple[str, str]] = []
    material: material.Material | None = None

    def __init__(self, *args: Any, now: datetime | None = None, current_client_id: str = "",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()
        # On a rotation: the credential's id, which it may keep (credentials.material).
        self.current_client_id = current_client_id
        if self.source_choices and "source" in self.fields:
            self.fields["source"].choices = self.source_choices

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.material = self.build(cleaned)
        except MaterialError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned

    def build(self, cleaned: dict[str, Any]) -> material.Material:
        raise NotImplementedError

    def generated(self) -> bool:
        return self.cleaned_data.get("source") == SOURCE_GENERATE

    def _entered(self, cleaned: dict[str, Any], name: str, what: str) -> str:
        value = cleaned.get(name) or ""
        if not value:
            raise MaterialError(name, f"Enter the {what}, or choose to generate one.")
        return value


def _source_field(choices: list[tuple[str, str]]) -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=choices, initial=choices[0][0], widget=forms.RadioSelect, label="New material"
    )


def _read_upload(upload: UploadedFile | None, field: str, what: str) -> bytes:
    if upload is None:
        raise MaterialError(field, f"Choose the {what} file to upload.")
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise MaterialError(field, "This file is too large for a key or certificate.")
    return upload.read()


class SftpPasswordForm(MaterialForm):
    kind = Kind.SFTP_PASSWORD
    source_choices = [(SOURCE_GENERATE, "Generate a strong password"),
                      (SOURCE_ENTER, "Enter a password")]
    username = forms.CharField(max_length=64, label="User name")
    source = _source_field(source_choices)
    password = forms.CharField(
        required=False, strip=False, label="Password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=f"At least {material.MIN_PASSWORD_LENGTH} characters, without spaces at "
                  "either end. A generated one has 24.",
    )

    def build(self, cleaned: dict[str, Any]) -> material.Material:
        password = (material.generate_password() if cleaned["source"] == SOURCE_GENERATE
                    else self._entered(cleaned, "password", "password"))
        return material.sftp_password(username=cleaned["username"], password=password)


class SftpKeyForm(MaterialForm):
    kind = Kind.SFTP_KEY
    source_choices = [(SOURCE_GENERATE, "Generate an Ed25519 key"),
                      (SOURCE_ENTER, "Paste a private key")]
    username = forms.CharField(max_length=64, label="User name")
    source = _source_field(source_choices)
    private_key = forms.CharField(
        required=False, strip=False, label="Private key",
        widget=SecretTextarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One key, OpenSSH or PEM: Ed25519, ECDSA, or RSA of 2048 bits or more; no "
                  "passphrase.",
    )

    def build(self, cleaned: dict[str, Any]) -> material.Material:
        if cleaned["source"] == SOURCE_GENERATE:
            return material.sftp_key_generated(username=cleaned["username"])
        return material.sftp_key(
            username=cleaned["username"],
            private_key=self._entered(cleaned, "private_key", "private key"),
        )


class As2CertificateForm(MaterialForm):
    kind = Kind.AS2_CERTIFICATE
    source_choices = [(SOURCE_GENERATE, "Generate a self-signed certificate and key"),
                      (SOURCE_ENTER, "Upload a certificate and its private key")]
    source = _source_field(source_choices)
    common_name = forms.CharField(
        required=False, max_length=64, label="Common name",
        help_text="For a generated certificate, e.g. as2.example.com.",
    )
    days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, initial=365, label="Valid for (days)",
        help_text="For a generated certificate: its end date, which is the credential's expiry.",
    )
    certificate = forms.FileField(
        required=False, label="Certificate",
        help_text="PEM or DER X.509 certificate. Its end date is the credential's expiry (one "
                  "after 30 Dec 9999, such as the “no expiry” 31 Dec 9999, counts as 30 Dec "
                  "9999 00:00 UTC).",
    )
    private_key = forms.FileField(
        required=False, label="Private key",
        help_text="The certificate's private key, one key in PEM (or OpenSSH) format, no "
                  "passphrase.",
    )

    def build(self, cleaned: dict[str, Any]) -> material.Material:
        if cleaned["source"] == SOURCE_GENERATE:
            common_name = (cleaned.get("common_name") or "").strip()
            if not common_name:
                raise MaterialError("common_name", "Give the certificate a common name.")
            return material.as2_certificate_generated(
                common_name=common_name, days=cleaned.get("days") or 365, now=self.now
            )
        certificate = _read_upload(cleaned.get("certificate"), "certificate", "certificate")
        key_bytes = _read_upload(cleaned.get("private_key"), "private_key", "private key")
        try:
            private_key = key_bytes.decode()
        except UnicodeDecodeError:
            raise MaterialError("private_key", "Upload the private key in PEM format.") from None
        return material.as2_certificate(certificate=certificate, private_key=private_key)


class ApiClientSecretForm(MaterialForm):
    kind = Kind.API_CLIENT_SECRET
    source_choices = [(SOURCE_GENERATE, "Generate a client secret"),
                      (SOURCE_ENTER, "Enter a client secret")]
    client_id = forms.CharField(
        required=False, max_length=200, label="Client ID",
        help_text="Leave empty to generate one.",
    )
    source = _source_field(source_choices)
    client_secret = forms.CharField(
        required=False, strip=False, label="Client secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="At least 32 characters.",
    )

    def build(self, cleaned: dict[str, Any]) -> material.Material:
        secret = None
        if cleaned["source"] == SOURCE_ENTER:
            secret = self._entered(cleaned, "client_secret", "client secret")
        return material.api_client_secret(client_id=cleaned.get("client_id") or "",
                                           client_secret=secret,
                                           current_client_id=self.current_client_id)


class ApiKeyForm(MaterialForm):
    kind = Kind.API_KEY
    source_choices = [(SOURCE_ENTER, "Paste a PEM private key"),
                      (SOURCE_GENERATE, "Generate a P-256 private key")]
    client_id = forms.CharField(max_length=200, label="Client ID")
    key_id = forms.CharField(max_length=200, label="Key ID")
    source = _source_field(source_choices)
    private_key = forms.CharField(
        required=False, strip=False, label="PEM key",
        widget=SecretTextarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One PEM private key: Ed25519, ECDSA (P-256, P-384, P-521) or RSA of 2048 "
                  "bits or more; no passphrase.",
    )

    def build(self, cleaned: dict[str, Any]) -> material.Material:
        if cleaned["source"] == SOURCE_GENERATE:
            private_key = material.crypto.generate_pem_private_key()
        else:
            private_key = self._entered(cleaned, "private_key", "PEM private key")
        return material.api_key(client_id=cleaned["client_id"], key_id=cleaned["key_id"],
                                private_key=private_key,
                                current_client_id=self.current_client_id)


MATERIAL_FORMS: dict[str, type[MaterialForm]] = {
    form.kind: form
    for form in (SftpPasswordForm, SftpKeyForm, As2CertificateForm, ApiClientSecretForm,
                 ApiKeyForm)
}


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
        min_value=1, max_value=3650, initial=180, label="Lifetime (days)",
        help_text=LIFETIME_HELP,
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, organization: Organization, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["business_unit"].queryset = organization.business_units.all()
        if kind == Kind.AS2_CERTIFICATE:
            del self.fields["valid_until"]  # the certificate's end date is the expiry
        elif kind in AUTOMATIC_BY_DEFAULT:
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
        if kind not in (Kind.SFTP_PASSWORD, Kind.SFTP_KEY):
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

