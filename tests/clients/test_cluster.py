"""Cluster mode with real processes on loopback: a `tavana gateway` and two `tavana worker`s
started by the tests, a PostgreSQL for the shared DuckLake catalog, workers and gateways
killed with signals. Clients are psycopg (PostgreSQL) and prometheus_client's parser."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tavana_server import HOST, running_server

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(240)

# Seconds of work for one core, give or take: long enough to be caught running.
LONG_SQL = "SELECT count(*) FROM range(3000000000) t(x) WHERE x % 7 = 3"
WORKER_LOST = "08006"


def http_port(log_text: str) -> int:
    m = re.search(r"port=(\d+).*http listening", log_text)
    assert m, f"no 'http listening' line:\n{log_text}"
    return int(m.group(1))


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metrics(port: int) -> dict[tuple[str, tuple], float]:
    status, text = get(port, "/metrics")
    assert status == 200, text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def worker_value(worker, name: str) -> float:
    return metrics(http_port(worker.log()))[(name, ())]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_gateway(binary: str, workers: list, env: dict[str, str], directory) -> tuple[subprocess.Popen, int, str]:
    """Another gateway in front of the same workers: (process, PostgreSQL port, log path)."""
    log = os.path.join(directory, f"gateway-{time.monotonic_ns()}.log")
    cmd = [binary, "gateway", "--host", HOST, "--pg-port", "0", "--flight-port", "0", "--http-port", "0"]
    if workers:
        cmd += ["--workers", ",".join(f"{HOST}:{w.port}" for w in workers)]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TAVANA_")}
    full_env.update(env)
    proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=full_env)
    text = wait_for(lambda: (lambda t: t if "postgres listening" in t else None)(open(log).read()), 30, "gateway start")
    port = int(re.search(r"port=(\d+).*postgres listening", text).group(1))
    return proc, port, log


def connect(port: int, **kw):
    return psycopg.connect(f"host={HOST} port={port} user=tester dbname=tavana connect_timeout=10 sslmode=disable",
                           autocommit=True, **kw)


@pytest.fixture
def cluster(tavana_bin):
    # Four slots: two on each worker.
    with running_server(tavana_bin, workers=4, cluster=True, name="cluster") as server:
        yield server


def sessions_per_worker(server) -> list[float]:
    return [worker_value(w, "tavana_sessions") for w in server.worker_procs]


def test_a_table_created_through_one_session_is_read_through_sessions_on_every_worker(cluster):
    conns = [cluster.connect() for _ in range(6)]
    try:
        counts = sessions_per_worker(cluster)
        assert all(c >= 1 for c in counts), f"sessions are not spread over the workers: {counts}"
        conns[0].execute("CREATE TABLE shared_t AS SELECT range AS i FROM range(10)")
        for c in conns:
            assert c.execute("SELECT count(*), sum(i) FROM shared_t").fetchone() == (10, 45)
        conns[5].execute("INSERT INTO shared_t VALUES (100)")
        for c in conns:
            assert c.execute("SELECT max(i) FROM shared_t").fetchone() == (100,)
        assert conns[0].execute("SELECT current_database()").fetchone() == ("lake",)
    finally:
        for c in conns:
            c.close()


def test_temporary_tables_pin_a_session_to_its_worker(cluster):
    with cluster.connect() as c:
        c.execute("CREATE TEMP TABLE mine AS SELECT 42 AS v")
        for _ in range(10):
            assert c.execute("SELECT v FROM mine").fetchone() == (42,)


def test_a_worker_killed_under_load_fails_only_what_it_held(cluster):
    """kill -9 of a worker under load: sessions that held state there fail with 08006,
    stateless ones go on on the other worker; nothing hangs and new sessions work."""
    pinned = [cluster.connect() for _ in range(6)]
    for i, c in enumerate(pinned):
        c.execute(f"CREATE TEMP TABLE pin{i} AS SELECT {i} AS v")
    stats = {"started": 0, "ok": 0, "failed": 0, "ok_after_kill": 0}
    errors: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()
    stop = time.monotonic() + 8

    def load():
        conn = None
        while time.monotonic() < stop:
            try:
                if conn is None:
                    conn = cluster.connect()
                with lock:
                    stats["started"] += 1
                conn.execute("SELECT count(*) FROM range(2000000)").fetchone()
                with lock:
                    stats["ok"] += 1
                    if killed.is_set():
                        stats["ok_after_kill"] += 1
            except psycopg.Error as e:
                with lock:
                    stats["failed"] += 1
                    errors.append(f"{e.sqlstate}: {e}")
                if conn is not None and conn.closed:
                    conn = None
        if conn is not None:
            conn.close()

    import adbc_driver_flightsql.dbapi
    from test_flight_sql import flight_port
    flight_uri = f"grpc://{HOST}:{flight_port(cluster)}"
    flight_stats = {"started": 0, "ok": 0, "failed": 0}

    def flight_load():
        """ADBC's Flight SQL driver, one connection, statement after statement."""
        conn = None
        while time.monotonic() < stop:
            try:
                if conn is None:
                    conn = adbc_driver_flightsql.dbapi.connect(flight_uri, autocommit=True)
                with lock:
                    flight_stats["started"] += 1
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM range(2000000)")
                    assert cur.fetchall() == [(2000000,)]
                with lock:
                    flight_stats["ok"] += 1
            except Exception as e:  # noqa: BLE001 - every failure must be the clear one, checked below
                with lock:
                    flight_stats["failed"] += 1
                    errors.append(f"flight: {e}")
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=load) for _ in range(6)] + [threading.Thread(target=flight_load) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(2)
    victim = cluster.worker_procs[0]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    killed.set()
    for t in threads:
        t.join(30)
    hung = sum(t.is_alive() for t in threads)
    assert hung == 0, f"{hung} client threads hung: {stats}"
    assert stats["ok_after_kill"] > 0, f"no statement succeeded after the kill: {stats} {errors[:5]}"
    for e in errors:
        # PostgreSQL: 08006; Flight: UNAVAILABLE naming the worker (ADBC shows the gRPC code as
        # "UNAVAILABLE: ..." from ExecuteQuery, as "IO: ... (Unavailable; DoGet ...)" mid-stream).
        unavailable = "UNAVAILABLE" in e or "(Unavailable;" in e
        assert e.startswith(WORKER_LOST) or (e.startswith("flight:") and unavailable and "worker" in e), e
    assert flight_stats["ok"] > 0, flight_stats
    # Sessions with state: those on the killed worker say so at once, the others go on.
    outcomes = []
    for i, c in enumerate(pinned):
        try:
            assert c.execute(f"SELECT v FROM pin{i}").fetchone() == (i,)
            outcomes.append("ok")
        except psycopg.Error as e:
            assert e.sqlstate == WORKER_LOST, e
            assert "worker" in str(e)
            outcomes.append("lost")
        finally:
            c.close()
    assert "ok" in outcomes and "lost" in outcomes, outcomes
    with cluster.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    assert cluster.alive()


def test_a_read_only_statement_whose_worker_dies_before_its_rows_runs_again_elsewhere(cluster):
    """kill -9 of the worker a SELECT runs on, while it computes (no row sent yet): the
    gateway runs it once more on the other worker and the client gets its rows, not an
    error. A prepared statement of that session is prepared again there as well."""
    conn = cluster.connect()
    # A statement prepared before the kill, executed after it.
    conn.execute("SELECT %s::INTEGER + 1", (1,), prepare=True)
    before = cluster.log_size()
    result = {}

    def long_select():
        try:
            result["rows"] = conn.execute(LONG_SQL.replace("3000000000", "1500000000")).fetchone()
        except psycopg.Error as e:
            result["error"] = f"{e.sqlstate}: {e}"

    t = threading.Thread(target=long_select)
    t.start()
    # Find the worker running it: the one with a slot in use.
    def busy():
        for i, w in enumerate(cluster.worker_procs):
            if worker_value(w, "tavana_worker_slots_used") >= 1:
                return i + 1
        return None
    victim_index = wait_for(busy, 20, "the SELECT to start on a worker") - 1
    victim = cluster.worker_procs[victim_index]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    t.join(120)
    assert not t.is_alive(), "the client hung"
    assert "error" not in result, result
    # x in [0, 1.5e9) with x % 7 = 3: 214285714 of them.
    assert result["rows"] == (214285714,)
    assert "running it once more on another worker" in cluster.log(since=before)
    assert conn.execute("SELECT %s::INTEGER + 1", (41,), prepare=True).fetchone() == (42,)
    conn.close()
    assert cluster.alive()


def test_sigterm_drains_a_worker_and_its_running_query_completes(tavana_bin):
    with running_server(tavana_bin, workers=2, cluster=True, name="drain") as server:
        result: dict = {}
        sql = "SELECT count(*) FROM range(400000000) t(x) WHERE x % 7 = 3"

        def run():
            with server.connect() as c:
                result["value"] = c.execute(sql).fetchone()[0]

        expected = (400000000 - 4) // 7 + 1
        t = threading.Thread(target=run)
        t.start()
        busy = wait_for(lambda: next((w for w in server.worker_procs if worker_value(w, "tavana_worker_slots_used") >= 1),
                                     None), 20, "the query to start")
        busy.proc.send_signal(signal.SIGTERM)
        status, text = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(get(http_port(busy.log()), "/readyz")),
                                10, "the draining worker to turn unready")
        assert "draining" in text
        t.join(120)
        assert not t.is_alive()
        assert result.get("value") == expected
        assert busy.proc.wait(30) == 0
        # New sessions go to the worker that is left.
        with server.connect() as c:
            assert c.execute("SELECT 2").fetchone() == (2,)


