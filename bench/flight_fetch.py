"""Flight SQL throughput: fetch TPC-H lineitem into a pyarrow Table through Tavana's Flight
SQL door (ADBC and pyarrow.flight) and, in the same run, from in-process DuckDB
(`duckdb.sql(...).arrow()`); report times, ratios (target: at most 1.2x in-process) and
the server's peak memory. Writes bench/results/flight_fetch.json.

Run with `make bench` (release build). SCALE sets the TPC-H scale factor (default 1)."""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import pyarrow as pa
import pyarrow.flight as flight

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCALE = float(os.environ.get("SCALE", "1"))
REPEAT = int(os.environ.get("REPEAT", "3"))
QUERY = "SELECT * FROM lineitem"


def start_server(binary: str, database: str):
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    env = dict(os.environ, TAVANA_EXTENSIONS="tpch")
    proc = subprocess.Popen([binary, "serve", "--pg-port", "0", "--flight-port", "0", "--http-port", "0",
                             "--database", database, "--workers", "2"], stdout=log, stderr=log, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        text = open(log.name).read()
        m = re.search(r"port=(\d+).*flight listening", text) or re.search(r"flight listening.*port=(\d+)", text)
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            sys.exit(f"tavana serve exited:\n{text}")
        time.sleep(0.2)
    proc.kill()
    sys.exit("tavana serve did not start")


class PeakRSS:
    def __init__(self, pid):
        self.pid, self.peak_kb, self._stop = pid, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                for line in open(f"/proc/{self.pid}/status"):
                    if line.startswith("VmRSS:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except FileNotFoundError:
                return
            self._stop.wait(0.05)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join()


def timed(fn):
    best, table = None, None
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        table = fn()
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best, table


def main():
    binary = os.environ.get("TAVANA_BIN") or sys.exit("set TAVANA_BIN (make bench does)")
    db_path = os.path.join(tempfile.mkdtemp(), "tpch.duckdb")
    ext_dir = os.environ.get("TAVANA_DUCKDB_HOME", os.path.expanduser("~/.cache/tavana/duckdb-1.5.5")) + "/extensions"
    print(f"generating TPC-H sf={SCALE} ...", file=sys.stderr)
    with duckdb.connect(db_path, config={"extension_directory": ext_dir, "autoinstall_known_extensions": "false"}) as con:
        con.execute("LOAD tpch")
        con.execute(f"CALL dbgen(sf={SCALE})")

    def in_process():
        with duckdb.connect(db_path, read_only=True) as con:
            result = con.sql(QUERY).arrow()
            return result.read_all() if isinstance(result, pa.RecordBatchReader) else result

    print("in-process DuckDB ...", file=sys.stderr)
    direct_s, expected = timed(in_process)

    proc, port = start_server(binary, db_path)
    uri = f"grpc://127.0.0.1:{port}"
    try:
        def via_adbc():
            with flightsql.connect(uri) as conn, conn.cursor() as cur:
                cur.execute(QUERY)
                return cur.fetch_arrow_table()

        def via_pyarrow_flight():
            client = flight.connect(uri)
            info = client.get_flight_info(flight.FlightDescriptor.for_command(QUERY.encode()))
            return client.do_get(info.endpoints[0].ticket).read_all()

        with PeakRSS(proc.pid) as rss:
            print("ADBC Flight SQL ...", file=sys.stderr)
            adbc_s, t1 = timed(via_adbc)
            print("pyarrow.flight ...", file=sys.stderr)
            pf_s, t2 = timed(via_pyarrow_flight)
        assert t1.num_rows == t2.num_rows == expected.num_rows
        assert t1.equals(expected), "ADBC result differs from in-process DuckDB"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)

    result = {
        "benchmark": "flight_fetch", "query": QUERY, "scale_factor": SCALE, "rows": expected.num_rows,
        "bytes": expected.nbytes, "repeat": REPEAT,
        "duckdb_in_process_arrow_s": round(direct_s, 3),
        "tavana_adbc_s": round(adbc_s, 3),
        "tavana_pyarrow_flight_s": round(pf_s, 3),
        "ratio_adbc_vs_in_process": round(adbc_s / direct_s, 2),
        "ratio_pyarrow_flight_vs_in_process": round(pf_s / direct_s, 2),
        "target_ratio": 1.2,
        "server_peak_rss_mb": round(rss.peak_kb / 1024, 1),
    }
    out = ROOT / "bench" / "results" / "flight_fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
