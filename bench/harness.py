"""What the benchmarks under bench/ share: a throwaway production-like configuration, processes
started in their own process groups and always stopped, gunicorn with the same flags for the
anchor and for Keyturn, wrk and its output, Debian packages the benches need, and spreads.

A bench imports it as `harness` (Python puts the script's folder, bench/, first on sys.path).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
HOST = "127.0.0.1"
PYTHON = sys.executable
# The one web server setting of every HTTP measurement, anchor and Keyturn alike: gunicorn,
# sync workers, no access log, no control socket (its default path is shared by every
# gunicorn on the machine).
GUNICORN_WORKERS = 2
# Variables of the caller's shell that would change what is measured.
_FOREIGN = ("KEYTURN_", "DJANGO_", "DATABASE_URL", "SECRET_KEY", "DEBUG", "SITE_URL",
            "ALLOWED_HOSTS", "EMAIL_URL", "REDIS_URL", "Q_", "LOG_LEVEL", "CSRF_", "PORT",
            "WEB_CONCURRENCY", "GUNICORN_")


class BenchTimeout(Exception):
    pass


def time_limit(seconds: int, what: str) -> None:
    """Every bench ends in bounded time: past `seconds` it raises, and the `finally` blocks
    (Processes.stop_all) still stop whatever it started."""

    def out_of_time(signum: int, frame: object) -> None:
        raise BenchTimeout(f"{what} ran over its {seconds} s limit")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(seconds)
    stop_on_sigterm()


def stop_on_sigterm() -> None:
    """SIGTERM (from a parent bench's cleanup) unwinds like an exception, so that this
    process's own `finally` blocks stop its children too."""

    def unwind(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)


def _die_with_parent() -> None:
    """In a child before it runs: Linux kills it if the bench dies without cleaning up."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def product_env(data_dir: str | Path, *, database_url: str | None = None,
                **extra: str) -> dict[str, str]:
    """The environment of a production-like Keyturn (not KEYTURN_LOCAL): fresh keys, DEBUG
    off, every address named, plain HTTP on loopback, emails built but not delivered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings", KEYTURN_ENV_FILE="", KEYTURN_LOCAL="false",
        DEBUG="false", KEYTURN_DATA_DIR=str(data_dir),
        DATABASE_URL=database_url or f"sqlite:///{data_dir}/bench.sqlite3",
        SECRET_KEY=secrets.token_urlsafe(50),
        KEYTURN_ENCRYPTION_KEYS="k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        KEYTURN_HMAC_KEY=secrets.token_urlsafe(40),
        SITE_URL=f"http://{HOST}", ALLOWED_HOSTS=f"{HOST},testserver",
        EMAIL_URL="dummymail://", KEYTURN_HTTPS="false", LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def anchor_env(env: dict[str, str]) -> dict[str, str]:
    """The anchor's environment: the product's, with the bare project's settings."""
    return {**env, "DJANGO_SETTINGS_MODULE": "bench.anchor.settings"}


def django_setup(env: dict[str, str]) -> None:
    """This process becomes a Keyturn process configured by `env` (once per process)."""
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()


class Processes:
    """Children started in process groups of their own; stop_all() ends every group (workers
    included): SIGTERM, then SIGKILL for whatever is alive `grace` seconds later. A bench
    whose children start servers of their own gives them more grace than they give theirs."""

    def __init__(self, grace: float = 5.0) -> None:
        self.grace = grace
        self.children: list[tuple[str, subprocess.Popen]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(self, name: str, cmd: Sequence[str], env: dict[str, str],
              **popen: object) -> subprocess.Popen:
        popen.setdefault("cwd", ROOT)
        child = subprocess.Popen(list(cmd), env=env, process_group=0,  # type: ignore[call-overload]
                                 preexec_fn=_die_with_parent, **popen)
        self.children.append((name, child))
        return child

    def stop(self, child: subprocess.Popen) -> None:
        _signal_group(child.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=self.grace)
        # The group outlives its leader when a worker ignores SIGTERM: kill what is left.
        _signal_group(child.pid, signal.SIGKILL)
        child.wait()
        self.children = [(n, c) for n, c in self.children if c is not child]

    def stop_all(self) -> None:
        for _, child in self.children:
            _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for _, child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
        for _, child in self.children:
            _signal_group(child.pid, signal.SIGKILL)
            child.wait()
        self.children = []


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(ready: Callable[[], bool], child: subprocess.Popen, what: str,
               timeout: float = 60.0) -> None:
    """Polls `ready()` until it is true; fails if `child` exits or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{what} exited with {child.returncode} before it was ready")
        try:
            if ready():
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready within {timeout:.0f} s")


def http_request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
                 body: bytes = b"") -> tuple[int, bytes]:
    import http.client

    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def gunicorn_command(app: str, port: int) -> list[str]:
    return [PYTHON, "-m", "gunicorn", app, "--bind", f"{HOST}:{port}",
            "--workers", str(GUNICORN_WORKERS), "--worker-class", "sync",
            "--no-control-socket", "--log-level", "warning"]


def start_gunicorn(processes: Processes, name: str, app: str, env: dict[str, str],
                   ready_path: str) -> int:
    """gunicorn serving `app` on a free loopback port, once `ready_path` answers 200."""
    port = free_port()
    child = processes.start(name, gunicorn_command(app, port), env)
    wait_until(lambda: http_request(port, "GET", ready_path)[0] == 200, child, name)
    return port


# --- Debian packages -----------------------------------------------------------------------


def debian_package(path: str, package: str) -> None:
    """Installs Debian's `package` when `path` is missing, without starting any service it
    ships (a policy-rc.d answering 101 during the install, Debian's documented way)."""
    if Path(path).exists():
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    policy = Path("/usr/sbin/policy-rc.d")
    placed = not policy.exists()
    print(f"installing Debian's {package} (for {path}) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if placed:
            subprocess.run([*sudo, "sh", "-c", f"printf '#!/bin/sh\\nexit 101\\n' > {policy}"
                            f" && chmod 755 {policy}"], check=True)
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", package], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    finally:
        if placed:
            subprocess.run([*sudo, "rm", "-f", str(policy)], check=False)
    if not Path(path).exists():
        raise SystemExit(f"{package} is installed but {path} is still missing")


# --- wrk -----------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    requests: int
    p50: float  # milliseconds
    p90: float
    p99: float
    errors: int  # socket errors and answers other than 2xx/3xx


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    percentiles = {int(p): _ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.M)}
    requests = re.search(r"^\s*(\d+) requests in", output, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if not (requests and rps and {50, 90, 99} <= percentiles.keys()):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(rps=float(rps.group(1)), requests=int(requests.group(1)),
                     p50=percentiles[50], p90=percentiles[90], p99=percentiles[99],
                     errors=errors + (int(non_2xx.group(1)) if non_2xx else 0))


def wrk_script(directory: Path, name: str, *, method: str = "GET",
               headers: dict[str, str] | None = None, body: str = "") -> Path:
    """A Lua script for wrk that sets the method, headers and body once (no per-request Lua,
    so the client costs the same for every target). It may hold a throwaway secret: 0600."""
    lines = [f'wrk.method = "{method}"', f"wrk.body = {_lua_string(body)}"]
    lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}"
              for k, v in (headers or {}).items()]
    path = directory / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk(port: int, path: str, script: Path, *, seconds: int, threads: int = 2,
        connections: int = 8) -> WrkResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
           "-s", str(script), f"http://{HOST}:{port}{path}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30,
                          check=True)
    return parse_wrk(done.stdout)


# --- numbers -------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def ratio_text(values: Sequence[float], digits: int = 2) -> str:
    """`0.32× (0.28–0.37)`: the median of the per-round ratios and their range."""
    median, low, high = spread(values)
    if len(values) == 1:
        return f"{median:.{digits}f}×"
    return f"{median:.{digits}f}× ({low:.{digits}f}–{high:.{digits}f})"


def machine_line() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs, load average {load} at the start; Python "
            f"{sys.version.split()[0]}")