def test_sessions_of_a_dead_gateway_are_closed_by_the_workers(tavana_bin):
    with running_server(tavana_bin, workers=2, cluster=True, name="orphans",
                        env={"TAVANA_WORKER_SESSION_TTL": "3"}) as server:
        conns = [server.connect() for _ in range(4)]
        assert sum(sessions_per_worker(server)) == 4
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        wait_for(lambda: sum(sessions_per_worker(server)) == 0, 20, "the workers to close the orphans")
        for c in conns:
            c.close()


def test_a_restarted_gateway_makes_the_workers_drop_its_earlier_sessions(tavana_bin, tmp_path):
    env = {"TAVANA_GATEWAY_ID": "gw-restart", "TAVANA_WORKER_SESSION_TTL": "600"}
    with running_server(tavana_bin, workers=2, cluster=True, name="restart", env=env) as server:
        conns = [server.connect() for _ in range(4)]
        assert sum(sessions_per_worker(server)) == 4
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        # Same id, new epoch: its first heartbeat closes the old sessions (long before the TTL).
        proc, port, _ = start_gateway(server.binary, server.worker_procs, env, tmp_path)
        try:
            wait_for(lambda: sum(sessions_per_worker(server)) == 0, 15, "the old epoch's sessions to close")
            with connect(port) as c:
                assert c.execute("SELECT 3").fetchone() == (3,)
        finally:
            proc.terminate()
            proc.wait(20)
            for c in conns:
                c.close()


