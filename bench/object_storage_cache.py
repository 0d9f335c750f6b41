"""A repeated object-storage query, cold and warm: the same aggregate over a Parquet file and
a Delta table on a loopback S3 server (moto), run through Tavana (psycopg) and through
DuckDB directly with the same extensions and secret, side by side in one run. "Cold" is
the first run after the server (or the direct DuckDB) starts; "warm" the best of the
following runs, so the ratio shows what DuckDB's HTTP metadata and file caches save within
one worker. Moto's latency on loopback is far below a cloud's, so real savings are larger.
Writes bench/results/object_storage_cache.json. ROWS sets the table size (default 2M)."""
import io
import os
import re
import subprocess
import sys
import tempfile
import time

import boto3
import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import write_deltalake

sys.path.insert(0, os.path.dirname(__file__))
from _common import stop_server, write_result  # noqa: E402

ROWS = int(os.environ.get("ROWS", "2000000"))
WARM_RUNS = int(os.environ.get("WARM_RUNS", "5"))
KEY, SECRET = "bench-key", "bench-secret"
EXT_DIR = os.environ.get("TAVANA_DUCKDB_HOME", os.path.expanduser("~/.cache/tavana/duckdb-1.5.5")) + "/extensions"
QUERIES = {
    "parquet": "SELECT category, count(*), sum(amount) FROM 's3://bench/events.parquet' GROUP BY category ORDER BY category",
    "delta": "SELECT category, count(*), sum(amount) FROM delta_scan('s3://bench/events_delta') GROUP BY category ORDER BY category",
    # The same table attached with its snapshot pinned (TAVANA_ATTACH=events=delta-pinned:...):
    # the log is read once, at start, instead of on every query.
    "delta_pinned": "SELECT category, count(*), sum(amount) FROM events GROUP BY category ORDER BY category",
}
# What each query needs attached first: Tavana's setting, and the same for DuckDB directly.
ATTACH = {"delta_pinned": ("events=delta-pinned:s3://bench/events_delta",
                           "ATTACH 's3://bench/events_delta' AS events (TYPE delta, PIN_SNAPSHOT, READ_ONLY)")}


def start_moto() -> tuple[subprocess.Popen, str]:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1")
    deadline = time.time() + 30
    while True:
        try:
            client.create_bucket(Bucket="bench")
            break
        except Exception:  # noqa: BLE001 - not listening yet
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    print(f"writing {ROWS} rows as Parquet and Delta ...", file=sys.stderr)
    table = pa.table({"id": pa.array(range(ROWS), pa.int64()),
                      "category": pa.array([f"c{i % 16}" for i in range(ROWS)]),
                      "amount": pa.array([(i * 7919) % 1000 / 10 for i in range(ROWS)], pa.float64())})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=122_880)
    client.put_object(Bucket="bench", Key="events.parquet", Body=buf.getvalue())
    write_deltalake("s3://bench/events_delta", table, storage_options={
        "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"})
    return proc, endpoint


def timed(run) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def cold_and_warm(run) -> dict:
    cold = timed(run)
    warm = min(timed(run) for _ in range(WARM_RUNS))
    return {"cold_s": round(cold, 4), "warm_s": round(warm, 4), "cold_over_warm": round(cold / warm, 2)}


def through_tavana(endpoint: str, sql: str, attach: str | None) -> dict:
    binary = os.environ.get("TAVANA_BIN") or sys.exit("set TAVANA_BIN (make bench does)")
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    env = dict(os.environ, TAVANA_EXTENSIONS="httpfs,aws,delta", TAVANA_OBJECT_STORAGE_ENDPOINT=endpoint,
               AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    if attach:
        env["TAVANA_ATTACH"] = attach
    proc = subprocess.Popen([binary, "serve", "--pg-port", "0", "--flight-port", "0", "--http-port", "0", "--workers", "2"],
                            stdout=log, stderr=log, env=env)
    try:
        deadline = time.time() + 120
        while not (m := re.search(r"port=(\d+).*postgres listening", open(log.name).read())):
            if proc.poll() is not None or time.time() > deadline:
                sys.exit(f"tavana serve did not start:\n{open(log.name).read()}")
            time.sleep(0.2)
        with psycopg.connect(host="127.0.0.1", port=int(m.group(1)), user="bench", dbname="bench", autocommit=True) as c:
            return cold_and_warm(lambda: c.execute(sql).fetchall())
    finally:
        stop_server(proc)


def direct(endpoint: str, sql: str, attach: str | None) -> dict:
    con = duckdb.connect(config={"extension_directory": EXT_DIR, "autoinstall_known_extensions": "false"})
    for ext in ["httpfs", "aws", "delta"]:
        con.execute(f"LOAD {ext}")
    host = endpoint.removeprefix("http://")
    con.execute(f"CREATE SECRET s (TYPE s3, KEY_ID '{KEY}', SECRET '{SECRET}', ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false)")
    if attach:
        con.execute(attach)
    try:
        return cold_and_warm(lambda: con.execute(sql).fetchall())
    finally:
        con.close()


def main():
    proc, endpoint = start_moto()
    try:
        with duckdb.connect(config={"extension_directory": EXT_DIR}) as probe:
            settings = {name: probe.execute(f"SELECT current_setting('{name}')").fetchone()[0]
                        for name in ["enable_http_metadata_cache", "enable_external_file_cache"]}
        result = {"rows": ROWS, "warm_runs": WARM_RUNS, "duckdb_cache_settings_default": settings}
        for name, sql in QUERIES.items():
            print(f"{name}: direct DuckDB ...", file=sys.stderr)
            tavana_attach, direct_attach = ATTACH.get(name, (None, None))
            d = direct(endpoint, sql, direct_attach)
            print(f"{name}: through Tavana ...", file=sys.stderr)
            t = through_tavana(endpoint, sql, tavana_attach)
            result[name] = {"direct": d, "tavana": t,
                            "tavana_over_direct_warm": round(t["warm_s"] / d["warm_s"], 2),
                            "tavana_over_direct_cold": round(t["cold_s"] / d["cold_s"], 2)}
        write_result("object_storage_cache", result)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
