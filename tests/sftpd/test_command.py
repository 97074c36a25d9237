"""`manage.py sftp_server` as `bin/run` starts it: a real process, stopped by SIGTERM."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import paramiko

from sftpd.client import server_key_fingerprint

ROOT = Path(__file__).resolve().parents[2]


def test_it_serves_until_sigterm_then_closes_connections_and_exits(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'keyturn.sqlite3'}",
           "KEYTURN_SFTP_ROOT": str(tmp_path / "sftp"), "PYTHONUNBUFFERED": "1"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    with open(tmp_path / "stderr.log", "w") as stderr:
        process = subprocess.Popen(
            [*manage, "sftp_server", "--host", "127.0.0.1", "--port", "0"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
        try:
            banner = process.stdout.readline()
            found = re.search(r"listening on 127\.0\.0\.1:(\d+) \(host key (SHA256:\S+)\)", banner)
            assert found, banner
            transport = paramiko.Transport(("127.0.0.1", int(found[1])))
            transport.start_client(timeout=10)
            assert server_key_fingerprint(transport.get_remote_server_key()) == found[2]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert "SFTP endpoint stopped." in process.stdout.read()
    transport.join(5)
    assert not transport.is_active()  # the server closed the open connection