def test_two_gateways_never_overbook_a_worker(tavana_bin, tmp_path):
    """Each worker has one slot; two gateways send it work at once: the worker runs one
    statement at a time and the rest wait, and every statement completes."""
    with running_server(tavana_bin, workers=2, cluster=True, name="two-gateways") as server:
        proc, port2, _ = start_gateway(server.binary, server.worker_procs, {"TAVANA_GATEWAY_ID": "second"}, tmp_path)
        try:
            peak = [0.0]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    for w in server.worker_procs:
                        peak[0] = max(peak[0], worker_value(w, "tavana_worker_slots_used"))
                    time.sleep(0.05)

            results = []

            def client(port):
                with connect(port) as c:
                    for _ in range(3):
                        results.append(c.execute("SELECT count(*) FROM range(60000000) t(x) WHERE x % 3 = 0").fetchone()[0])

            sampler = threading.Thread(target=sample)
            sampler.start()
            clients = [threading.Thread(target=client, args=(p,)) for p in (server.port, port2) for _ in range(3)]
            for t in clients:
                t.start()
            for t in clients:
                t.join(180)
            done.set()
            sampler.join(10)
            assert results == [20000000] * 18
            assert peak[0] == 1, f"a worker ran {peak[0]} statements at once in one slot"
        finally:
            proc.terminate()
            proc.wait(20)


