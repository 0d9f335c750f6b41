"""The table formats users keep in object storage, read the way the product spec shows them:
`SELECT * FROM delta_scan('s3://bucket/table')` through psql, psycopg and ADBC, plus
Iceberg, JSON, GCS paths through a TYPE gcs secret, `COPY ... TO` object storage when the
operator allows writes, and cluster mode's DuckLake catalog with its data on S3.

Everything runs with the sandbox on (the default): DuckDB's external access is off and only
object storage, the allowed folders and the lake's data path are reachable. The S3 server is
moto on loopback; the Delta table is written by `deltalake` (delta-rs) and the Iceberg table
by `pyiceberg`, so neither is DuckDB reading its own output."""
from __future__ import annotations

import io
import json
import os
import subprocess
import time

import adbc_driver_flightsql.dbapi
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tavana_server import HOST, running_server
from test_flight_sql import flight_port
from test_object_storage import free_port, moto_bucket

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(180)

KEY_ID = "formats-key"
SECRET = "formats-s3cr3t-never-shown"
GCS_KEY_ID = "formats-gcs-key"
GCS_SECRET = "formats-gcs-s3cr3t-never-shown"
BUCKET = "bucket"
PSQL = "/usr/bin/psql"

# What the Delta table holds after its two commits (a write, then an append).
DELTA_ROWS = [(1, "ada"), (2, "grace"), (3, "edsger"), (4, "barbara")]


def boto(endpoint: str):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        region_name="us-east-1")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """moto on loopback with bucket `bucket`: a Delta table at `table` (two commits), an
    Iceberg table (its metadata file's path is yielded), JSON lines and hive-partitioned
    Parquet."""
    with moto_bucket(BUCKET, KEY_ID, SECRET) as (endpoint, client):
        from deltalake import write_deltalake
        options = {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
                   "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"}
        first = pa.table({"id": pa.array([r[0] for r in DELTA_ROWS[:3]], pa.int64()),
                          "name": [r[1] for r in DELTA_ROWS[:3]]})
        write_deltalake(f"s3://{BUCKET}/table", first, storage_options=options)
        write_deltalake(f"s3://{BUCKET}/table", pa.table({"id": pa.array([4], pa.int64()), "name": ["barbara"]}),
                        storage_options=options, mode="append")

        from pyiceberg.catalog.sql import SqlCatalog
        catalog_db = tmp_path_factory.mktemp("iceberg") / "catalog.db"
        catalog = SqlCatalog("test", uri=f"sqlite:///{catalog_db}", warehouse=f"s3://{BUCKET}/iceberg",
                             **{"s3.endpoint": endpoint, "s3.access-key-id": KEY_ID, "s3.secret-access-key": SECRET,
                                "s3.region": "us-east-1"})
        catalog.create_namespace("sales")
        events = pa.table({"day": pa.array([1, 1, 2, 3], pa.int32()), "amount": pa.array([10.5, 2.0, 7.25, 1.0])})
        iceberg = catalog.create_table("sales.events", schema=events.schema)
        iceberg.append(events)

        lines = "".join(json.dumps({"user": f"u{i}", "score": i * 3}) + "\n" for i in range(20))
        client.put_object(Bucket=BUCKET, Key="json/scores.jsonl", Body=lines.encode())
        for year in (2024, 2025):
            buf = io.BytesIO()
            pq.write_table(pa.table({"v": pa.array(range(year - 2020), pa.int64())}), buf)
            client.put_object(Bucket=BUCKET, Key=f"hive/year={year}/part-0.parquet", Body=buf.getvalue())
        yield {"endpoint": endpoint, "iceberg": iceberg.metadata_location}


def storage_env(endpoint: str, **extra: str) -> dict[str, str]:
    return {"TAVANA_OBJECT_STORAGE_ENDPOINT": endpoint, "TAVANA_OBJECT_STORAGE_BUCKET": BUCKET,
            "TAVANA_OBJECT_STORAGE_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
            "GCS_HMAC_KEY_ID": GCS_KEY_ID, "GCS_HMAC_SECRET": GCS_SECRET, **extra}


