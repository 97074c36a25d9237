"""Fixtures of the imports tests: an API key credential with a connection, and a log capture
that works with `-p no:logging` (which removes pytest's caplog)."""

from __future__ import annotations

import logging

import pytest

from credentials.models import Kind
from tests.factories import make_connection, make_credential


@pytest.fixture
def carrier_api(unit, alice):
    """An API key credential with a connection, as the wizard and imports find them."""
    credential = make_credential(unit, Kind.API_KEY, name="Carrier API", actor=alice,
                                 client_id="carrier-client", key_id="carrier-key-1")
    make_connection(credential, alice)
    return credential


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # includes formatted tracebacks

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def captured_logs():
    """Every log record at DEBUG and above, formatted with its traceback, like caplog.text.
    (The suite runs with `-p no:logging`, so caplog itself is not available.)"""
    collector = _Collector()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
        root.setLevel(previous)
