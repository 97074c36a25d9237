from django import forms


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="Say what uses the key, e.g. “ERP nightly sync”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
