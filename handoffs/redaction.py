"""Keeps links' tokens out of the logs (config.redaction): HandoffsConfig.ready() installs
the filter that writes /handoff/<token> in place of a link's path."""

from __future__ import annotations

import re

from config.redaction import redact_paths

from .services import TOKEN_PATTERN

TOKEN_IN_PATH = re.compile(rf"/handoff/{TOKEN_PATTERN}")
REDACTED = "/handoff/<token>"


def install() -> None:
    redact_paths(TOKEN_IN_PATH, REDACTED)
