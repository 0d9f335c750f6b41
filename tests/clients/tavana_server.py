"""Starts and stops real `tavana serve` processes for the PostgreSQL client tests.

Loaded as a pytest plugin by the test modules (``pytest_plugins = ["tavana_server"]``), so
its fixtures are shared across modules and a failing test shows what the server logged
while it ran ("tavana stderr" section of the failure report).

Everything listens on 127.0.0.1 with ``--pg-port 0`` (a free port chosen by the kernel);
the port is read from the ``postgres listening`` log line.

The test modules import this file before pytest loads it as a plugin, so it is not
assertion-rewritten: PYTEST_DONT_REWRITE.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time
from typing import Iterator

import pytest

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_LISTENING = re.compile(r"postgres listening.*?\bport=(\d+)|\bport=(\d+).*?postgres listening")

# Settings that a developer's shell may carry and that would change what a test expects.
_KEEP_ENV = {"TAVANA_BIN", "TAVANA_DUCKDB_HOME"}


class ServerStartError(RuntimeError):
    pass


class TavanaServer:
    """One `tavana serve` process. Use as a context manager or call start()/stop()."""

    def __init__(self, binary: str, args: tuple[str, ...] | list[str] = (), env: dict[str, str] | None = None,
                 config: dict | None = None, workers: int | None = 2, name: str = "tavana",
                 default_extensions: bool = False):
        self.binary = binary
        self.extra_args = list(args)
        self.extra_env = dict(env or {})
        # The wire tests need no DuckDB extension; loading none keeps start-up fast and
        # independent of what the extension cache holds (default_extensions=True tests that).
        self.config = dict(config or {})
        if not default_extensions:
            self.config.setdefault("extensions", [])
        self.workers = workers
        self.name = name
        self.host = HOST
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="tavana-test-")
        self.log_path = os.path.join(self._dir.name, "stderr.log")
        self._log_file = None

    # -- lifecycle -----------------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [self.binary, "serve", "--host", self.host, "--pg-port", "0",
               "--flight-port", "0", "--http-port", "0", "--database", ":memory:"]
        if self.workers is not None and "--workers" not in self.extra_args:
            cmd += ["--workers", str(self.workers)]
        if self.config:
            path = os.path.join(self._dir.name, "config.json")
            with open(path, "w") as f:
                json.dump(self.config, f)
            cmd += ["--config", path]
        return cmd + self.extra_args

    def start(self) -> "TavanaServer":
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAVANA_") or k in _KEEP_ENV}
        env.update(self.extra_env)
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=self._log_file, env=env, cwd=self._dir.name)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log()
            for line in text.splitlines():
                if "postgres listening" in line:
                    m = _LISTENING.search(line)
                    if m:
                        self.port = int(m.group(1) or m.group(2))
                        return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        rc = self.proc.poll()
        self.stop()
        raise ServerStartError(
            f"{self.name}: no 'postgres listening' line within {START_TIMEOUT:.0f}s "
            f"(exit code {rc}); command: {' '.join(self.command())}\n--- stderr ---\n{self.log()}")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT. Returns the exit code."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    rc = self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    rc = self.proc.wait(STOP_TIMEOUT)
            else:
                rc = self.proc.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return rc

    def cleanup(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> "TavanaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # -- inspection ----------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, since: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def rss_kb(self) -> int:
        """VmRSS of the server process, in kB."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    # -- connecting ----------------------------------------------------------------------

    def conninfo(self, user: str = "tester", dbname: str = "tavana", **kw) -> str:
        parts = {"host": self.host, "port": str(self.port), "user": user, "dbname": dbname,
                 "connect_timeout": "10", "sslmode": "disable"}
        parts.update({k: str(v) for k, v in kw.items()})
        return " ".join(f"{k}='{v}'" for k, v in parts.items())

    def url(self, driver: str = "postgresql+psycopg", user: str = "tester", dbname: str = "tavana") -> str:
        return f"{driver}://{user}@{self.host}:{self.port}/{dbname}?sslmode=disable&connect_timeout=10"

    def connect(self, **kw):
        import psycopg
        kw.setdefault("autocommit", True)
        conninfo_kw = {k: kw.pop(k) for k in list(kw) if k in ("user", "dbname", "password", "sslmode", "options",
                                                                 "application_name", "sslrootcert")}
        return psycopg.connect(self.conninfo(**conninfo_kw), **kw)

    def socket(self, timeout: float = 10.0) -> socket.socket:
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        s.settimeout(timeout)
        return s

    def __repr__(self) -> str:
        return f"<TavanaServer {self.name} port={self.port} pid={self.proc.pid if self.proc else None}>"


