"""Keeps the tokens of emailed links out of the logs. A link that works by its token alone (a
hand-off, an invitation, a password reset) carries it in its path, so Django's request
warnings ("Not Found: /handoff/<token>/") and an access log (gunicorn's, under `make run`)
would write it down, and whoever reads the log could use the link while it works. Each app
whose emails carry such links puts this filter on those loggers from its AppConfig.ready(),
with the pattern of its paths; the filter writes the path with the token replaced."""

from __future__ import annotations

import logging
import re

# The loggers that write request paths: Django's, runserver's, and gunicorn's.
LOGGERS = ("django.request", "django.server", "gunicorn.access", "gunicorn.error")


class RedactPaths(logging.Filter):
    def __init__(self, pattern: re.Pattern[str], replacement: str) -> None:
        super().__init__()
        self.pattern = pattern
        self.replacement = replacement

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.pattern.search(message):
            record.msg, record.args = self.pattern.sub(self.replacement, message), None
        return True


def redact_paths(pattern: re.Pattern[str], replacement: str) -> None:
    """Idempotent: ready() may run more than once in tests."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactPaths) and f.pattern == pattern for f in logger.filters):
            logger.addFilter(RedactPaths(pattern, replacement))
