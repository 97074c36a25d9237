"""The base of each kind's material form (validation only: the kind checks the material and
its MaterialError names the field, which becomes that field's error here), and the widgets and
helpers the kinds' forms share."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from ..crypto import MaterialError
from ..material import Material

MAX_UPLOAD_BYTES = 64 * 1024
SOURCE_GENERATE = "generate"
SOURCE_ENTER = "enter"


class SecretTextarea(forms.Textarea):
    """Never renders a value: a pasted private key does not come back in the HTML, not even
    when the form is shown again with an error."""

    def format_value(self, value: Any) -> None:
        return None


class MaterialForm(forms.Form):
    """The secret material of one kind, entered or generated. Its fields are named as the
    kind's parse() takes them. After is_valid(), `self.material` holds the material."""

    source_choices: list[tuple[str, str]] = []
    material: Material | None = None

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

    def build(self, cleaned: dict[str, Any]) -> Material:
        raise NotImplementedError

    def generated(self) -> bool:
        return self.cleaned_data.get("source") == SOURCE_GENERATE

    def _entered(self, cleaned: dict[str, Any], name: str, what: str) -> str:
        value = cleaned.get(name) or ""
        if not value:
            raise MaterialError(name, f"Enter the {what}, or choose to generate one.")
        return value


def source_field(choices: list[tuple[str, str]]) -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=choices, initial=choices[0][0], widget=forms.RadioSelect, label="New material"
    )


def read_upload(upload: UploadedFile | None, field: str, what: str) -> bytes:
    if upload is None:
        raise MaterialError(field, f"Choose the {what} file to upload.")
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise MaterialError(field, "This file is too large for a key or certificate.")
    return upload.read()
