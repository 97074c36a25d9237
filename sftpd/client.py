"""Connection tests of outbound SFTP connections: connect with paramiko as Keyturn would,
check the partner server's host key against the pinned fingerprint, log in with the
credential and list the remote folder, and name exactly what failed.

Credentials are only ever sent to a server whose host key is pinned (or that the
administrator has just confirmed): an unknown key stops the test before authentication.
"""

from __future__ import annotations

import io
import logging
import socket
import time
from dataclasses import dataclass, field

import paramiko
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from credentials import crypto
from credentials.models import Connection, ConnectionKind, CredentialVersion
from credentials.services import current_version, version_secret
from credentials.usage import UseChannel, version_use_record
from organizations.access import Actor, require_perm

from .services import PinError, connection_pin_host_key

logger = logging.getLogger(__name__)

PARAMIKO_KEY_CLASSES: dict[str, type[paramiko.PKey]] = {
    "ED25519": paramiko.Ed25519Key,
    "ECDSA": paramiko.ECDSAKey,
    "RSA": paramiko.RSAKey,
}
MAX_LISTED = 20


def paramiko_private_key(text: str) -> paramiko.PKey:
    """Any private key material validation accepts (OpenSSH or PEM, PKCS#8 included) as a
    paramiko key."""
    key_type, openssh = crypto.ssh_private_key_openssh(text)
    return PARAMIKO_KEY_CLASSES[key_type].from_private_key(io.StringIO(openssh))


def server_key_fingerprint(key: paramiko.PKey) -> str:
    return crypto.ssh_fingerprint(f"{key.get_name()} {key.get_base64()}")


class Outcome:
    OK = "ok"
    NOT_TESTABLE = "not_testable"  # not an outbound SFTP connection with a host and credential
    DNS = "dns_failure"
    REFUSED = "connection_refused"
    TIMEOUT = "timeout"
    NETWORK = "network_error"
    NOT_SSH = "ssh_error"
    HOST_KEY_UNKNOWN = "host_key_unknown"
    HOST_KEY_CHANGED = "host_key_changed"
    AUTH_FAILED = "authentication_failed"
    LIST_FAILED = "listing_failed"


@dataclass(frozen=True)
class ConnectionTestResult:
    """What one test found. `message` is safe to show and to store: it never holds a secret."""

    outcome: str
    message: str
    host_fingerprint: str = ""
    expected_fingerprint: str = ""
    pinned_now: bool = False
    entries: list[str] = field(default_factory=list)
    entry_count: int = 0
    version_number: int | None = None
    elapsed_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.OK

    @property
    def needs_host_key_confirmation(self) -> bool:
        return self.outcome == Outcome.HOST_KEY_UNKNOWN


