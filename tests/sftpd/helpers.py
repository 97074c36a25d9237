"""Helpers for the SFTP tests: the in-process endpoint and a real paramiko client."""

from __future__ import annotations

import base64

import paramiko
from django.db import connections

from credentials.models import Credential, CredentialVersion
from credentials.services import current_version, version_secret
from sftpd.client import paramiko_private_key
from sftpd.server import SftpServer


class SleepRecorder(list):
    """Stands in for time.sleep: remembers the delays the server asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def shared_connections() -> dict[str, object]:
    return {
        conn.alias: conn for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }


def start_server(sleep: SleepRecorder, port: int = 0) -> SftpServer:
    server = SftpServer("127.0.0.1", port, sleep=sleep, connections_override=shared_connections())
    server.start()
    return server


def host_key_of(server: SftpServer) -> paramiko.PKey:
    """The host key as the portal publishes it (from the database, not the server object)."""
    key_type, blob = server.host_key_row.public_key.split()[:2]
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))


def connect(server: SftpServer, username: str, *, password: str | None = None,
            pkey: paramiko.PKey | None = None) -> paramiko.SSHClient:
    """A real SSH client that trusts only the endpoint's published host key."""
    client = paramiko.SSHClient()
    key = host_key_of(server)
    client.get_host_keys().add(f"[127.0.0.1]:{server.port}", key.get_name(), key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            "127.0.0.1", port=server.port, username=username, password=password, pkey=pkey,
            look_for_keys=False, allow_agent=False, timeout=10, banner_timeout=10,
            auth_timeout=10,
        )
    except Exception:
        client.close()  # paramiko keeps the transport open after a refused login
        raise
    return client


def can_log_in(server: SftpServer, username: str, *, password: str | None = None,
               pkey: paramiko.PKey | None = None) -> bool:
    """Logs in, opens an SFTP session and lists '/', then disconnects and waits until the
    server has finished with the connection."""
    try:
        client = connect(server, username, password=password, pkey=pkey)
    except paramiko.AuthenticationException:
        server.wait_idle()
        return False
    try:
        with client.open_sftp() as sftp:
            sftp.listdir("/")
    finally:
        client.close()
        server.wait_idle()
    return True


def password_of(credential: Credential, version: CredentialVersion | None = None) -> str:
    return version_secret(version or current_version(credential))


def key_of(credential: Credential, version: CredentialVersion | None = None) -> paramiko.PKey:
    return paramiko_private_key(version_secret(version or current_version(credential)))


def username_of(credential: Credential) -> str:
    return current_version(credential).username
