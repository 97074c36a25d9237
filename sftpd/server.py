"""The built-in SFTP endpoint: paramiko's Transport with a ServerInterface that asks
sftpd.services who may log in, and an SFTPServerInterface jailed in the unit's folder.

Threads: one accept thread; one thread per connection, which owns its paramiko Transport
(itself a thread that runs authentication) and the SFTP subsystem thread paramiko starts for
the session. Database work happens in those paramiko threads, each unit of work wrapped in
`SftpServer.database()`, which closes the thread's connections afterwards (as Django does
after a request), or, in tests, lends them the test's in-memory SQLite connection the way
Django's LiveServerThread does.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import posixpath
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import paramiko
from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from paramiko.sftp import SFTP_FAILURE, SFTP_OK, SFTP_OP_UNSUPPORTED, SFTP_PERMISSION_DENIED

from credentials.errors import log_failure

from . import services
from .client import paramiko_private_key
from .models import Direction, HostKey
from .services import LoginDecision, Refusal, Session

logger = logging.getLogger(__name__)

LOGIN_GRACE_SECONDS = 60  # an unauthenticated connection is dropped after this
SERVER_VERSION = "Keyturn"  # the SSH banner names no library version
# The channel window and largest packet a client may send, as OpenSSH's sshd offers them
# (64 packets of 32 KiB): an upload streams without waiting for window adjustments, and
# SFTP's 32 KiB writes fit one packet each (bench/sftp measures it against sftp-server).
WINDOW_SIZE = 64 * 32 * 1024
MAX_PACKET_SIZE = 32 * 1024


def normalise_address(address: str) -> str:
    """IPv4-mapped IPv6 addresses as plain IPv4, scope ids dropped: one address, one count."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class PartnerServer(paramiko.ServerInterface):
    """One connection's authentication and channel policy: password or public key, then a
    session channel with the sftp subsystem and nothing else (no shell, exec or forwarding)."""

    def __init__(self, endpoint: SftpServer, address: str) -> None:
        self.endpoint = endpoint
        self.address = address
        self.session: Session | None = None
        # paramiko asks about a public key before it verifies the signature, so an accepted
        # key counts as a login only once the client, authenticated, opens its channel.
        self._accepted_key: LoginDecision | None = None
        self._refused_key: LoginDecision | None = None
        self.subsystems: list[threading.Thread] = []

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str | bytes) -> int:
        delay = 0.0
        try:
            with self.endpoint.database():
                now = timezone.now()
                if services.recent_failures(self.address, now) >= services.REFUSE_AFTER:
                    decision = LoginDecision(username, "password", reason=Refusal.THROTTLED)
                else:
                    decision = services.login_decide_password(
                        username=username, password=password, now=now
                    )
                if decision.ok:
                    self._start_session(decision, now)
                    return paramiko.AUTH_SUCCESSFUL
                failures = services.login_record_failure(
                    decision=decision, address=self.address, now=now
                )
                delay = services.failure_delay(failures)
        except Exception as exc:  # the attempted password is in scope: log where, not the text
            log_failure(logger, f"SFTP password check failed for {username!r} from "
                                f"{self.address}", exc)
        logger.info("SFTP login refused: %r from %s", username, self.address)
        # Outside the database block: no connection is held while the answer waits.
        self.endpoint.sleep(delay)
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        try:
            with self.endpoint.database():
                now = timezone.now()
                if services.recent_failures(self.address, now) >= services.REFUSE_AFTER:
                    decision = LoginDecision(username, "publickey", reason=Refusal.THROTTLED)
                else:
                    decision = services.login_decide_key(
                        username=username, key_type=key.get_name(), key_base64=key.get_base64(),
                        now=now,
                    )
        except Exception as exc:
            log_failure(logger, f"SFTP key check failed for {username!r} from {self.address}", exc)
            return paramiko.AUTH_FAILED
        if decision.ok:
            self._accepted_key = decision
            return paramiko.AUTH_SUCCESSFUL
        # Clients offer several keys in turn; a refused key is counted only if the
        # connection ends without logging in (see connection_closed).
        self._refused_key = decision
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        # paramiko only gets here once the client is authenticated.
        if kind != "session":
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        if self.session is None and self._accepted_key is not None:
            try:
                with self.endpoint.database():
                    self._start_session(self._accepted_key, timezone.now())
            except Exception as exc:
                log_failure(logger, f"SFTP key login could not be recorded for {self.address}",
                            exc)
        if self.session is None:
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        return paramiko.OPEN_SUCCEEDED

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        if name != "sftp" or self.session is None:
            return False
        handler = paramiko.SFTPServer(channel, name, self, JailedFolder)
        self.subsystems.append(handler)
        handler.start()
        return True

    def _start_session(self, decision: LoginDecision, now: Any) -> None:
        services.login_record_success(decision=decision, address=self.address, now=now)
        version = decision.version
        assert version is not None
        unit = version.credential.business_unit
        folder = services.unit_folder(unit)
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
        self.session = Session(
            username=decision.username, address=self.address, business_unit_id=unit.pk,
            credential_id=version.credential_id, version_id=version.pk, folder=folder,
        )
        logger.info("SFTP login: %r (%s v%s) from %s", decision.username,
                    version.credential_id, version.number, self.address)

    def connection_closed(self) -> None:
        """Counts a connection that offered keys but never logged in as one failed login."""
        if self.session is not None:
            return
        decision = self._refused_key
        if decision is None and self._accepted_key is not None:
            decision = LoginDecision(
                self._accepted_key.username, "publickey", reason="key_not_proven",
                business_unit=self._accepted_key.business_unit,
                credential=self._accepted_key.credential,
            )
        if decision is None:
            return
        try:
            with self.endpoint.database():
                services.login_record_failure(
                    decision=decision, address=self.address, now=timezone.now()
                )
        except Exception as exc:
            log_failure(logger, "SFTP failed key login could not be recorded", exc)