class _Stop(Exception):
    """Ends a test early with its outcome."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


def connection_test(
    *,
    connection: Connection,
    version: CredentialVersion | None = None,
    actor: Actor,
    source_ip: str | None = None,
    trust_new_host_key: bool = False,
    confirmed_fingerprint: str | None = None,
) -> ConnectionTestResult:
    """Tests an outbound SFTP connection with the credential's current version, or with
    `version` (rotations test new material before switching to it).

    With no pinned host key the test stops at "unknown host key <fingerprint>"; called again
    with `trust_new_host_key=True` it pins the key it sees (only if it is still
    `confirmed_fingerprint`, when given: the key the administrator was shown) and goes on.
    Every test is audited as "connection.test"; network work happens outside any transaction.
    """
    credential = connection.credential
    if credential is not None:
        require_perm(actor, credential.organization, credential.manage_perm)
    started = time.monotonic()
    pinned_before = connection.host_key_fingerprint
    state: dict[str, object] = {"fingerprint": "", "pin": False, "entries": [], "count": 0}
    if version is None and credential is not None:
        version = current_version(credential)
    trust = _Trust(trust_new_host_key, confirmed_fingerprint, actor, source_ip)
    try:
        _run(connection, version, state, trust)
        outcome, message = Outcome.OK, _success_message(connection, int(state["count"]))
    except _Stop as stop:
        outcome, message = stop.outcome, stop.message
    result = ConnectionTestResult(
        outcome=outcome, message=message, host_fingerprint=str(state["fingerprint"]),
        expected_fingerprint=pinned_before,
        pinned_now=bool(state["pin"]), entries=list(state["entries"]),  # type: ignore[arg-type]
        entry_count=int(state["count"]),  # type: ignore[arg-type]
        version_number=version.number if version else None,
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )
    _record(connection, result, actor, source_ip)
    if result.ok and version is not None:
        version_use_record(version=version, channel=UseChannel.CONNECTION_TEST,
                           address=f"{connection.hostname}:{connection.port or 22}",
                           now=timezone.now())
    return result


def _success_message(connection: Connection, count: int) -> str:
    noun = "entry" if count == 1 else "entries"
    return (f"Connected to {connection.hostname}:{connection.port or 22}, logged in and "
            f"listed {connection.remote_path or '/'} ({count} {noun}).")


@dataclass(frozen=True)
class _Trust:
    """Whether (and who) may pin an unknown host key during this test."""

    new_host_key: bool
    confirmed_fingerprint: str | None
    actor: Actor
    source_ip: str | None


def _run(
    connection: Connection, version: CredentialVersion | None, state: dict[str, object],
    trust: _Trust,
) -> None:
    if connection.kind != ConnectionKind.OUTBOUND_SFTP or not connection.hostname:
        raise _Stop(Outcome.NOT_TESTABLE, "Only outbound SFTP connections with a host name "
                    "can be tested.")
    if connection.credential is None or version is None:
        raise _Stop(Outcome.NOT_TESTABLE, "This connection has no credential version to log "
                    "in with.")
    host, port = connection.hostname, connection.port or 22
    timeout = settings.KEYTURN_CONNECTION_TEST_TIMEOUT
    sock = _connect(host, port, timeout)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = timeout
    try:
        silent = _Stop(Outcome.TIMEOUT, f"{host}:{port} accepted the connection but did not "
                       f"answer as an SSH server within {timeout:g} s.")
        try:
            # start_client's own deadline returns quietly, so it is set past the banner and
            # handshake timeouts, which raise.
            transport.start_client(timeout=2 * timeout + 1)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # paramiko wraps a banner timeout in SSHException; the cause stays attached.
            if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
                raise silent from None
            raise _Stop(Outcome.NOT_SSH, f"The SSH handshake with {host}:{port} failed "
                        f"({type(exc).__name__}).") from None
        if not transport.is_active() or not transport.initial_kex_done:
            raise silent
        _check_host_key(connection, transport, state, trust)
        _authenticate(connection, version, transport, timeout)
        _list(connection, transport, state)
    finally:
        transport.close()
        sock.close()


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise _Stop(Outcome.DNS, f"DNS failure: the host name {host} could not be "
                    "resolved.") from None
    last: OSError | None = None
    for family, socktype, proto, _name, address in addresses:
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    if isinstance(last, ConnectionRefusedError):
        raise _Stop(Outcome.REFUSED, f"Connection refused: nothing accepts connections on "
                    f"{host}:{port}.")
    if isinstance(last, TimeoutError):
        raise _Stop(Outcome.TIMEOUT, f"Timeout: {host}:{port} did not answer within "
                    f"{timeout:g} s.")
    reason = last.strerror if last is not None and last.strerror else "no address"
    raise _Stop(Outcome.NETWORK, f"{host}:{port} could not be reached ({reason}).")


def _check_host_key(
    connection: Connection, transport: paramiko.Transport, state: dict[str, object],
    trust: _Trust,
) -> None:
    seen = server_key_fingerprint(transport.get_remote_server_key())
    state["fingerprint"] = seen
    pinned = connection.host_key_fingerprint
    if pinned:
        if seen != pinned:
            raise _Stop(Outcome.HOST_KEY_CHANGED, f"Host key changed: expected {pinned}, got "
                        f"{seen}. Do not trust this server until the partner confirms the "
                        "change.")
        return
    if not trust.new_host_key:
        raise _Stop(Outcome.HOST_KEY_UNKNOWN, f"Unknown host key {seen}. Confirm it with the "
                    "partner, then pin it.")
    if trust.confirmed_fingerprint and trust.confirmed_fingerprint != seen:
        raise _Stop(Outcome.HOST_KEY_CHANGED, f"Host key changed: you confirmed "
                    f"{trust.confirmed_fingerprint}, the server now presents {seen}. Nothing was "
                    "pinned.")
    try:
        connection_pin_host_key(
            connection=connection, fingerprint=seen, actor=trust.actor, source_ip=trust.source_ip
        )
    except PinError as exc:
        raise _Stop(Outcome.HOST_KEY_CHANGED, str(exc)) from None
    state["pin"] = True


def _authenticate(
    connection: Connection, version: CredentialVersion, transport: paramiko.Transport,
    timeout: float,
) -> None:
    username = version.username
    try:
        if connection.credential.kind_spec.sftp_login == "publickey":
            transport.auth_publickey(username, paramiko_private_key(version_secret(version)))
        else:
            transport.auth_password(username, version_secret(version), fallback=False)
    except paramiko.BadAuthenticationType as exc:
        allowed = ", ".join(exc.allowed_types) or "nothing"
        raise _Stop(Outcome.AUTH_FAILED, f"Authentication failed: the server does not accept "
                    f"this kind of login for {username} (it accepts {allowed}).") from None
    except paramiko.AuthenticationException:
        which = f"version {version.number}" if version.number else "the new version"
        raise _Stop(Outcome.AUTH_FAILED,
                    f"Authentication failed for {username} with {which}.") from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise _Stop(Outcome.NOT_SSH, f"The connection broke during authentication "
                    f"({type(exc).__name__}).") from None


def _list(connection: Connection, transport: paramiko.Transport, state: dict[str, object]) -> None:
    path = connection.remote_path or "/"
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
        if sftp is None:
            raise paramiko.SSHException("no sftp channel")
        with sftp:
            names = sorted(sftp.listdir(path))
    except FileNotFoundError:
        raise _Stop(Outcome.LIST_FAILED, f"Logged in, but the folder {path} does not "
                    "exist.") from None
    except PermissionError:
        raise _Stop(Outcome.LIST_FAILED, f"Logged in, but listing {path} was not "
                    "permitted.") from None
    except (OSError, paramiko.SSHException, EOFError) as exc:
        raise _Stop(Outcome.LIST_FAILED, f"Logged in, but listing {path} failed "
                    f"({type(exc).__name__}).") from None
    state["entries"] = names[:MAX_LISTED]
    state["count"] = len(names)


@transaction.atomic
def _record(
    connection: Connection, result: ConnectionTestResult, actor: Actor,
    source_ip: str | None,
) -> None:
    details: dict[str, object] = {
        "outcome": result.outcome, "message": result.message,
        "host": connection.hostname, "port": connection.port or 22,
        "version": result.version_number, "elapsed_ms": result.elapsed_ms,
    }
    if result.host_fingerprint:
        details["host_fingerprint"] = result.host_fingerprint
    if result.ok:
        details["entries"] = result.entry_count
    audit_record(
        action="connection.test", actor=actor,
        organization=connection.business_unit.organization, target=connection,
        source_ip=source_ip, details=details,
    )