@pytest.fixture(scope="module")
def server(tavana_bin, store):
    # The default extensions (httpfs, aws, azure, delta, avro, iceberg, ...), as users get them.
    with running_server(tavana_bin, name="formats", env=storage_env(store["endpoint"]), default_extensions=True,
                        shared_catalog=False) as s:
        s.flight_port = flight_port(s)
        yield s


def adbc_table(server, sql: str) -> pa.Table:
    uri = f"grpc://{server.host}:{server.flight_port}"
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table()


def all_logs(server) -> str:
    return server.log() + "".join(open(w.log_path, errors="replace").read() for w in server.worker_procs)


def test_the_spec_query_through_psql(server):
    r = subprocess.run([PSQL, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", server.conninfo(),
                        "-c", "SELECT * FROM delta_scan('s3://bucket/table')"],
                       capture_output=True, text=True, timeout=60,
                       env={**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "PGCONNECT_TIMEOUT": "10"})
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == sorted(f"{i}|{n}" for i, n in DELTA_ROWS)


def test_the_spec_query_through_psycopg(server):
    with server.connect() as c:
        cur = c.execute("SELECT * FROM delta_scan('s3://bucket/table')")
        rows = cur.fetchall()
        names = [d.name for d in cur.description]
    assert names == ["id", "name"]
    assert sorted(rows) == DELTA_ROWS


def test_the_spec_query_through_adbc(server):
    table = adbc_table(server, "SELECT * FROM delta_scan('s3://bucket/table')")
    assert table.schema.field("id").type == pa.int64()
    assert sorted(zip(table.column("id").to_pylist(), table.column("name").to_pylist())) == DELTA_ROWS


def test_delta_filters_and_aggregates_push_through(server):
    with server.connect() as c:
        assert c.execute("SELECT count(*), max(name) FROM delta_scan('s3://bucket/table') WHERE id >= 2").fetchone() \
            == (3, "grace")


def test_iceberg_through_both_front_doors(server, store):
    sql = f"SELECT day, sum(amount) AS total FROM iceberg_scan('{store['iceberg']}') GROUP BY day ORDER BY day"
    with server.connect() as c:
        assert c.execute(sql).fetchall() == [(1, 12.5), (2, 7.25), (3, 1.0)]
    table = adbc_table(server, sql)
    assert table.column("total").to_pylist() == [12.5, 7.25, 1.0]


def test_json_lines_over_s3(server):
    with server.connect() as c:
        assert c.execute("SELECT count(*), sum(score) FROM read_json('s3://bucket/json/scores.jsonl')").fetchone() \
            == (20, 3 * 190)


def test_hive_partitioned_parquet_with_a_glob(server):
    table = adbc_table(server, "SELECT year, count(*) AS n FROM read_parquet('s3://bucket/hive/*/*.parquet', "
                               "hive_partitioning=true) GROUP BY year ORDER BY year")
    assert [int(y) for y in table.column("year").to_pylist()] == [2024, 2025]
    assert table.column("n").to_pylist() == [4, 5]


@pytest.mark.parametrize("scheme", ["gs", "gcs"])
def test_gcs_paths_through_the_gcs_secret(server, scheme):
    # The GCS HMAC keys become a TYPE gcs secret on the same (S3-compatible) endpoint.
    with server.connect() as c:
        assert c.execute(f"SELECT count(*) FROM delta_scan('{scheme}://bucket/table')").fetchone() == (4,)
        assert c.execute(f"SELECT count(*) FROM read_json('{scheme}://bucket/json/scores.jsonl')").fetchone() == (20,)
        secrets = c.execute("SELECT name, type, secret_string FROM duckdb_secrets() ORDER BY name").fetchall()
    assert [(n, t) for n, t, _ in secrets] == [("tavana_gcs", "gcs"), ("tavana_s3", "s3")]
    assert all(SECRET not in s and GCS_SECRET not in s for _, _, s in secrets)
    logs = all_logs(server)
    assert SECRET not in logs and GCS_SECRET not in logs