def virtual_path(path: str) -> str:
    """The client's path in normal form from the jail's '/': '..' never climbs above it."""
    return posixpath.normpath("/" + path.lstrip("/"))


def _sftp_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: JailedFolder, *args: Any) -> Any:
        try:
            return method(self, *args)
        except PermissionError:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        except ValueError:  # a NUL in a path
            return SFTP_FAILURE

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class JailedFolder(paramiko.SFTPServerInterface):
    """The unit's folder as the partner's '/'. Paths are normalised, resolved and refused if
    they leave the folder (through '..' or a symlink); files open with O_NOFOLLOW; partners
    cannot create symlinks or change permissions."""

    def __init__(self, server: PartnerServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        assert server.session is not None
        self.partner = server
        self.session = server.session
        self.root = os.path.realpath(self.session.folder)
        self.ended = False

    def session_ended(self) -> None:
        # paramiko calls this before it closes the handles the client left open: those
        # transfers were cut off.
        self.ended = True

    def local(self, path: str) -> str:
        if "\x00" in path:
            raise ValueError("NUL in path")
        local = os.path.join(self.root, virtual_path(path).lstrip("/"))
        real = os.path.realpath(local)
        if real != self.root and not real.startswith(self.root + os.sep):
            raise PermissionError(errno.EACCES, "outside the folder")
        return local

    def canonicalize(self, path: str) -> str:
        return virtual_path(path)

    @_sftp_errors
    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        entries = []
        with os.scandir(self.local(path)) as listing:
            for entry in listing:
                if entry.is_symlink():
                    continue
                entries.append(paramiko.SFTPAttributes.from_stat(
                    entry.stat(follow_symlinks=False), entry.name
                ))
        return entries

    @_sftp_errors
    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        return paramiko.SFTPAttributes.from_stat(os.stat(self.local(path)))

    lstat = stat

    @_sftp_errors
    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> Any:
        local = self.local(path)
        fd = os.open(local, flags | os.O_NOFOLLOW, 0o640)
        if flags & os.O_WRONLY:
            mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            mode = "rb"
        handle = TransferHandle(flags, folder=self, path=virtual_path(path))
        fileobj = os.fdopen(fd, mode)
        if flags & (os.O_WRONLY | os.O_RDWR):
            handle.writefile = fileobj
        if not flags & os.O_WRONLY:
            handle.readfile = fileobj
        return handle

    @_sftp_errors
    def remove(self, path: str) -> int:
        if virtual_path(path) == "/":
            return SFTP_PERMISSION_DENIED
        os.remove(self.local(path))
        return SFTP_OK

    @_sftp_errors
    def rename(self, oldpath: str, newpath: str) -> int:
        if "/" in (virtual_path(oldpath), virtual_path(newpath)):
            return SFTP_PERMISSION_DENIED
        target = self.local(newpath)
        if os.path.lexists(target):  # SFTP v3: rename never overwrites
            return SFTP_FAILURE
        os.rename(self.local(oldpath), target)
        return SFTP_OK

    @_sftp_errors
    def posix_rename(self, oldpath: str, newpath: str) -> int:
        if "/" in (virtual_path(oldpath), virtual_path(newpath)):
            return SFTP_PERMISSION_DENIED
        os.replace(self.local(oldpath), self.local(newpath))
        return SFTP_OK

    @_sftp_errors
    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        os.mkdir(self.local(path), 0o750)
        return SFTP_OK

    @_sftp_errors
    def rmdir(self, path: str) -> int:
        if virtual_path(path) == "/":
            return SFTP_PERMISSION_DENIED
        os.rmdir(self.local(path))
        return SFTP_OK

    @_sftp_errors
    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        # Clients set times after an upload; permissions and owners stay ours.
        local = self.local(path)
        if getattr(attr, "st_atime", None) is not None and attr.st_mtime is not None:
            os.utime(local, (attr.st_atime, attr.st_mtime), follow_symlinks=False)
        return SFTP_OK

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_OP_UNSUPPORTED

    def readlink(self, path: str) -> int:
        return SFTP_OP_UNSUPPORTED


class TransferHandle(paramiko.SFTPHandle):
    """An open file that records its transfer in the log when it closes."""

    def __init__(self, flags: int, *, folder: JailedFolder, path: str) -> None:
        super().__init__(flags)
        self.folder = folder
        self.path = path
        self.writable = bool(flags & (os.O_WRONLY | os.O_RDWR))
        self.bytes_read = 0
        self.closed = False

    def read(self, offset: int, length: int) -> bytes | int:
        data = super().read(offset, length)
        if isinstance(data, bytes):
            self.bytes_read += len(data)
        return data

    def stat(self) -> paramiko.SFTPAttributes | int:
        fileobj = getattr(self, "writefile", None) or getattr(self, "readfile", None)
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(fileobj.fileno()))
        except (OSError, AttributeError, ValueError):
            return SFTP_FAILURE

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        fileobj = getattr(self, "writefile", None) or getattr(self, "readfile", None)
        size = os.fstat(fileobj.fileno()).st_size if fileobj is not None else 0
        super().close()
        if self.writable:
            direction, size = Direction.UPLOAD, size
        elif self.bytes_read:
            direction, size = Direction.DOWNLOAD, self.bytes_read
        else:
            return
        endpoint = self.folder.partner.endpoint
        try:
            with endpoint.database():
                services.transfer_record(
                    session=self.folder.session, file_name=self.path, size=size,
                    direction=direction, completed=not self.folder.ended,
                )
        except Exception as exc:
            log_failure(logger, f"SFTP transfer of {self.path!r} could not be logged", exc)


