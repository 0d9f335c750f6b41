"""The HTTP port: /healthz, /readyz (false while draining) and /metrics in Prometheus text
format, parsed with prometheus_client's own parser. The metric names are what the Helm
chart's autoscaler reads (docs/metrics.md)."""
import re
import signal
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pyarrow.flight as flight
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tavana_server import running_server

pytestmark = pytest.mark.timeout(90)

LONG_SQL = "SELECT count(*) FROM range(10000000000) t(x) WHERE x % 7 = 3"


def port_of(server, what: str, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.log().splitlines():
            if f"{what} listening" in line:
                m = re.search(r"port=(\d+)", line)
                if m:
                    return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError(f"no '{what} listening' line:\n{server.log()}")


def get(server, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{server.host}:{port_of(server, 'http')}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def samples(server) -> dict[tuple[str, tuple], float]:
    status, text = get(server, "/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics, name, **labels) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def test_health_readiness_and_unknown_paths(tavana_bin):
    with running_server(tavana_bin, name="http") as s:
        assert get(s, "/healthz") == (200, "ok\n")
        port_of(s, "flight")
        assert get(s, "/readyz") == (200, "ready\n")
        assert get(s, "/nope")[0] == 404


def test_metrics_count_statements_rows_and_bytes_by_front_door(tavana_bin):
    with running_server(tavana_bin, workers=3, name="httpmetrics") as s:
        before = samples(s)
        assert value(before, "tavana_worker_slots") == 3
        assert value(before, "tavana_workers", state="healthy") == 1
        with s.connect() as c:
            for i in range(3):
                assert c.execute(f"SELECT {i}").fetchone() == (i,)
            assert c.execute("SELECT * FROM range(1000)").fetchall()[-1] == (999,)
            with pytest.raises(psycopg.errors.UndefinedTable):
                c.execute("SELECT * FROM no_such_table")
            during = samples(s)
            assert value(during, "tavana_sessions") >= 1
        client = flight.connect(f"grpc://{s.host}:{port_of(s, 'flight')}")
        info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT * FROM range(5000)"))
        assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == 5000

        after = samples(s)
        assert value(after, "tavana_queries_total", door="postgres", outcome="00") >= 4
        assert value(after, "tavana_queries_total", door="postgres", outcome="42") == 1
        assert value(after, "tavana_queries_total", door="flight", outcome="00") >= 1
        assert value(after, "tavana_rows_sent_total", door="postgres") >= 1003
        assert value(after, "tavana_rows_sent_total", door="flight") >= 5000
        assert value(after, "tavana_bytes_sent_total", door="postgres") > value(before, "tavana_bytes_sent_total", door="postgres")
        assert value(after, "tavana_bytes_sent_total", door="flight") > 5000 * 8
        assert value(after, "tavana_query_duration_seconds_count", door="postgres") >= 5
        assert value(after, "tavana_queue_wait_seconds_count") >= 5
        assert value(after, "tavana_queue_depth") == 0
        assert value(after, "tavana_queries_running") == 0


def test_queue_depth_and_oldest_wait_under_load(tavana_bin):
    with running_server(tavana_bin, "--threads", "1", workers=1, name="httpqueue") as s:
        long = s.connect()
        waiting = s.connect()
        errors = []

        def run(conn, sql):
            try:
                conn.execute(sql)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=run, args=(long, LONG_SQL), daemon=True)]
        threads[0].start()
        time.sleep(1.0)
        threads.append(threading.Thread(target=run, args=(waiting, "SELECT 1"), daemon=True))
        threads[1].start()
        deadline = time.monotonic() + 10
        while value(samples(s), "tavana_queue_depth") < 1:
            assert time.monotonic() < deadline, "the waiting query never showed in tavana_queue_depth"
            time.sleep(0.1)
        time.sleep(0.5)
        m = samples(s)
        assert value(m, "tavana_queries_running") == 1
        assert value(m, "tavana_worker_slots_used") == 1
        assert value(m, "tavana_queue_oldest_wait_seconds") >= 0.4
        long.cancel_safe(timeout=10)
        for t in threads:
            t.join(20)
        assert value(samples(s), "tavana_queue_depth") == 0
        assert value(samples(s), "tavana_queries_total", door="postgres", outcome="57") == 1, "the cancelled query"
        long.close()
        waiting.close()


def test_readiness_turns_false_while_draining(tavana_bin):
    """SIGTERM turns /readyz false at once (a load balancer stops sending clients) while the
    process stays alive and answers /healthz until the front doors have stopped; a running
    statement keeps that window open."""
    with running_server(tavana_bin, name="httpdrain") as s:
        port_of(s, "flight")
        assert get(s, "/readyz")[0] == 200
        conn = s.connect()
        t = threading.Thread(target=lambda: _ignore_errors(conn.execute, "SELECT pg_sleep(3)"), daemon=True)
        t.start()
        time.sleep(0.5)
        s.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 2
        while get(s, "/readyz")[0] != 503:
            assert time.monotonic() < deadline, "readiness stayed true after SIGTERM"
            time.sleep(0.02)
        assert get(s, "/healthz")[0] == 200, "alive while draining"
        assert s.proc.wait(15) == 0
        t.join(15)
        conn.close()


def _ignore_errors(f, *args):
    try:
        f(*args)
    except psycopg.Error:
        pass  # closed by the shutdown
