"""Shared pieces of the benchmarks: TPC-H data, the server under test, timing, memory."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import duckdb

SCALE = float(os.environ.get("SCALE", "1"))
REPEAT = int(os.environ.get("REPEAT", "3"))


def tpch_database() -> str:
    """A DuckDB file with TPC-H at SCALE; the tpch extension comes from Tavana's local
    folder, never the network."""
    path = os.path.join(tempfile.mkdtemp(), "tpch.duckdb")
    ext_dir = os.environ.get("TAVANA_DUCKDB_HOME", os.path.expanduser("~/.cache/tavana/duckdb-1.5.5")) + "/extensions"
    print(f"generating TPC-H sf={SCALE} ...", file=sys.stderr)
    with duckdb.connect(path, config={"extension_directory": ext_dir, "autoinstall_known_extensions": "false"}) as con:
        con.execute("LOAD tpch")
        con.execute(f"CALL dbgen(sf={SCALE})")
    return path


def start_server(database: str):
    """Starts `tavana serve` on free ports; returns (process, postgres port, flight port)."""
    binary = os.environ.get("TAVANA_BIN") or sys.exit("set TAVANA_BIN (make bench does)")
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    env = dict(os.environ, TAVANA_EXTENSIONS="tpch")
    proc = subprocess.Popen([binary, "serve", "--pg-port", "0", "--flight-port", "0", "--http-port", "0",
                             "--database", database, "--workers", "2", "--log-level", os.environ.get("BENCH_LOG_LEVEL", "info")], stdout=log, stderr=log, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        text = open(log.name).read()
        pg = re.search(r"port=(\d+).*postgres listening", text)
        fl = re.search(r"port=(\d+).*flight listening", text)
        if pg and fl:
            return proc, int(pg.group(1)), int(fl.group(1))
        if proc.poll() is not None:
            sys.exit(f"tavana serve exited:\n{text}")
        time.sleep(0.2)
    proc.kill()
    sys.exit("tavana serve did not start")


def _wait_for(log_path: str, patterns: list[str], proc, what: str) -> list[int]:
    deadline = time.time() + 120
    while time.time() < deadline:
        text = open(log_path).read()
        found = [re.search(p, text) for p in patterns]
        if all(found):
            return [int(m.group(1)) for m in found]
        if proc.poll() is not None:
            sys.exit(f"{what} exited:\n{text}")
        time.sleep(0.2)
    proc.kill()
    sys.exit(f"{what} did not start")


def start_cluster(database: str, slots: int = 2):
    """Starts `tavana worker` on `database` and a `tavana gateway` in front of it; returns
    ([processes], postgres port, flight port). The gateway hop, nothing else, differs from
    `start_server`."""
    binary = os.environ.get("TAVANA_BIN") or sys.exit("set TAVANA_BIN (make bench does)")
    env = dict(os.environ, TAVANA_EXTENSIONS="tpch")
    level = os.environ.get("BENCH_LOG_LEVEL", "info")
    wlog = tempfile.NamedTemporaryFile("w+", suffix="-worker.log", delete=False)
    worker = subprocess.Popen([binary, "worker", "--port", "0", "--http-port", "0", "--database", database,
                               "--slots", str(slots), "--log-level", level], stdout=wlog, stderr=wlog, env=env)
    (wport,) = _wait_for(wlog.name, [r"port=(\d+).*worker listening"], worker, "tavana worker")
    glog = tempfile.NamedTemporaryFile("w+", suffix="-gateway.log", delete=False)
    gateway = subprocess.Popen([binary, "gateway", "--pg-port", "0", "--flight-port", "0", "--http-port", "0",
                                "--workers", f"127.0.0.1:{wport}", "--log-level", level], stdout=glog, stderr=glog, env=env)
    pg, fl = _wait_for(glog.name, [r"port=(\d+).*postgres listening", r"port=(\d+).*flight listening"], gateway,
                       "tavana gateway")
    return [gateway, worker], pg, fl


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


class PeakRSS:
    """Samples a process's VmRSS every 50 ms and keeps the maximum."""

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


def write_result(name: str, result: dict):
    """Writes bench/results/NAME.json and prints it."""
    import json
    import pathlib
    out = pathlib.Path(__file__).resolve().parent / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def interleaved(ways):
    """REPEAT rounds, each running every way once in turn: {name: (best seconds, last
    result)}. A way that raises is reported by its message (as the result) with no time."""
    best = {name: (None, None) for name in ways}
    for round_no in range(REPEAT):
        for name, fn in ways.items():
            if isinstance(best[name][1], str):
                continue  # failed before; it would fail again
            t0 = time.perf_counter()
            try:
                result = fn()
            except Exception as e:  # reported in the JSON, not hidden
                best[name] = (None, str(e)[:300])
                continue
            elapsed = time.perf_counter() - t0
            previous = best[name][0]
            best[name] = (elapsed if previous is None else min(previous, elapsed), result)
            print(f"[bench] round {round_no + 1}/{REPEAT} {name}: {elapsed:.3f} s", flush=True)
    return best


def timed(fn):
    """Best of REPEAT runs: (seconds, last result)."""
    best, result = None, None
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best, result