@contextlib.contextmanager
def running_server(binary: str, *args: str, env: dict[str, str] | None = None, config: dict | None = None,
                   workers: int | None = 2, name: str = "tavana",
                   default_extensions: bool = False) -> Iterator[TavanaServer]:
    server = TavanaServer(binary, args, env=env, config=config, workers=workers, name=name,
                          default_extensions=default_extensions)
    try:
        server.start()
    except ServerStartError as e:
        server.cleanup()
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        server.cleanup()


def serve_help(binary: str) -> str:
    r = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def md5_secret(user: str, password: str) -> str:
    """PostgreSQL's stored md5 form: 'md5' + md5(password || user)."""
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# Raw protocol helpers (for the tests that speak the wire protocol themselves)
# ---------------------------------------------------------------------------------------

def startup_packet(user: str = "tester", database: str = "tavana", version: int = 196608, **params: str) -> bytes:
    body = struct.pack("!i", version)
    for k, v in {"user": user, "database": database, **params}.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    """One backend message: (type byte, body). Raises ConnectionError on EOF."""
    head = recv_exact(sock, 5)
    kind, length = head[:1], struct.unpack("!i", head[1:])[0]
    if length < 4 or length > (1 << 30):
        raise ValueError(f"bad backend message length {length} for type {kind!r}")
    return kind, recv_exact(sock, length - 4)


def error_fields(body: bytes) -> dict[str, str]:
    """Fields of an ErrorResponse/NoticeResponse body, keyed by their one-letter code."""
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


def read_until(sock: socket.socket, kinds: bytes = b"Z", limit: int = 100_000) -> list[tuple[bytes, bytes]]:
    """Messages up to and including the first whose type is in `kinds` (bounded)."""
    out = []
    for _ in range(limit):
        kind, body = read_message(sock)
        out.append((kind, body))
        if kind in kinds:
            return out
    raise AssertionError(f"no message of type {kinds!r} within {limit} messages")


def raw_connect(server: TavanaServer, user: str = "tester", timeout: float = 10.0) -> socket.socket:
    """A socket past startup (trust auth): ReadyForQuery has been read."""
    s = server.socket(timeout)
    s.sendall(startup_packet(user))
    msgs = read_until(s, b"ZE")
    if msgs[-1][0] != b"Z":
        raise AssertionError(f"startup failed: {error_fields(msgs[-1][1])}")
    return s


def backend_key(msgs: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    for kind, body in msgs:
        if kind == b"K":
            return struct.unpack("!ii", body[:8])
    raise AssertionError("no BackendKeyData")


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------

class ExternalServer(TavanaServer):
    """A server this helper did not start, e.g. a real PostgreSQL used as an oracle to check
    that the tests' expectations are PostgreSQL's (PG_ORACLE_PORT=5432 pytest ...)."""

    def __init__(self, host: str, port: int, name: str = "oracle"):
        super().__init__("", name=name)
        self.host, self.port = host, port

    def start(self):
        return self

    def alive(self) -> bool:
        return True


@pytest.fixture(scope="session")
def pg_server(request) -> Iterator[TavanaServer]:
    """The server most tests share: trust auth, 2 workers, in-memory database, no
    extensions. With PG_ORACLE_PORT set, a PostgreSQL on 127.0.0.1 at that port instead."""
    oracle = oracle_server()
    if oracle:
        yield oracle
        return
    binary = request.getfixturevalue("tavana_bin")
    with running_server(binary, name="shared") as server:
        yield server


def oracle_server() -> ExternalServer | None:
    """The PostgreSQL named by PG_ORACLE_PORT, if any: dedicated-server fixtures can use it
    to check their expectations (tests of Tavana-only settings then fail there, as they should)."""
    port = os.environ.get("PG_ORACLE_PORT")
    return ExternalServer(HOST, int(port)) if port else None


def is_oracle(server: TavanaServer) -> bool:
    return isinstance(server, ExternalServer)


# ---------------------------------------------------------------------------------------
# Reporting: attach what the servers logged during a failing test
# ---------------------------------------------------------------------------------------

_OFFSETS = pytest.StashKey[dict]()


def _servers_of(item) -> list[TavanaServer]:
    found = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, TavanaServer) and value not in found:
            found.append(value)
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    item.stash[_OFFSETS] = {id(s): s.log_size() for s in _servers_of(item)}
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        offsets = item.stash.get(_OFFSETS, {})
        for server in _servers_of(item):
            text = server.log(offsets.get(id(server), 0))
            lines = text.splitlines()
            if len(lines) > 80:
                lines = ["[... earlier lines cut ...]"] + lines[-80:]
            state = "running" if server.alive() else f"EXITED rc={server.proc.returncode if server.proc else None}"
            report.sections.append((f"tavana stderr ({server.name}, port {server.port}, {state})", "\n".join(lines)))
    return report
