"""JSON for data- attributes: the pages hand the WebAuthn options to static/keyturn/webauthn.js
in an attribute (escaped like any attribute), never in an inline script."""

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def to_json(value: Any) -> str:
    return json.dumps(value)
