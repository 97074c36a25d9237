"""Keeps links' tokens out of the logs. A token is in its link's path, so Django's request
warnings ("Bad Request: /handoff/<token>/") and an access log (gunicorn's, under `make run`)
would write it down; while the link is open, whoever reads the log could use it. This filter,
put on those loggers by HandoffsConfig.ready(), writes the path with the token replaced."""

from __future__ import annotations

import logging
import re

from .services import TOKEN_PATTERN

TOKEN_IN_PATH = re.compile(rf"/handoff/{TOKEN_PATTERN}")
REDACTED = "/handoff/<token>"
# The loggers that write request paths: Django's, runserver's, and gunicorn's.
LOGGERS = ("django.request", "django.server", "gunicorn.access", "gunicorn.error")


class RedactLinkTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if TOKEN_IN_PATH.search(message):
            record.msg, record.args = TOKEN_IN_PATH.sub(REDACTED, message), None
        return True


def install() -> None:
    """Idempotent: ready() may run more than once in tests."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactLinkTokens) for f in logger.filters):
            logger.addFilter(RedactLinkTokens())
