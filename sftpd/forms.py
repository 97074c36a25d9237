from django import forms


class ConnectionTestForm(forms.Form):
    """Run a connection test; with `pin_host_key`, pin the host key the administrator saw."""

    pin_host_key = forms.BooleanField(required=False)
    fingerprint = forms.RegexField(
        regex=r"^SHA256:[A-Za-z0-9+/]{43}$", required=False, max_length=128,
        error_messages={"invalid": "Not a SHA256 host key fingerprint."},
    )

    def clean(self) -> dict[str, object]:
        data = super().clean()
        if data.get("pin_host_key") and not data.get("fingerprint"):
            raise forms.ValidationError("Confirm the fingerprint you were shown to pin it.")
        return data
