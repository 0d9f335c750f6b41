"""Query cancellation: CancelRequest from psycopg, a CancelRequest with the wrong key, a
client that goes away mid-query, statement_timeout. A dedicated server with one worker:
a query that keeps running after it should have stopped holds the only slot, which the
next query then shows."""
import socket
import struct
import threading
import time

import psycopg
import pytest

from tavana_server import backend_key, raw_connect, read_until, running_server, startup_packet, message, cstr

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(90)

LONG_SQL = "SELECT count(*) FROM range(10000000000) t(x) WHERE x % 7 = 3"
CANCEL_CODE = 80877102


@pytest.fixture(scope="module")
def server(tavana_bin):
    with running_server(tavana_bin, "--threads", "2", workers=1, name="cancel") as s:
        yield s


class Background:
    """Runs conn.execute(sql) in a thread; remembers the result or the exception."""

    def __init__(self, conn, sql):
        self.conn, self.sql = conn, sql
        self.result = self.error = None
        self.started = time.monotonic()
        self.finished_at = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.result = self.conn.execute(self.sql).fetchall()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        self.finished_at = time.monotonic()

    def join(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def running(self):
        return self.thread.is_alive()


def busy_cpu(server, seconds=1.0):
    """CPU seconds the server used per wall-clock second over a short window."""
    a = server.cpu_seconds()
    time.sleep(seconds)
    return (server.cpu_seconds() - a) / seconds


def send_cancel(server, pid, key):
    """A CancelRequest on a new connection; returns what the server sent back before closing."""
    with server.socket(timeout=10) as s:
        s.sendall(struct.pack("!iiii", 16, CANCEL_CODE, pid, key))
        data = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk
        raise AssertionError("the server kept the cancel connection open for 10 s")


def assert_quick_select(server, within=10.0):
    """A new connection's SELECT finishes promptly: the slot is free."""
    with server.connect() as c:
        job = Background(c, "SELECT 42")
        if not job.join(within):
            c.cancel_safe(timeout=10)
            job.join(10)
            pytest.fail(f"SELECT 42 on a new connection did not finish within {within}s: "
                        "the worker slot is still busy")
        assert job.error is None, job.error
        assert job.result == [(42,)]


def test_cancel_running_query(server):
    with server.connect() as conn:
        job = Background(conn, LONG_SQL)
        time.sleep(1.5)
        assert job.running, f"the long query ended early: {job.result or job.error}"
        t0 = time.monotonic()
        conn.cancel_safe(timeout=10)
        assert job.join(20), "the query did not stop within 20 s of the cancel request"
        assert time.monotonic() - t0 < 10
        assert isinstance(job.error, psycopg.errors.QueryCanceled), repr(job.error)
        assert job.error.sqlstate == "57014"
        assert conn.execute("SELECT 'alive'").fetchone() == ("alive",)
    assert_quick_select(server)


def test_cancel_idle_connection_is_harmless(server):
    with server.connect() as conn:
        conn.cancel_safe(timeout=10)
        time.sleep(0.3)
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_cancel_with_wrong_key_does_nothing(server):
    s = server.socket(timeout=20)
    try:
        s.sendall(startup_packet())
        pid, key = backend_key(read_until(s, b"ZE"))
        s.sendall(message(b"Q", cstr(LONG_SQL)))
        time.sleep(1.0)
        # Wrong key for the right process id, and an unknown process id: both ignored, and
        # the server just closes the cancel connection without a reply.
        assert send_cancel(server, pid, key ^ 0x5A5A5A5A) == b""
        assert send_cancel(server, pid ^ 0x7FFF0000, key) == b""
        s.settimeout(3.0)
        try:
            early = s.recv(4096)
            pytest.fail(f"the query answered after a wrong-key cancel: {early!r}")
        except socket.timeout:
            pass  # still running: right
        # The right key cancels it.
        assert send_cancel(server, pid, key) == b""
        s.settimeout(20)
        msgs = read_until(s, b"Z")
        errors = [body for kind, body in msgs if kind == b"E"]
        assert errors and b"C57014\0" in errors[0], msgs
    finally:
        s.close()
    assert_quick_select(server)


def test_statement_timeout(server):
    with server.connect() as conn:
        conn.execute("SET statement_timeout = '500ms'")
        job = Background(conn, LONG_SQL)
        done = job.join(8)
        if not done:
            conn.cancel_safe(timeout=10)
            job.join(20)
            pytest.fail("statement_timeout = 500ms did not stop the query within 8 s")
        assert isinstance(job.error, psycopg.errors.QueryCanceled), repr(job.error)
        assert job.error.sqlstate == "57014"
        assert conn.execute("SELECT 2").fetchone() == (2,)


def test_client_disconnect_stops_query(server):
    s = raw_connect(server)
    s.sendall(message(b"Q", cstr(LONG_SQL)))
    time.sleep(1.5)
    busy = busy_cpu(server)
    assert busy > 0.5, f"the long query does not seem to run (server CPU {busy:.2f} s/s)"
    # Go away without Terminate, with a reset (no lingering).
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    deadline = time.monotonic() + 10
    cpu = busy
    while time.monotonic() < deadline:
        cpu = busy_cpu(server, 1.0)
        if cpu < 0.2:
            break
    assert cpu < 0.2, f"server still busy {cpu:.2f} CPU s/s 10 s after the client went away"
    assert server.alive()
    assert_quick_select(server)