def test_gateway_metrics_and_readiness_follow_the_workers(tavana_bin):
    with running_server(tavana_bin, workers=4, cluster=True, name="gw-metrics") as server:
        # The HTTP port may start listening just after the PostgreSQL one.
        port = http_port(wait_for(lambda: (lambda t: t if "http listening" in t else None)(server.log()), 30, "http listening"))
        m = metrics(port)
        assert m[("tavana_workers", (("state", "healthy"),))] == 2
        assert m[("tavana_workers", (("state", "unhealthy"),))] == 0
        assert m[("tavana_worker_slots", ())] == 4
        assert get(port, "/readyz")[0] == 200
        for w in server.worker_procs:
            w.proc.send_signal(signal.SIGKILL)
            w.proc.wait(10)
        status, text = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(get(port, "/readyz")), 20,
                                "readiness to turn false")
        assert "no worker" in text
        m = metrics(port)
        assert m[("tavana_workers", (("state", "unhealthy"),))] == 2
        # A client gets a clear error, not a hang: 57P03, which clients and poolers retry.
        with pytest.raises(psycopg.Error) as e:
            with server.connect() as c:
                c.execute("SELECT 1")
        assert "worker" in str(e.value)
        import socket
        from tavana_server import error_fields, read_message, startup_packet
        with socket.create_connection((HOST, server.port), timeout=10) as raw:
            raw.sendall(startup_packet())
            kind, body = read_message(raw)
            while kind != b"E":
                kind, body = read_message(raw)
            fields = error_fields(body)
            assert fields["C"] == "57P03" and "no worker is reachable" in fields["M"], fields


def test_without_a_shared_catalog_tables_that_one_worker_only_would_have_are_refused(tavana_bin):
    with running_server(tavana_bin, workers=2, cluster=True, shared_catalog=False, name="no-catalog") as server:
        with server.connect() as c:
            for sql in ["CREATE TABLE lonely (i INTEGER)", "CREATE OR REPLACE VIEW v AS SELECT 1",
                        "create schema s"]:
                with pytest.raises(psycopg.Error) as e:
                    c.execute(sql)
                assert e.value.sqlstate == "0A000", sql
                assert "TAVANA_DUCKLAKE_METADATA" in str(e.value)
            c.execute("CREATE TEMP TABLE mine AS SELECT 1 AS v")
            assert c.execute("SELECT v FROM mine").fetchone() == (1,)
        assert server.alive()


def test_gateway_finds_its_workers_by_dns(tavana_bin, tmp_path):
    """--worker-dns NAME:PORT: the addresses `localhost` resolves to; the one a worker listens
    on gets the sessions (an address nothing listens on, such as ::1 here, stays unhealthy)."""
    with running_server(tavana_bin, workers=1, cluster=True, name="dns") as server:
        worker = server.worker_procs[0]
        proc, port, log = start_gateway(server.binary, [], {"TAVANA_WORKER_DNS": f"localhost:{worker.port}",
                                                            "TAVANA_GATEWAY_ID": "dns-gw"}, tmp_path)
        try:
            with connect(port) as c:
                assert c.execute("SELECT 40 + 2").fetchone() == (42,)
            assert "worker discovered" in open(log).read()
        finally:
            proc.terminate()
            proc.wait(20)


