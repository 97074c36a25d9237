"""`manage.py sftp_server [--host H] [--port P]`: runs the built-in SFTP endpoint until
SIGTERM or SIGINT, then closes every connection and exits."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sftpd.server import SftpServer


class Command(BaseCommand):
    help = "Runs the built-in SFTP endpoint (default address from KEYTURN_SFTP_HOST/PORT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="Address to listen on.")
        parser.add_argument("--port", type=int, default=None, help="Port (0 picks a free one).")

    def handle(self, *args: Any, host: str | None, port: int | None, **options: Any) -> None:
        server = SftpServer(host or settings.KEYTURN_SFTP_HOST,
                            settings.KEYTURN_SFTP_PORT if port is None else port)
        stopping = threading.Event()

        def stop(signum: int, frame: object) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        server.start()
        self.stdout.write(
            f"SFTP endpoint listening on {server.host}:{server.port} "
            f"(host key {server.fingerprint})", ending="\n",
        )
        self.stdout.flush()
        while not stopping.wait(0.5):
            pass
        self.stdout.write("Stopping the SFTP endpoint…")
        server.stop()
        self.stdout.write("SFTP endpoint stopped.")