def test_copy_to_object_storage_is_refused_without_writes(server, store):
    with server.connect() as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as e:
            c.execute("COPY (SELECT 1 AS x) TO 's3://bucket/refused/x.parquet'")
        assert "objectStorageWrites" in str(e.value) or "sandbox" in str(e.value)
        assert c.execute("SELECT 1").fetchone() == (1,)
    listed = boto(store["endpoint"]).list_objects_v2(Bucket=BUCKET, Prefix="refused/")
    assert listed.get("KeyCount", 0) == 0


def test_copy_to_object_storage_when_the_operator_allows_writes(tavana_bin, store):
    env = storage_env(store["endpoint"], TAVANA_OBJECT_STORAGE_WRITES="true")
    with running_server(tavana_bin, name="formats-writes", env=env, default_extensions=True,
                        shared_catalog=False) as s, s.connect() as c:
        c.execute("COPY (SELECT range AS i, 'r' || range AS label FROM range(100)) TO 's3://bucket/written/r.parquet'")
        c.execute("COPY (SELECT range AS i, range * 2 AS doubled FROM range(10)) TO 's3://bucket/written/csv' (FORMAT csv, PARTITION_BY (i))")
        assert c.execute("SELECT count(*), sum(i) FROM 's3://bucket/written/r.parquet'").fetchone() == (100, 4950)
        # Writes go to object storage only: a local path is still refused.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("COPY (SELECT 1) TO '/tmp/tavana-formats-escape.csv'")
    assert not os.path.exists("/tmp/tavana-formats-escape.csv")
    # What landed, read back by another client of the same S3 server.
    body = boto(store["endpoint"]).get_object(Bucket=BUCKET, Key="written/r.parquet")["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    assert table.num_rows == 100 and table.column("label").to_pylist()[:2] == ["r0", "r1"]
    keys = [o["Key"] for o in boto(store["endpoint"]).list_objects_v2(Bucket=BUCKET, Prefix="written/csv/")["Contents"]]
    assert len(keys) == 10 and all(k.startswith("written/csv/i=") for k in keys)


def test_a_ducklake_table_written_through_one_worker_is_read_through_the_other_with_its_data_on_s3(tavana_bin, store):
    # Always a cluster: this is the shared catalog of cluster mode, its data in the S3 server.
    env = storage_env(store["endpoint"], TAVANA_DUCKLAKE_DATA_PATH="s3://bucket/lake/")
    with running_server(tavana_bin, name="lake-on-s3", workers=4, cluster=True, env=env,
                        config={"extensions": ["httpfs"]}) as s:
        from test_cluster import worker_value
        conns = [s.connect() for _ in range(6)]
        try:
            # Sessions spread over both workers, so each reads files the other one wrote.
            counts = [worker_value(w, "tavana_sessions") for w in s.worker_procs]
            assert len(counts) == 2 and all(n >= 1 for n in counts), f"sessions not on both workers: {counts}"
            conns[0].execute("CREATE TABLE trips AS SELECT range AS id, range * 1.5 AS km FROM range(1000)")
            conns[5].execute("INSERT INTO trips VALUES (1000, 0.5)")
            for c in conns:
                assert c.execute("SELECT count(*), max(id) FROM trips").fetchone() == (1001, 1000)
        finally:
            for c in conns:
                c.close()
    keys = [o["Key"] for o in boto(store["endpoint"]).list_objects_v2(Bucket=BUCKET, Prefix="lake/")["Contents"]]
    assert any(k.endswith(".parquet") for k in keys), keys


def reference_databases(tmp_path, endpoint: str) -> dict[str, str]:
    """Two DuckDB files written by DuckDB's Python package: one in the bucket, one on a local
    disk outside every allowed folder (as a volume mounted into the pod would be)."""
    import duckdb
    remote = tmp_path / "ref.duckdb"
    with duckdb.connect(str(remote)) as d:
        d.execute("CREATE TABLE countries AS SELECT range AS id, 'c' || range AS name FROM range(250)")
    boto(endpoint).put_object(Bucket=BUCKET, Key="ref/ref.duckdb", Body=remote.read_bytes())
    (tmp_path / "mounted").mkdir()
    local = tmp_path / "mounted" / "codes.duckdb"
    with duckdb.connect(str(local)) as d:
        d.execute("CREATE TABLE codes AS SELECT * FROM (VALUES ('ada', 'A'), ('grace', 'G')) t(name, code)")
    return {"ref": f"s3://{BUCKET}/ref/ref.duckdb", "codes": str(local)}


def test_read_only_databases_and_start_up_sql_on_every_worker(tavana_bin, store, tmp_path):
    config = {
        "attach": reference_databases(tmp_path, store["endpoint"]),
        # Run once per worker, as the operator: a view over the Delta table and the local
        # database, and a macro.
        "startupSql": ["CREATE VIEW people AS SELECT p.id, p.name, c.code FROM delta_scan('s3://bucket/table') p "
                       "LEFT JOIN codes.codes c USING (name)",
                       "CREATE MACRO km_to_miles(km) AS round(km * 0.621371, 3)"],
    }
    with running_server(tavana_bin, name="formats-startup", env=storage_env(store["endpoint"]), config=config,
                        default_extensions=True) as s:
        s.flight_port = flight_port(s)
        conns = [s.connect() for _ in range(4)]
        try:
            for c in conns:  # every session, on whichever worker it landed
                assert c.execute("SELECT count(*), max(id) FROM ref.countries").fetchone() == (250, 249)
                assert sorted(c.execute("SELECT id, name, code FROM people").fetchall()) == [
                    (1, "ada", "A"), (2, "grace", "G"), (3, "edsger", None), (4, "barbara", None)]
                assert float(c.execute("SELECT km_to_miles(10)").fetchone()[0]) == 6.214
            table = adbc_table(s, "SELECT r.name, p.name AS person FROM ref.countries r JOIN people p ON r.id = p.id ORDER BY r.id")
            assert table.column("name").to_pylist() == ["c1", "c2", "c3", "c4"]
            assert table.column("person").to_pylist() == [n for _, n in DELTA_ROWS]
            c = conns[0]
            # Read-only for every session, and not theirs to detach.
            with pytest.raises(psycopg.Error, match="read-only"):
                c.execute("INSERT INTO ref.countries VALUES (999, 'x')")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("DETACH codes")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(f"ATTACH '{tmp_path}/mounted/codes.duckdb' AS mine")
            assert c.execute("SELECT count(*) FROM codes.codes").fetchone() == (2,)
        finally:
            for c in conns:
                c.close()


def test_delta_tables_attached_at_start_fresh_or_pinned_to_their_snapshot(tavana_bin, store):
    """`delta:` attaches a Delta table that every query reads afresh; `delta-pinned:` reads its
    snapshot once at start and reuses it (docs/object-storage.md, Caching), so a commit made
    afterwards shows in the first and not in the second."""
    from deltalake import write_deltalake
    options = {"AWS_ENDPOINT_URL": store["endpoint"], "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
               "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"}
    write_deltalake(f"s3://{BUCKET}/attached", pa.table({"id": pa.array([1, 2], pa.int64())}), storage_options=options)
    env = storage_env(store["endpoint"],
                      TAVANA_ATTACH="fresh=delta:s3://bucket/attached,pinned=delta-pinned:s3://bucket/attached")
    with running_server(tavana_bin, name="formats-delta-attach", env=env, default_extensions=True) as s:
        s.flight_port = flight_port(s)
        with s.connect() as c:
            assert c.execute("SELECT count(*) FROM fresh").fetchone() == (2,)
            assert c.execute("SELECT count(*) FROM pinned").fetchone() == (2,)
            with pytest.raises(psycopg.Error):
                c.execute("INSERT INTO fresh VALUES (9)")
        write_deltalake(f"s3://{BUCKET}/attached", pa.table({"id": pa.array([3], pa.int64())}), storage_options=options,
                        mode="append")
        with s.connect() as c:
            assert c.execute("SELECT count(*) FROM fresh").fetchone() == (3,), "a fresh attachment sees the new commit"
            assert c.execute("SELECT count(*) FROM pinned").fetchone() == (2,), "a pinned one keeps its snapshot"
        assert adbc_table(s, "SELECT sum(id) AS s FROM fresh").column("s").to_pylist() == [6]


def test_a_start_up_statement_that_fails_stops_the_server_with_a_clear_message(tavana_bin, store, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"extensions": [], "startupSql": ["CREATE VIEW broken AS SELECT * FROM no_such_table"]}))
    r = subprocess.run([tavana_bin, "serve", "--host", HOST, "--pg-port", str(free_port()), "--flight-port", str(free_port()),
                        "--http-port", str(free_port()), "--config", str(config)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode not in (0, -6, -11, 134, 139), r.stderr
    assert "start-up statement 1 of 1 failed" in r.stderr and "no_such_table" in r.stderr, r.stderr


def s3_key_id(conn) -> str:
    text = conn.execute("SELECT secret_string FROM duckdb_secrets() WHERE name = 'tavana_s3'").fetchone()[0]
    return next(part.split("=", 1)[1] for part in text.split(";") if part.startswith("key_id="))


def test_aws_web_identity_keys_from_sts_are_used_and_refreshed_before_they_expire(tavana_bin, store, tmp_path):
    """IRSA as EKS sets it up: a role and a token file, no keys. Tavana exchanges the token at
    STS (moto's, on loopback) itself and replaces the keys before they expire; here they are
    asked for 900 s and replaced 896 s early, so every few seconds."""
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGF2YW5hOnRhdmFuYSJ9.c2ln\n")
    env = {"TAVANA_OBJECT_STORAGE_ENDPOINT": store["endpoint"], "TAVANA_OBJECT_STORAGE_BUCKET": BUCKET,
           "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/tavana-workers", "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
           "AWS_ENDPOINT_URL_STS": store["endpoint"], "AWS_REGION": "us-east-1",
           "TAVANA_WEB_IDENTITY_DURATION": "900", "TAVANA_CREDENTIAL_REFRESH_MARGIN": "896"}
    with running_server(tavana_bin, name="formats-irsa", env=env, default_extensions=True, shared_catalog=False) as s:
        s.flight_port = flight_port(s)
        with s.connect() as c:
            first = s3_key_id(c)
            assert first.startswith("ASIA"), first  # STS's temporary keys, not static ones
            assert c.execute("SELECT count(*) FROM read_parquet('s3://bucket/hive/year=2024/part-0.parquet')").fetchone() == (4,)
            assert sorted(c.execute("SELECT * FROM delta_scan('s3://bucket/table')").fetchall()) == DELTA_ROWS
            deadline = time.monotonic() + 30
            while s3_key_id(c) == first and time.monotonic() < deadline:
                time.sleep(0.5)
            assert s3_key_id(c) != first, "the keys were not refreshed"
            # Reads go on with the new keys, through both front doors.
            assert sorted(c.execute("SELECT * FROM delta_scan('s3://bucket/table')").fetchall()) == DELTA_ROWS
        table = adbc_table(s, "SELECT count(*) AS n FROM read_parquet('s3://bucket/hive/*/*.parquet')")
        assert table.column("n").to_pylist() == [9]
        logs = all_logs(s)
        assert "object storage credentials obtained" in logs and "object storage credentials refreshed" in logs
        assert "aws=web_identity" in logs
        assert token.read_text().strip() not in logs, "the token never reaches the logs"


def test_the_aws_extensions_own_credential_chain_finds_a_shared_credentials_file(tavana_bin, store, tmp_path):
    """No keys in the environment and no web identity: the tavana_s3 secret is the aws
    extension's credential_chain, which finds the keys in AWS_SHARED_CREDENTIALS_FILE (what
    a mounted profile gives a pod); read_parquet and delta_scan both use them."""
    profile = tmp_path / "credentials"
    profile.write_text(f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n")
    env = {"TAVANA_OBJECT_STORAGE_ENDPOINT": store["endpoint"], "TAVANA_OBJECT_STORAGE_BUCKET": BUCKET,
           "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": str(profile),
           "AWS_CONFIG_FILE": str(tmp_path / "no-config"), "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "us-east-1"}
    with running_server(tavana_bin, name="formats-chain", env=env, default_extensions=True, shared_catalog=False) as s:
        with s.connect() as c:
            secret = c.execute("SELECT secret_string FROM duckdb_secrets() WHERE name = 'tavana_s3'").fetchone()[0]
            assert "provider=credential_chain" in secret and f"key_id={KEY_ID}" in secret, secret
            assert SECRET not in secret
            assert c.execute("SELECT count(*) FROM read_parquet('s3://bucket/hive/*/*.parquet')").fetchone() == (9,)
            assert sorted(c.execute("SELECT * FROM delta_scan('s3://bucket/table')").fetchall()) == DELTA_ROWS
        assert "aws=credential_chain" in all_logs(s) and SECRET not in all_logs(s)


def test_a_credential_chain_that_finds_nothing_at_start_fails_reads_not_the_server(tavana_bin, store, tmp_path):
    # A bucket is set but the pod has no AWS credentials at all (a GKE pod, say): the
    # worker starts, and an s3:// read fails with an error for that query only.
    env = {"TAVANA_OBJECT_STORAGE_BUCKET": BUCKET, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "us-east-1"}
    with running_server(tavana_bin, name="formats-no-credentials", env=env, default_extensions=True,
                        shared_catalog=False) as s:
        with s.connect() as c:
            with pytest.raises(psycopg.Error):
                c.execute(f"SELECT count(*) FROM read_parquet('s3://{BUCKET}/hive/year=2024/part-0.parquet')")
        with s.connect() as c:
            assert c.execute("SELECT 1").fetchone() == (1,)


def test_a_web_identity_sts_refuses_stops_the_server_with_its_reason(tavana_bin, tmp_path):
    # STS is unreachable (a closed port): the worker does not start without its storage.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
           "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r", "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "missing-token"),
           "AWS_ENDPOINT_URL_STS": f"http://{HOST}:{free_port()}"}
    r = subprocess.run([tavana_bin, "serve", "--host", HOST, "--pg-port", str(free_port()), "--flight-port", str(free_port()),
                        "--http-port", str(free_port())], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode not in (0, -6, -11, 134, 139), r.stderr
    assert "web identity" in r.stderr and "token file" in r.stderr, r.stderr


def test_a_bucket_with_credentials_of_its_own_is_read_through_its_scoped_secret(tavana_bin, store, tmp_path):
    """A second S3 server holds a partner's bucket with keys of its own: reads of
    s3://partner/... go there through the scoped secret, everything else to the default."""
    partner_key, partner_secret = "partner-key", "partner-s3cr3t-never-shown"
    with moto_bucket("partner", partner_key, partner_secret) as (partner_endpoint, partner):
        buf = io.BytesIO()
        pq.write_table(pa.table({"sku": ["a", "b", "c"], "qty": [5, 7, 9]}), buf)
        partner.put_object(Bucket="partner", Key="stock/stock.parquet", Body=buf.getvalue())
        config = {"objectStorageScopes": [{"type": "s3", "scope": "s3://partner", "endpoint": partner_endpoint,
                                            "keyIdVariable": "PARTNER_KEY_ID", "secretVariable": "PARTNER_SECRET"}]}
        env = storage_env(store["endpoint"], PARTNER_KEY_ID=partner_key, PARTNER_SECRET=partner_secret)
        with running_server(tavana_bin, name="formats-scoped", env=env, config=config, default_extensions=True,
                            shared_catalog=False) as s, s.connect() as c:
            assert c.execute("SELECT sum(qty) FROM 's3://partner/stock/stock.parquet'").fetchone() == (21,)
            assert sorted(c.execute("SELECT * FROM delta_scan('s3://bucket/table')").fetchall()) == DELTA_ROWS
            assert c.execute("SELECT name FROM which_secret('s3://partner/stock/stock.parquet', 's3')").fetchone() == ("tavana_scope_1",)
            assert c.execute("SELECT name FROM which_secret('s3://bucket/table', 's3')").fetchone() == ("tavana_s3",)
            shown = " ".join(str(r) for r in c.execute("SELECT * FROM duckdb_secrets()").fetchall())
            assert partner_secret not in shown and "s3://partner" in shown
            # The partner's bucket is not on the default server: the scope is what reaches it.
            with pytest.raises(psycopg.Error):
                c.execute("SELECT * FROM 's3://bucket/stock/stock.parquet'")
            assert partner_secret not in all_logs(s)
