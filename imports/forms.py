"""Validation only: payloads go through imports.payload (and their material through its kind,
credentials.kinds); the services decide everything else."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from credentials.kinds import kinds_managed_by
from credentials.models import Credential
from organizations.models import BusinessUnit, Organization, User

from . import payload


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
