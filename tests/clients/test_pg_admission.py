"""Admission control: --workers queries run at once, the rest wait in FIFO order within a
user and round-robin across users; with --max-queued N at most N wait and one more is
refused with SQLSTATE 53000 (insufficient resources); with --max-queue-wait S a query that
waited S seconds fails with 53300. The long query never ends by itself; tests end it with a
cancel."""
import threading
import time

import psycopg
import pytest

from tavana_server import running_server

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(90)

LONG_SQL = "SELECT count(*) FROM range(10000000000) t(x) WHERE x % 7 = 3"


class Job:
    def __init__(self, server, sql, user="tester"):
        self.conn = server.connect(user=user)
        self.sql = sql
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        try:
            self.result = self.conn.execute(self.sql).fetchall()
        except Exception as e:  # noqa: BLE001
            self.error = e

    def join(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def cancel(self):
        self.conn.cancel_safe(timeout=10)

    def close(self):
        if self.thread.is_alive():
            self.cancel()
            self.thread.join(20)
        self.conn.close()


@pytest.fixture(scope="module")
def one_worker(tavana_bin):
    with running_server(tavana_bin, "--threads", "1", workers=1, name="workers1") as s:
        yield s


@pytest.fixture(scope="module")
def no_queue(tavana_bin):
    with running_server(tavana_bin, "--threads", "1", "--max-queued", "0", workers=1, name="maxqueued0") as s:
        yield s


@pytest.fixture(scope="module")
def short_wait(tavana_bin):
    with running_server(tavana_bin, "--threads", "1", "--max-queue-wait", "1", workers=1, name="queuewait1") as s:
        yield s


@pytest.fixture
def jobs():
    started = []
    yield started
    for j in reversed(started):
        j.close()


def test_second_query_waits_for_the_first(one_worker, jobs):
    long = Job(one_worker, LONG_SQL).start()
    jobs.append(long)
    time.sleep(1.0)
    short = Job(one_worker, "SELECT 2").start()
    jobs.append(short)
    assert not short.join(3.0), f"SELECT 2 ran while the only worker was busy: {short.result or short.error}"
    long.cancel()
    assert long.join(20)
    assert isinstance(long.error, psycopg.errors.QueryCanceled), repr(long.error)
    assert short.join(10), "the waiting query did not run after the slot was freed"
    assert short.error is None, short.error
    assert short.result == [(2,)]


def test_waiting_queries_run_in_fifo_order(one_worker, jobs):
    long = Job(one_worker, LONG_SQL).start()
    jobs.append(long)
    time.sleep(1.0)
    waiters = []
    for i in range(4):
        # The server's clock when the statement runs tells the order of execution.
        j = Job(one_worker, f"SELECT {i} AS tag, get_current_timestamp() AS ran_at")
        jobs.append(j)
        waiters.append(j.start())
        time.sleep(0.4)  # distinct arrival times
    assert all(w.thread.is_alive() for w in waiters), "a query ran while the only worker was busy"
    long.cancel()
    assert long.join(20)
    for w in waiters:
        assert w.join(15), "a waiting query never ran"
        assert w.error is None, w.error
    ran = sorted(w.result[0] for w in waiters)
    by_time = [tag for tag, _ in sorted(ran, key=lambda r: r[1])]
    assert by_time == [0, 1, 2, 3], ran


def test_cancel_while_waiting(one_worker, jobs):
    long = Job(one_worker, LONG_SQL).start()
    jobs.append(long)
    time.sleep(1.0)
    waiting = Job(one_worker, "SELECT 'never'").start()
    jobs.append(waiting)
    time.sleep(1.0)
    t0 = time.monotonic()
    waiting.cancel()
    assert waiting.join(10), "a cancel did not reach the queued query"
    assert time.monotonic() - t0 < 5
    assert isinstance(waiting.error, psycopg.errors.QueryCanceled), repr(waiting.error)
    assert waiting.error.sqlstate == "57014"
    assert long.thread.is_alive(), "cancelling the waiting query stopped the running one"
    # The cancelled waiter's session stays usable once the slot frees up.
    long.cancel()
    assert long.join(20)
    assert waiting.conn.execute("SELECT 'usable'").fetchone() == ("usable",)


def test_idle_sessions_do_not_hold_the_worker(one_worker):
    conns = [one_worker.connect() for _ in range(5)]
    try:
        t0 = time.monotonic()
        for i, c in enumerate(conns):
            assert c.execute("SELECT %s::int4", [i]).fetchone() == (i,)
        for i, c in enumerate(reversed(conns)):
            assert c.execute("SELECT 1").fetchone() == (1,)
        assert time.monotonic() - t0 < 10
    finally:
        for c in conns:
            c.close()


def test_open_transaction_does_not_block_other_sessions(one_worker):
    """A session idle inside a transaction block runs no query; others still get the slot."""
    with one_worker.connect(autocommit=False) as intx, one_worker.connect() as other:
        intx.execute("SELECT 1")
        done = threading.Event()
        result = []

        def run():
            try:
                result.append(other.execute("SELECT 'other'").fetchone())
            except Exception as e:  # noqa: BLE001
                result.append(e)
            done.set()

        threading.Thread(target=run, daemon=True).start()
        finished = done.wait(10)
        if not finished:
            other.cancel_safe(timeout=10)
            done.wait(10)
        intx.rollback()
        assert finished, "a query waited for a session that was idle in a transaction"
        assert result == [("other",)]


def test_queue_full_is_53000(no_queue, jobs):
    long = Job(no_queue, LONG_SQL).start()
    jobs.append(long)
    time.sleep(1.0)
    with no_queue.connect() as c:
        t0 = time.monotonic()
        with pytest.raises(psycopg.Error) as e:
            c.execute("SELECT 1")
        assert time.monotonic() - t0 < 5, "refusal should be immediate"
        assert e.value.sqlstate == "53000", f"{e.value.sqlstate}: {e.value}"
        assert e.value.diag.severity == "ERROR"
        assert c.info.transaction_status.name == "IDLE"
        long.cancel()
        assert long.join(20)
        assert c.execute("SELECT 'after'").fetchone() == ("after",)


def test_queue_full_inside_transaction_fails_the_block(no_queue, jobs):
    long = Job(no_queue, LONG_SQL).start()
    jobs.append(long)
    time.sleep(1.0)
    with no_queue.connect(autocommit=False) as c:
        with pytest.raises(psycopg.Error) as e:
            c.execute("SELECT 1")
        assert e.value.sqlstate == "53000"
        long.cancel()
        assert long.join(20)
        c.rollback()
        assert c.execute("SELECT 'ok'").fetchone() == ("ok",)
        c.rollback()


def test_another_users_query_overtakes_a_backlog(one_worker, jobs):
    """One user's queued queries do not starve another's: after the running query, the
    queue serves users in turn (FIFO within each)."""
    long = Job(one_worker, LONG_SQL, user="alice").start()
    jobs.append(long)
    time.sleep(1.0)
    waiters = []
    for tag, user in [("a0", "alice"), ("a1", "alice"), ("a2", "alice"), ("b0", "bob")]:
        j = Job(one_worker, f"SELECT '{tag}' AS tag, get_current_timestamp() AS ran_at", user=user)
        jobs.append(j)
        waiters.append(j.start())
        time.sleep(0.4)
    assert all(w.thread.is_alive() for w in waiters), "a query ran while the only slot was busy"
    long.cancel()
    assert long.join(20)
    for w in waiters:
        assert w.join(15), "a waiting query never ran"
        assert w.error is None, w.error
    by_time = [tag for tag, _ in sorted((w.result[0] for w in waiters), key=lambda r: r[1])]
    assert by_time == ["a0", "b0", "a1", "a2"], by_time


def test_a_query_that_waits_too_long_fails_with_53300(short_wait, jobs):
    long = Job(short_wait, LONG_SQL).start()
    jobs.append(long)
    time.sleep(1.0)
    with short_wait.connect() as c:
        t0 = time.monotonic()
        with pytest.raises(psycopg.Error) as e:
            c.execute("SELECT 1")
        waited = time.monotonic() - t0
        assert 0.9 <= waited < 5, waited
        assert e.value.sqlstate == "53300", f"{e.value.sqlstate}: {e.value}"
        assert "waited 1 s for a query slot" in str(e.value)
        assert long.thread.is_alive(), "the running query must not be disturbed"

        # Flight says RESOURCE_EXHAUSTED for the same wait.
        import pyarrow as pa
        import pyarrow.flight as flight
        from test_flight_sql import flight_port
        client = flight.connect(f"grpc://{short_wait.host}:{flight_port(short_wait)}")
        with pytest.raises(pa.ArrowException) as fe:
            client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 2"))
        assert "waited 1 s for a query slot" in str(fe.value)
        assert "resource exhausted" in str(fe.value), repr(fe.value)

        long.cancel()
        assert long.join(20)
        assert c.execute("SELECT 'after'").fetchone() == ("after",)
