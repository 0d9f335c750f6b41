"""SIGTERM drains both front doors. Flight: a stream in progress is read to its end.
PostgreSQL, as PostgreSQL's fast shutdown looks to clients: no new connections, idle sessions end at once with 57P01 (admin_shutdown), a running statement
finishes and returns its rows before its session ends, and what still runs after
shutdownGracePeriod is cut off so the process exits in time."""
import signal
import socket
import threading
import time

import psycopg
import pytest

from tavana_server import running_server

pytestmark = pytest.mark.timeout(60)

LONG_SQL = "SELECT count(*) FROM range(10000000000) t(x) WHERE x % 7 = 3"


def run_in_background(conn, sql):
    """Starts `sql` on `conn` in a thread; the dict gets "rows" or "error"."""
    out = {}

    def run():
        try:
            out["rows"] = conn.execute(sql).fetchone()
        except psycopg.Error as e:
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_running_statements_finish_and_idle_sessions_end_with_57p01(tavana_bin):
    with running_server(tavana_bin, name="drain") as s:
        idle = s.connect()
        in_transaction = s.connect(autocommit=False)
        in_transaction.execute("CREATE TEMP TABLE t AS SELECT 1 AS v")
        busy = s.connect()
        t, out = run_in_background(busy, "SELECT pg_sleep(2), 'finished'")
        time.sleep(0.5)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(psycopg.errors.AdminShutdown):
            idle.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            in_transaction.execute("SELECT v FROM t")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((s.host, s.port), timeout=2)
        t.join(15)
        assert out.get("rows") == (None, "finished"), out
        with pytest.raises(psycopg.OperationalError):
            busy.execute("SELECT 1")
        assert s.proc.wait(15) == 0
        assert time.monotonic() - t0 < 10
        for c in (idle, in_transaction, busy):
            c.close()


def test_statements_still_running_after_the_grace_period_are_cut_off(tavana_bin):
    with running_server(tavana_bin, config={"shutdownGracePeriod": 1}, name="draingrace") as s:
        busy = s.connect()
        t, out = run_in_background(busy, LONG_SQL)
        time.sleep(0.5)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        t.join(20)
        assert isinstance(out.get("error"), psycopg.OperationalError), out
        assert s.proc.wait(20) == 0
        assert 0.9 <= time.monotonic() - t0 < 15
        assert "postgres draining" in s.log()
        busy.close()


def test_a_flight_stream_in_progress_is_read_to_its_end(tavana_bin):
    import pyarrow.flight as flight
    from test_flight_sql import flight_port
    with running_server(tavana_bin, name="draindoget") as s:
        client = flight.connect(f"grpc://{s.host}:{flight_port(s)}")
        info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT * FROM range(3000000)"))
        reader = client.do_get(info.endpoints[0].ticket)
        rows = reader.read_chunk().data.num_rows
        s.proc.send_signal(signal.SIGTERM)
        while True:
            try:
                rows += reader.read_chunk().data.num_rows
            except StopIteration:
                break
        assert rows == 3000000
        assert s.proc.wait(30) == 0