class FirstToOneThenOther:
    """A TCP load balancer in miniature: the first connection goes to `first`, every later
    one to `then` (so a client's cancel connection reaches another gateway replica than its
    session, as behind a Kubernetes Service)."""

    def __init__(self, first: int, then: int):
        import socket
        self.targets = [first, then]
        self.accepted = 0
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import socket
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            target = self.targets[0] if self.accepted == 0 else self.targets[1]
            self.accepted += 1
            upstream = socket.create_connection((HOST, target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(source, sink):
        import socket
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.listener.close()


@pytest.mark.parametrize("peers", ["list", "dns"])
def test_a_cancel_that_reaches_the_other_gateway_is_forwarded_to_the_owner(tavana_bin, tmp_path, peers):
    """psycopg's cancel opens a new connection; behind the balancer it lands on the second
    gateway, which holds no session and passes the request to its peers (a list, or the
    addresses a DNS name resolves to: `localhost` gives ::1 too, where nothing listens)."""
    with running_server(tavana_bin, workers=2, cluster=True, name=f"cancel-{peers}") as server:
        peer_env = ({"TAVANA_GATEWAY_PEERS": f"{HOST}:{server.port}"} if peers == "list"
                    else {"TAVANA_GATEWAY_PEER_DNS": f"localhost:{server.port}"})
        proc, port2, log2 = start_gateway(server.binary, server.worker_procs,
                                          {"TAVANA_GATEWAY_ID": "second", **peer_env}, tmp_path)
        balancer = FirstToOneThenOther(server.port, port2)
        try:
            with connect(balancer.port) as c:
                outcome = {}

                def run():
                    try:
                        c.execute(LONG_SQL)
                        outcome["rows"] = True
                    except psycopg.Error as e:
                        outcome["error"] = e
                job = threading.Thread(target=run)
                job.start()
                wait_for(lambda: sum(worker_value(w, "tavana_worker_slots_used") for w in server.worker_procs) >= 1,
                         30, "the query to run on a worker")
                c.cancel_safe(timeout=10)
                job.join(30)
                assert not job.is_alive(), "the query did not stop within 30 s of the cancel"
                assert "error" in outcome, "the query finished: the cancel never reached its gateway"
                assert outcome["error"].sqlstate == "57014", outcome["error"]
                # The session is still usable.
                assert c.execute("SELECT 1").fetchone() == (1,)
            assert balancer.accepted >= 2
            text = open(log2).read()
            assert "cancel request forwarded" in text and "delivered=1" in text, text[-3000:]
            assert "matched=true" in server.log() and "forwarded=true" in server.log()
        finally:
            balancer.close()
            proc.terminate()
            proc.wait(20)


def test_a_worker_added_under_load_gets_statements_of_sessions_already_open(tavana_bin, tmp_path):
    """The gateway lists a worker that is not running yet (unhealthy, tried again with backoff).
    Four clients keep sessions open on the first worker and run statements back to back; the
    second worker starts: stateless sessions move to it on their next statements (no client
    reconnects), and every statement succeeds."""
    import socket
    from types import SimpleNamespace
    from tavana_server import WorkerProcess
    with running_server(tavana_bin, workers=2, cluster=True, name="added") as server:
        first = server.worker_procs[0]
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            later_port = probe.getsockname()[1]
        proc, port, log = start_gateway(server.binary, [first, SimpleNamespace(port=later_port)],
                                        {"TAVANA_GATEWAY_ID": "grows"}, tmp_path)
        added = None
        stop = threading.Event()
        done, failures = [0], []

        def client():
            with connect(port) as c:
                while not stop.is_set():
                    try:
                        assert c.execute("SELECT count(*) FROM range(20000000) t(x) WHERE x % 5 = 0").fetchone() == (4000000,)
                        done[0] += 1
                    except Exception as e:  # noqa: BLE001 - counted, then asserted empty
                        failures.append(e)
        clients = [threading.Thread(target=client) for _ in range(4)]
        try:
            for t in clients:
                t.start()
            wait_for(lambda: worker_value(first, "tavana_sessions") == 4, 30, "four sessions on the first worker")
            before = done[0]
            added = WorkerProcess(server.binary, first.args, first.env, first.directory, 9, port=later_port)
            added.wait_listening(time.monotonic() + 30)
            # It gets sessions once its first heartbeat answers and statements move there.
            wait_for(lambda: worker_value(added, "tavana_sessions") >= 1, 30, "sessions on the added worker")
            peak = wait_for(lambda: worker_value(added, "tavana_worker_slots_used") >= 1, 30,
                            "a statement running on the added worker")
            assert peak
            # Both workers hold sessions: they balanced rather than all moving.
            assert worker_value(first, "tavana_sessions") >= 1
            stop.set()
            for t in clients:
                t.join(60)
            assert not failures, failures[:3]
            assert done[0] > before
            assert "session moved to another worker" in open(log).read()
        finally:
            stop.set()
            for t in clients:
                t.join(60)
            proc.terminate()
            proc.wait(20)
            if added:
                added.stop()


def test_two_gateways_lease_the_workers_slots_and_a_dead_ones_lease_lapses(tavana_bin, tmp_path):
    """Two workers of two slots. Each gateway's queue is as wide as the slots it leases
    (`tavana_worker_slots` on its /metrics): alone it holds all four; two idle gateways hold
    two each; a busy one takes what an idle one leaves; two busy ones split them; a gateway
    killed with SIGKILL stops renewing and its share returns to the other within the lease's
    ten seconds."""
    with running_server(tavana_bin, workers=4, cluster=True, name="leases") as server:
        a_http = http_port(wait_for(lambda: (lambda t: t if "http listening" in t else None)(server.log()), 30, "http"))

        def width(port):
            return metrics(port)[("tavana_worker_slots", ())]

        wait_for(lambda: width(a_http) == 4, 20, "the first gateway to hold all four slots")
        proc, b_port, b_log = start_gateway(server.binary, server.worker_procs, {"TAVANA_GATEWAY_ID": "second"}, tmp_path)
        b_http = http_port(wait_for(lambda: (lambda t: t if "http listening" in t else None)(open(b_log).read()), 30, "http"))
        stops = {"a": threading.Event(), "b": threading.Event()}
        threads = []

        def load(port, stop):
            try:
                with connect(port) as c:
                    while not stop.is_set():
                        c.execute("SELECT count(*) FROM range(100000000) t(x) WHERE x % 3 = 0").fetchone()
            except psycopg.Error:
                pass  # the gateway was killed

        def busy(name, port):
            for _ in range(4):
                t = threading.Thread(target=load, args=(port, stops[name]), daemon=True)
                t.start()
                threads.append(t)
        try:
            wait_for(lambda: (width(a_http), width(b_http)) == (2, 2), 20, "two idle gateways to hold two each")
            busy("a", server.port)
            wait_for(lambda: (width(a_http), width(b_http)) == (4, 1), 20,
                     "the busy gateway to take the idle one's share (which keeps one to start with)")
            busy("b", b_port)
            wait_for(lambda: (width(a_http), width(b_http)) == (2, 2), 20, "two busy gateways to split the slots")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            wait_for(lambda: width(a_http) == 4, 30, "the dead gateway's lease to lapse")
        finally:
            for e in stops.values():
                e.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            for t in threads:
                t.join(60)


def test_gateway_and_workers_speak_tls_when_configured(tavana_bin, tmp_path):
    """Workers serve their endpoint with --tls-cert/--tls-key (here TAVANA_TLS_CERT/KEY); a
    gateway given the CA (TAVANA_WORKER_TLS_CA) verifies them and runs queries there. A
    gateway that speaks plaintext to them never finds them healthy, and its clients get a
    clear error rather than a hang."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=tavana-worker",
                    "-days", "1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    env = {"TAVANA_TLS_CERT": str(cert), "TAVANA_TLS_KEY": str(key), "TAVANA_WORKER_TLS_CA": str(cert)}
    with running_server(tavana_bin, workers=2, cluster=True, env=env, name="worker-tls") as server:
        with server.connect() as c:
            assert c.execute("SELECT sum(x) FROM range(1000) t(x)").fetchone() == (499500,)
        for w in server.worker_procs:
            assert "tls=true" in w.log()
        assert "workerTLS=true" in server.log()
        proc, port, log = start_gateway(server.binary, server.worker_procs, {"TAVANA_GATEWAY_ID": "plain"}, tmp_path)
        try:
            with pytest.raises(psycopg.Error) as e:
                with connect(port) as c:
                    c.execute("SELECT 1")
            assert "worker" in str(e.value)
            assert "worker healthy" not in open(log).read()
        finally:
            proc.terminate()
            proc.wait(20)
