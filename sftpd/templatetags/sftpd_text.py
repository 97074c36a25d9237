"""Showing what partners name: the file names of SFTP transfers are chosen by the other side,
so they are shown with every character that could disguise them escaped."""

from __future__ import annotations

import unicodedata

from django import template

register = template.Library()

SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Control (C0, DEL, C1), format (right-to-left override U+202E, zero-width joiners, BOM...),
# surrogate, private-use and unassigned characters, and line and paragraph separators: none
# shows as itself, and some reorder or hide the text around them.
HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def escaped_text(value: str) -> str:
    """'invoice\\u202efdp.exe' for a name holding U+202E: what was sent, readable and
    unambiguous (a backslash in the name is doubled, so no escape can be faked)."""
    shown = []
    for char in value:
        if char in SHORT_ESCAPES:
            shown.append(SHORT_ESCAPES[char])
        elif unicodedata.category(char) in HIDDEN_CATEGORIES:
            code = ord(char)
            shown.append(f"\\x{code:02x}" if code < 0x100
                         else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            shown.append(char)
    return "".join(shown)


@register.filter
def escaped(value: str | None) -> str:
    return escaped_text(value or "")
