"""The built-in SFTP endpoint, running in-process on a free port for each test.

The server's threads must see the test's rows, so these tests use `transactional_db`
(committed data). With the suite's in-memory SQLite the server's threads borrow the test's
own connection, exactly as pytest-django's live_server does (Django's LiveServerThread
`connections_override`): an in-memory database exists only inside its connection. That is
safe because the test thread and the server never use it at the same moment: a paramiko
client waits for the server's answer, and the server does its database work before it
answers; tests call `server.wait_idle()` before they look at what a closed connection left.
On PostgreSQL each thread opens its own connection and the override is empty.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sftpd.server import SftpServer
from tests.sftpd.helpers import SleepRecorder, start_server


@pytest.fixture
def sftp_root(tmp_path, settings):
    settings.KEYTURN_SFTP_ROOT = tmp_path / "sftp"
    return settings.KEYTURN_SFTP_ROOT


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def sftp_server(transactional_db, sftp_root, sleeps) -> Iterator[SftpServer]:
    server = start_server(sleeps)
    yield server
    server.stop()
