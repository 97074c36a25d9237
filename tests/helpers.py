"""Helpers the tests of several apps share: a free loopback port, the inbox of a real SMTP
server (aiosmtpd) on loopback, a log collector and gunicorn's access log line."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import time

from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from gunicorn.config import Config

from accounts.middleware import SEEN_SESSION_KEY


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


def gunicorn_access_log(path: str, status: str = "302") -> None:
    """Logs a GET of `path` as gunicorn's access log does (`make run` writes it to the
    console): its logger, its default format and its atoms."""
    atoms = {"h": "127.0.0.1", "l": "-", "u": "-", "t": "[30/Nov/2026:10:00:00 +0000]",
             "r": f"GET {path} HTTP/1.1", "s": status, "b": "0", "f": "-", "a": "Mail scanner"}
    logging.getLogger("gunicorn.access").info(Config().access_log_format, atoms)


def record_sign_in(client: object, user: object, *, at: float | None = None,
                   method: str = "password") -> None:
    """What allauth's sign-in leaves in the session, for a client signed in with
    `force_login`: a proof of identity (its authentication record) dated `at` (now by
    default), and the session's activity already dated (accounts.middleware)."""
    session = client.session  # type: ignore[attr-defined]
    when = time.time() if at is None else at
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": method, "at": when, "username": user.get_username()}]  # type: ignore[attr-defined]
    session["account_authentication_methods_user"] = str(user.pk)  # type: ignore[attr-defined]
    session[SEEN_SESSION_KEY] = when
    session.save()
