"""PostgreSQL front door throughput: fetch TPC-H lineitem through Tavana with psycopg
(binary and text) and, in the same run, the same rows from in-process DuckDB; report
the times, the ratios and the server's peak memory. Writes bench/results/pg_fetch.json.

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

import duckdb
import psycopg

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
        m = re.search(r"port=(\d+).*postgres listening", text)
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
    best = None
    rows = 0
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        rows = fn()
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best, rows


def main():
    binary = os.environ.get("TAVANA_BIN") or sys.exit("set TAVANA_BIN (make bench does)")
    workdir = tempfile.mkdtemp()
    db_path = os.path.join(workdir, "tpch.duckdb")
    print(f"generating TPC-H sf={SCALE} ...", file=sys.stderr)
    # The tpch extension comes from Tavana's local folder, never the network.
    ext_dir = os.environ.get("TAVANA_DUCKDB_HOME", os.path.expanduser("~/.cache/tavana/duckdb-1.5.5")) + "/extensions"
    with duckdb.connect(db_path, config={"extension_directory": ext_dir, "autoinstall_known_extensions": "false"}) as con:
        con.execute("LOAD tpch")
        con.execute(f"CALL dbgen(sf={SCALE})")

    def direct():
        with duckdb.connect(db_path, read_only=True) as con:
            return len(con.sql(QUERY).fetchall())

    print("in-process DuckDB ...", file=sys.stderr)
    direct_s, rows = timed(direct)

    proc, port = start_server(binary, db_path)
    try:
        dsn = f"host=127.0.0.1 port={port} user=bench dbname=bench"

        def via_psycopg(binary_format):
            def run():
                with psycopg.connect(dsn) as conn:
                    cur = conn.cursor(binary=binary_format)
                    cur.execute(QUERY)
                    return len(cur.fetchall())
            return run

        with PeakRSS(proc.pid) as rss:
            print("psycopg binary ...", file=sys.stderr)
            binary_s, rows_b = timed(via_psycopg(True))
            print("psycopg text ...", file=sys.stderr)
            text_s, rows_t = timed(via_psycopg(False))
        assert rows_b == rows == rows_t, (rows, rows_b, rows_t)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)

    result = {
        "benchmark": "pg_fetch", "query": QUERY, "scale_factor": SCALE, "rows": rows, "repeat": REPEAT,
        "duckdb_in_process_fetchall_s": round(direct_s, 3),
        "tavana_psycopg_binary_s": round(binary_s, 3),
        "tavana_psycopg_text_s": round(text_s, 3),
        "ratio_binary_vs_in_process": round(binary_s / direct_s, 2),
        "ratio_text_vs_in_process": round(text_s / direct_s, 2),
        "server_peak_rss_mb": round(rss.peak_kb / 1024, 1),
    }
    out = ROOT / "bench" / "results" / "pg_fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
