"""Object storage configured the way the chart does it: TAVANA_OBJECT_STORAGE_* for where,
the platform's AWS_* variables for who. The worker makes the DuckDB secret at start, so a
client's `s3://` paths just work, and the secret's value shows up nowhere: not in
duckdb_secrets(), not in the log. The S3 server is moto on loopback (a real S3 API)."""
from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import time

import adbc_driver_flightsql.dbapi
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tavana_server import HOST, running_server
from test_flight_sql import flight_port

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(120)

KEY_ID = "tavana-test-key"
SECRET = "s3cr3t-value-that-must-never-show"
BUCKET = "tavana-data"
ROWS = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_bucket(bucket: str, key_id: str, secret: str):
    """A moto server (S3 and STS) on loopback with one empty bucket: (endpoint, boto3 client)."""
    import boto3
    port = free_port()
    moto = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen([moto, "-H", HOST, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://{HOST}:{port}"
    try:
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key_id, aws_secret_access_key=secret,
                              region_name="us-east-1")
        deadline = time.monotonic() + 30
        while True:
            try:
                client.create_bucket(Bucket=bucket)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield endpoint, client
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on loopback with one bucket: a Parquet file and two CSV files."""
    with moto_bucket(BUCKET, KEY_ID, SECRET) as (endpoint, client):
        table = pa.table({"id": pa.array(range(ROWS), pa.int64()), "name": [f"n{i}" for i in range(ROWS)]})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        client.put_object(Bucket=BUCKET, Key="tables/items.parquet", Body=buf.getvalue())
        for part in range(2):
            body = "k,v\n" + "".join(f"{part},{i}\n" for i in range(10))
            client.put_object(Bucket=BUCKET, Key=f"csv/part={part}/data.csv", Body=body.encode())
        yield endpoint


def all_logs(server) -> str:
    """The server's log, and in cluster mode its workers' too (they make the secrets)."""
    return server.log() + "".join(open(w.log_path, errors="replace").read() for w in server.worker_procs)


def storage_env(endpoint: str, secret: str = SECRET) -> dict[str, str]:
    return {"TAVANA_OBJECT_STORAGE_ENDPOINT": endpoint, "TAVANA_OBJECT_STORAGE_BUCKET": BUCKET,
            "TAVANA_OBJECT_STORAGE_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": secret}


@pytest.fixture(scope="module")
def server(tavana_bin, s3):
    with running_server(tavana_bin, name="object-storage", env=storage_env(s3), config={"extensions": ["httpfs"]},
                        shared_catalog=False) as s:
        s.flight_port = flight_port(s)
        yield s


def test_psycopg_reads_parquet_from_s3(server):
    with server.connect() as c:
        rows = c.execute(f"SELECT count(*), sum(id), max(name) FROM read_parquet('s3://{BUCKET}/tables/items.parquet')").fetchone()
    assert rows == (ROWS, ROWS * (ROWS - 1) // 2, "n999")


def test_globs_and_hive_partitions_over_s3(server):
    with server.connect() as c:
        rows = c.execute(f"SELECT part, count(*), sum(v) FROM read_csv('s3://{BUCKET}/csv/*/data.csv', hive_partitioning=true) "
                         "GROUP BY part ORDER BY part").fetchall()
    assert [(int(p), n, int(s)) for p, n, s in rows] == [(0, 10, 45), (1, 10, 45)]


def test_adbc_reads_parquet_from_s3(server):
    uri = f"grpc://{server.host}:{server.flight_port}"
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, name FROM read_parquet('s3://{BUCKET}/tables/items.parquet') WHERE id < 3 ORDER BY id")
        table = cur.fetch_arrow_table()
    assert table.column("id").to_pylist() == [0, 1, 2]
    assert table.column("name").to_pylist() == ["n0", "n1", "n2"]


def test_the_secret_value_is_nowhere_a_user_or_operator_sees(server):
    with server.connect() as c:
        rows = c.execute("SELECT name, type, secret_string FROM duckdb_secrets()").fetchall()
    assert [(n, t) for n, t, _ in rows] == [("tavana_s3", "s3")]
    assert SECRET not in rows[0][2]
    assert KEY_ID in rows[0][2], "the key id (not secret) names the credentials"
    assert SECRET not in all_logs(server)
    assert "object storage configured" in all_logs(server)


def test_a_missing_object_is_a_clear_error_and_the_server_goes_on(server):
    with server.connect() as c:
        with pytest.raises(psycopg.Error) as e:
            c.execute(f"SELECT * FROM read_parquet('s3://{BUCKET}/no/such.parquet')")
        assert "no/such.parquet" in str(e.value)
        assert SECRET not in str(e.value)
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_a_request_s3_refuses_fails_the_query_not_the_server(tavana_bin, s3):
    # moto accepts any key, so this is a bucket that does not exist rather than a key S3
    # refuses: the refusal reaches the client as an error, the session goes on, and this
    # server's own secret value is not in its log either.
    with running_server(tavana_bin, name="object-storage-other-key", env=storage_env(s3, secret="another-secret-value"),
                        config={"extensions": ["httpfs"]}, shared_catalog=False) as s, s.connect() as c:
        with pytest.raises(psycopg.Error) as e:
            c.execute("SELECT * FROM read_parquet('s3://no-such-bucket/x.parquet')")
        assert "no-such-bucket" in str(e.value)
        assert c.execute("SELECT 2").fetchone() == (2,)
        assert "another-secret-value" not in all_logs(s)


def test_a_bad_url_style_is_refused_at_start(tavana_bin):
    r = subprocess.run([tavana_bin, "serve", "--host", HOST, "--pg-port", "0", "--flight-port", "0", "--http-port", "0"],
                       env={**os.environ, "TAVANA_OBJECT_STORAGE_URL_STYLE": "sideways"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "objectStorageUrlStyle must be path or vhost" in r.stdout + r.stderr
