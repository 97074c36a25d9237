"""Helpers the tests of several apps share: a free loopback port, and the inbox of a real SMTP
server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import email.policy
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
