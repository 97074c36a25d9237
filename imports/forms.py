"""Validation only: material goes through its kind (credentials.kinds), payloads through
imports.payload; the services decide everything else."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from credentials.crypto import MaterialError
from credentials.kinds import api_key, kinds_managed_by
from credentials.kinds.forms import SecretTextarea
from credentials.material import Material
from credentials.models import Credential
from organizations.models import BusinessUnit, Organization, User

from . import payload


class ChangeCredentialForm(forms.Form):
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


class ImportUploadForm(forms.Form):
    file = forms.FileField(label="Payload file")

    payload_bytes: bytes = b""

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > payload.MAX_PAYLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {payload.MAX_PAYLOAD_BYTES // 1024} KiB, so it is "
                "not a credential payload."
            )
        data = upload.read(payload.MAX_PAYLOAD_BYTES + 1)
        try:
            payload.read_envelope(data)
        except payload.PayloadError as exc:
            raise forms.ValidationError(exc.message) from None
        self.payload_bytes = data
        return upload


class ImportPasswordForm(forms.Form):
    password = forms.CharField(
        label="Payload password", strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


def manageable_credentials(user: User, organization: Organization) -> QuerySet[Credential]:
    """Credentials of the organization whose family the user may manage."""
    kinds = kinds_managed_by(user, organization)
    return (Credential.objects.filter(business_unit__organization=organization, kind__in=kinds)
            .select_related("business_unit").order_by("name"))


class CredentialChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Credential) -> str:
        return f"{obj.name} ({obj.get_kind_display()}, {obj.business_unit.name})"


class ImportChooseForm(forms.Form):
    credential = CredentialChoiceField(
        queryset=Credential.objects.none(), label="Credential to replace",
        widget=forms.RadioSelect, empty_label=None,
    )

    def __init__(self, *args: Any, user: User, organization: Organization,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["credential"].queryset = manageable_credentials(user, organization)


class ImportAddForm(forms.Form):
    name = forms.CharField(label="Credential name", max_length=200)
    business_unit = forms.ModelChoiceField(queryset=BusinessUnit.objects.none(),
                                           label="Business unit")

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["business_unit"].queryset = organization.business_units.order_by("name")
