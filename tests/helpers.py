"""Helpers the tests of several apps share: a free loopback port, the inbox of a real SMTP
server (aiosmtpd) on loopback, and a log collector."""

from __future__ import annotations

import email
import email.policy
import logging
import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for a server to start, or to refuse)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """What the SMTP server received: (envelope recipients, parsed message) per email."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, parsed))
        return "250 OK"


class LogCollector(logging.Handler):
    """Every record it is given, formatted with its traceback, as caplog.text would be (the
    suite runs with `-p no:logging`, which removes caplog)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # includes formatted tracebacks

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