class SftpServer:
    """The endpoint, startable in-process: `start()` binds (port 0 picks a free port, see
    `.port`) and serves in background threads; `stop()` closes everything and waits.

    `sleep` holds back answers to failing addresses (tests pass a recorder instead of
    sleeping); `connections_override` lends database connections to the server's threads
    (tests with in-memory SQLite, as in Django's LiveServerThread)."""

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        connections_override: dict[str, BaseDatabaseWrapper] | None = None,
        max_connections: int = 200,
        max_connections_per_address: int = 20,
    ) -> None:
        self.host = host or settings.KEYTURN_SFTP_HOST
        self.port = settings.KEYTURN_SFTP_PORT if port is None else port
        self.sleep = sleep
        self.connections_override = connections_override or {}
        self.max_connections = max_connections
        self.max_connections_per_address = max_connections_per_address
        self.host_key_row: HostKey | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._workers: dict[threading.Thread, tuple[str, paramiko.Transport | None]] = {}
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None

    @contextmanager
    def database(self) -> Iterator[None]:
        for alias, conn in self.connections_override.items():
            connections[alias] = conn
        try:
            yield
        finally:
            if not self.connections_override:
                connections.close_all()

    @property
    def fingerprint(self) -> str:
        return self.host_key_row.fingerprint if self.host_key_row else ""

    def start(self) -> None:
        for conn in self.connections_override.values():
            conn.inc_thread_sharing()
        with self.database():
            self.host_key_row = services.host_key_get_or_create()
            private_key = services.host_key_private(self.host_key_row)
        self.host_key = paramiko_private_key(private_key)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._listener = socket.create_server((self.host, self.port), family=family, backlog=64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="sftp-accept", daemon=True
        )
        self._accept_thread.start()
        logger.info("SFTP endpoint listening on %s:%s, host key %s",
                    self.host, self.port, self.fingerprint)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            workers = dict(self._workers)
        for _address, transport in workers.values():
            if transport is not None:
                transport.close()
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for conn in self.connections_override.values():
            conn.dec_thread_sharing()
        self.connections_override = {}

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Waits until every connection has finished, its logging included (for tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._workers:
                    return True
                worker = next(iter(self._workers))
            worker.join(max(0.0, deadline - time.monotonic()))
        return False

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    break
                logger.exception("SFTP accept failed")
                time.sleep(0.1)
                continue
            address = normalise_address(addr[0])
            with self._lock:
                per_address = Counter(a for a, _t in self._workers.values())[address]
                if (len(self._workers) >= self.max_connections
                        or per_address >= self.max_connections_per_address):
                    logger.warning("SFTP connection from %s refused: too many", address)
                    sock.close()
                    continue
                worker = threading.Thread(
                    target=self._serve, args=(sock, address), name=f"sftp-{address}",
                    daemon=True,
                )
                self._workers[worker] = (address, None)
                worker.start()  # under the lock: nobody joins a registered, unstarted thread

    def _serve(self, sock: socket.socket, address: str) -> None:
        partner = PartnerServer(self, address)
        transport = None
        try:
            sock.settimeout(None)
            # A 32 KiB read reply spans two SSH packets; with Nagle the short second one waits
            # for the client's delayed ACK (40 ms a request: under 1 MiB/s without prefetch).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = paramiko.Transport(sock, default_window_size=WINDOW_SIZE,
                                           default_max_packet_size=MAX_PACKET_SIZE)
            transport.local_version = f"SSH-2.0-{SERVER_VERSION}"
            transport.add_server_key(self.host_key)
            with self._lock:
                self._workers[threading.current_thread()] = (address, transport)
            if self._stopping.is_set():
                return
            transport.start_server(server=partner)
            started = time.monotonic()
            while transport.is_active() and not self._stopping.is_set():
                if (not transport.is_authenticated()
                        and time.monotonic() - started > LOGIN_GRACE_SECONDS):
                    logger.info("SFTP connection from %s: no login in time", address)
                    break
                transport.join(0.2)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            logger.info("SFTP connection from %s ended: %s", address, type(exc).__name__)
        except Exception as exc:
            log_failure(logger, f"SFTP connection from {address} failed", exc)
        finally:
            if transport is not None:
                transport.close()
            else:
                sock.close()
            for subsystem in partner.subsystems:
                subsystem.join(5)
            partner.connection_closed()
            with self._lock:
                self._workers.pop(threading.current_thread(), None)
