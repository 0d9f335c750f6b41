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


# TAVANA_TEST_MODE=cluster runs every server a test starts as cluster mode instead: a
# `tavana gateway` in front of two `tavana worker` processes, all on loopback (one fixture,
# two modes). Tests that cannot apply there are marked `serve_only` with their reason.
MODE = os.environ.get("TAVANA_TEST_MODE", "serve")
CLUSTER = MODE == "cluster"
CLUSTER_WORKERS = 2
# The catalog sessions start in: DuckDB's in-memory database, or cluster mode's shared one.
DEFAULT_CATALOG = "lake" if CLUSTER else "memory"

# Flags of DuckDB (they go to the workers in cluster mode); the rest go to the gateway.
_ENGINE_FLAGS = {"--threads", "--database", "--memory-limit", "--max-statement-bytes", "--sandbox", "--no-sandbox",
                 "--allowed-directories"}
_WORKER_LISTENING = re.compile(r"worker listening.*?\bport=(\d+)|\bport=(\d+).*?worker listening")


_catalog_pg = None
_catalog_count = 0


def shared_catalog(directory: str) -> dict[str, str]:
    """Environment for a test cluster's workers: a new DuckLake catalog, its metadata in a
    database of its own on the test run's PostgreSQL (started on first use), its data in
    `directory`."""
    global _catalog_pg, _catalog_count
    if _catalog_pg is None:
        import atexit
        from catalog_postgres import CatalogPostgres
        _catalog_pg = CatalogPostgres().start()
        atexit.register(_catalog_pg.stop)
    _catalog_count += 1
    metadata = _catalog_pg.create_database(f"lake{os.getpid()}_{_catalog_count}")
    data = os.path.join(directory, "lake")
    os.makedirs(data, exist_ok=True)
    return {"TAVANA_DUCKLAKE_METADATA": metadata, "TAVANA_DUCKLAKE_DATA_PATH": data + "/"}


def serve_only(reason: str):
    """Marks a test that only applies to `tavana serve`, with why."""
    return pytest.mark.skipif(CLUSTER, reason=f"serve only: {reason}")


class LoggedProcess:
    """A process whose stdout and stderr go to `log_path`."""

    log_path: str

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


class WorkerProcess(LoggedProcess):
    """One `tavana worker` of a test cluster."""

    def __init__(self, binary: str, args: list[str], env: dict[str, str], directory: str, index: int, port: int = 0):
        self.log_path = os.path.join(directory, f"worker{index}.log")
        self.name = f"worker{index}"
        # What another worker like this one needs (a test may add one to a running cluster).
        self.args, self.env, self.directory = list(args), dict(env), directory
        cmd = [binary, "worker", "--host", HOST, "--port", str(port), "--http-port", "0"] + args
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=env,
                                     cwd=directory)
        self.port: int | None = None

    def wait_listening(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            m = _WORKER_LISTENING.search(self.log())
            if m:
                self.port = int(m.group(1) or m.group(2))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise ServerStartError(f"{self.name}: no 'worker listening' line (exit code {self.proc.poll()})\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self._log.close()
        return self.proc.returncode


class TavanaServer(LoggedProcess):
    """One `tavana serve` process. Use as a context manager or call start()/stop()."""

    def __init__(self, binary: str, args: tuple[str, ...] | list[str] = (), env: dict[str, str] | None = None,
                 config: dict | None = None, workers: int | None = 2, name: str = "tavana",
                 default_extensions: bool = False, cluster: bool | None = None, shared_catalog: bool = True):
        self.binary = binary
        self.shared_catalog = shared_catalog
        self.cluster = CLUSTER if cluster is None else cluster
        self.worker_procs: list[WorkerProcess] = []
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

    def config_args(self) -> list[str]:
        if not self.config:
            return []
        path = os.path.join(self._dir.name, "config.json")
        with open(path, "w") as f:
            json.dump(self.config, f)
        return ["--config", path]

    def split_args(self) -> tuple[list[str], list[str]]:
        """(the front doors' flags, DuckDB's flags): in cluster mode the gateway gets the
        first, the workers the second; `--workers N` becomes each worker's `--slots N`."""
        doors, engine = [], []
        args = list(self.extra_args)
        i = 0
        while i < len(args):
            flag = args[i].split("=", 1)[0]
            takes_value = "=" not in args[i] and i + 1 < len(args) and not args[i + 1].startswith("--")
            chunk = args[i:i + 2] if takes_value else args[i:i + 1]
            if flag == "--workers":
                engine += ["--slots"] + chunk[1:] if takes_value else ["--slots", args[i].split("=", 1)[1]]
            elif flag in _ENGINE_FLAGS:
                engine += chunk
            else:
                doors += chunk
            i += len(chunk)
        return doors, engine

    def command(self) -> list[str]:
        if self.cluster:
            doors, _ = self.split_args()
            workers = ",".join(f"{HOST}:{w.port}" for w in self.worker_procs)
            return [self.binary, "gateway", "--host", self.host, "--pg-port", "0", "--flight-port", "0",
                    "--http-port", "0", "--workers", workers] + self.config_args() + doors
        cmd = [self.binary, "serve", "--host", self.host, "--pg-port", "0",
               "--flight-port", "0", "--http-port", "0", "--database", ":memory:"]
        if self.workers is not None and "--workers" not in self.extra_args:
            cmd += ["--workers", str(self.workers)]
        return cmd + self.config_args() + self.extra_args

    def start_workers(self, env: dict[str, str]) -> None:
        _, engine = self.split_args()
        # The cluster runs as many queries at once as `serve --workers N` would: N slots in
        # all, over up to two workers.
        count = CLUSTER_WORKERS
        if "--slots" in engine:
            i = engine.index("--slots")
            total = int(engine[i + 1])
            del engine[i:i + 2]
        else:
            total = self.workers if self.workers is not None else 2 * CLUSTER_WORKERS
        count = max(1, min(count, total))
        engine += ["--slots", str(max(1, total // count))]
        if "--database" not in engine:
            engine += ["--database", ":memory:"]
        worker_env = dict(env)
        if self.shared_catalog:
            # A test may put the lake's data elsewhere (object storage) through its env.
            worker_env.update({k: v for k, v in shared_catalog(self._dir.name).items() if k not in self.extra_env})
        self.worker_procs = [WorkerProcess(self.binary, engine + self.config_args(), worker_env, self._dir.name, i)
                             for i in range(count)]
        deadline = time.monotonic() + START_TIMEOUT
        for w in self.worker_procs:
            w.wait_listening(deadline)

    def start(self) -> "TavanaServer":
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAVANA_") or k in _KEEP_ENV}
        env.update(self.extra_env)
        if self.cluster:
            self.start_workers(env)
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
        for w in self.worker_procs:
            w.stop()
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
                   default_extensions: bool = False, cluster: bool | None = None,
                   shared_catalog: bool = True) -> Iterator[TavanaServer]:
    server = TavanaServer(binary, args, env=env, config=config, workers=workers, name=name,
                          default_extensions=default_extensions, cluster=cluster, shared_catalog=shared_catalog)
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


def _servers_of(item) -> list:
    found = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, TavanaServer) and value not in found:
            found.append(value)
            found += value.worker_procs
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
            alive = server.proc is not None and server.proc.poll() is None
            state = "running" if alive else f"EXITED rc={server.proc.returncode if server.proc else None}"
            report.sections.append((f"tavana stderr ({server.name}, port {server.port}, {state})", "\n".join(lines)))
    return report
