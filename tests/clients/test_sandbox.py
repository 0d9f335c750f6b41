"""The sandbox (docs/security.md): users' SQL reaches the configured storage, the allowed
folders and its own session, nothing else on the worker. Every escape attempt below goes
through both front doors (psycopg and ADBC Flight SQL) and must be refused with 42501 /
PERMISSION_DENIED; afterwards nothing was written, no shared setting changed, the refusals are
in the log and the server serves on. The per-session settings PostgreSQL clients send keep
working. Runs in `serve` and in cluster mode (the sandbox is then the workers')."""
from __future__ import annotations

import os
import subprocess
import tempfile

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import psycopg
import pytest

from tavana_server import CLUSTER, HOST, TavanaServer, running_server
from test_flight_sql import flight_port

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(180)

SECRET_MARK = "tavana-sandbox-private-value"


@pytest.fixture(scope="module")
def folders():
    """An allowed folder with a CSV file, and beside it (outside) a private file."""
    with tempfile.TemporaryDirectory(prefix="tavana-sandbox-") as root:
        allowed = os.path.join(root, "allowed")
        os.makedirs(allowed)
        with open(os.path.join(allowed, "ok.csv"), "w") as f:
            f.write("a,b\n1,x\n2,y\n")
        private = os.path.join(root, "private.csv")
        with open(private, "w") as f:
            f.write(f"secret\n{SECRET_MARK}\n")
        yield {"root": root, "allowed": allowed, "private": private}


@pytest.fixture(scope="module")
def server(tavana_bin, folders):
    with running_server(tavana_bin, "--allowed-directories", folders["allowed"], name="sandbox",
                        default_extensions=True) as s:
        s.flight_port = flight_port(s)
        yield s


def escapes(folders) -> list[str]:
    allowed, private, root = folders["allowed"], folders["private"], folders["root"]
    written = os.path.join(root, "written.csv")
    return [
        # Files outside the allowed folder, by every reader and path trick.
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd', header = false)",
        "SELECT * FROM read_blob('/proc/self/environ')",
        "SELECT * FROM read_text('/proc/self/cmdline')",
        f"SELECT * FROM '{private}'",
        f"SELECT * FROM read_csv('{allowed}/../private.csv')",
        f"SELECT * FROM read_text('{allowed}/./../private.csv')",
        "SELECT * FROM read_text('file:///etc/passwd')",
        "SELECT * FROM read_text('/dev/stdin')",
        "SELECT * FROM glob('/etc/*')",
        f"SELECT * FROM glob('{root}/*')",
        "SELECT * FROM read_json('/etc/hosts')",
        "SELECT * FROM read_parquet('/usr/lib/*.parquet')",
        "SELECT * FROM sniff_csv('/etc/passwd')",
        "CREATE TEMP TABLE stolen AS SELECT * FROM read_text('/etc/shadow')",
        # The network from the worker: the cloud metadata server, any HTTP endpoint.
        "SELECT * FROM read_text('http://169.254.169.254/latest/meta-data/iam/security-credentials/')",
        "SELECT * FROM read_csv('https://127.0.0.1:1/x.csv')",
        "SELECT * FROM postgres_scan('host=127.0.0.1 port=1', 'public', 't')",
        # Writing the worker's files.
        f"COPY (SELECT 1) TO '{written}'",
        f"COPY (SELECT 1) TO '{allowed}/written.csv'",
        "COPY (SELECT 1 AS a) TO 's3://bucket/x.parquet' (FORMAT parquet)",
        f"EXPORT DATABASE '{root}/export'",
        f"IMPORT DATABASE '{allowed}'",
        # Databases, extensions and secrets every session shares.
        f"ATTACH '{root}/escape.duckdb' AS escape",
        "ATTACH ':memory:' AS scratch",
        "DETACH system",
        "INSTALL httpfs",
        "LOAD httpfs",
        "FORCE INSTALL httpfs",
        "CREATE SECRET mine (TYPE s3, KEY_ID 'a', SECRET 'b', ENDPOINT '127.0.0.1:1')",
        "CREATE PERSISTENT SECRET kept (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "DROP SECRET tavana_s3",
        "CALL load_aws_credentials()",
        # Settings of the whole worker.
        "SET threads = 1",
        "SET memory_limit = '1MB'",
        "SET GLOBAL TimeZone = 'Asia/Tokyo'",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET temp_directory = '/tmp'",
        "SET lock_configuration = true",
        "SET disabled_filesystems = 'LocalFileSystem'",
        "SET s3_endpoint = '127.0.0.1:1'",
        "SET allow_unredacted_secrets = true",
        "SET profiling_output = '/tmp/tavana-profile.json'",
        "SET default_null_order = 'nulls_first'",
        "RESET ALL",
        "PRAGMA threads = 1",
        "PRAGMA enable_profiling",
        "FORCE CHECKPOINT",
        # The log (every session's statements), and SQL the check would not see.
        "CALL enable_logging(storage = 'file', storage_path = '/tmp/tavana-logs')",
        "SELECT * FROM duckdb_logs",
        "SELECT * FROM query('SELECT * FROM duckdb_logs')",
        "SELECT * FROM query('SELECT * FROM ' || 'duckdb_logs')",
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
        "SELECT * FROM __ducklake_metadata_lake.ducklake_snapshot",
    ]


def test_there_are_at_least_forty_escapes(folders):
    assert len(escapes(folders)) >= 40


def test_every_escape_is_refused_through_postgres(server, folders):
    refused = []
    with server.connect() as c:
        for sql in escapes(folders):
            with pytest.raises(psycopg.Error) as e:
                c.execute(sql)
            assert e.value.sqlstate == "42501", f"{sql}: {e.value.sqlstate} {e.value}"
            assert SECRET_MARK not in str(e.value)
            refused.append(sql)
        assert c.execute("SELECT 1").fetchone() == (1,), "the session goes on"
    assert len(refused) == len(escapes(folders))


def test_every_escape_is_refused_through_flight_sql(server, folders):
    uri = f"grpc://{server.host}:{server.flight_port}"
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        for sql in escapes(folders):
            with pytest.raises(adbc_driver_manager.Error) as e:
                cur.execute(sql)
                cur.fetchall()
            text = str(e.value)
            assert e.value.status_code == adbc_driver_manager.AdbcStatusCode.UNAUTHORIZED, f"{sql}: {text}"
            assert "PermissionDenied" in text, f"{sql}: {text}"
            assert SECRET_MARK not in text
        cur.execute("SELECT 2 AS v")
        assert cur.fetchall() == [(2,)]


def test_a_multi_statement_text_cannot_hide_a_refused_statement(server):
    # psql sends the whole line as one simple query: the refusal covers every statement in it.
    r = subprocess.run(["psql", "-X", "-h", server.host, "-p", str(server.port), "-U", "user", "-d", "user",
                        "-v", "ON_ERROR_STOP=1", "-c", "SELECT 1; SET threads = 1; SELECT 2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "permission denied to set parameter \"threads\"" in r.stderr, r.stderr


def test_nothing_was_written_and_no_shared_setting_changed(server, folders):
    test_every_escape_is_refused_through_postgres(server, folders)
    root = folders["root"]
    for name in ("written.csv", "export", "escape.duckdb"):
        assert not os.path.exists(os.path.join(root, name)), name
    assert not os.path.exists(os.path.join(folders["allowed"], "written.csv"))
    assert not os.path.exists("/tmp/tavana-profile.json") and not os.path.exists("/tmp/tavana-logs")
    with server.connect() as c:
        threads, external = c.execute(
            "SELECT current_setting('threads')::VARCHAR, current_setting('enable_external_access')::VARCHAR").fetchone()
        assert threads != "1"
        assert external == "false"
        databases = {r[0] for r in c.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
        assert {"memory", "system", "temp"} <= databases
        assert not databases & {"escape", "scratch"}, "nothing was attached"
        # Secrets stay redacted even when asked otherwise.
        with pytest.raises(psycopg.Error):
            c.execute("SELECT * FROM duckdb_secrets(redact := false)")


def test_refusals_are_logged_with_the_user(server):
    with server.connect(user="mallory") as c:
        with pytest.raises(psycopg.Error):
            c.execute("SELECT * FROM read_text('/etc/passwd')")
    logs = server.log() + "".join(open(w.log_path, errors="replace").read() for w in server.worker_procs)
    lines = [line for line in logs.splitlines() if "sandbox refused a statement" in line and "mallory" in line]
    assert lines, "the refusal is logged, naming the user"
    assert any("/etc/passwd" in line for line in lines)
    assert len(lines) == 1, f"one refusal, one line: {lines}"


def test_the_allowed_folder_is_readable_through_both_front_doors(server, folders):
    path = os.path.join(folders["allowed"], "ok.csv")
    with server.connect() as c:
        assert c.execute(f"SELECT sum(a) FROM '{path}'").fetchone() == (3,)
        assert c.execute(f"SELECT count(*) FROM glob('{folders['allowed']}/*')").fetchone() == (1,)
    uri = f"grpc://{server.host}:{server.flight_port}"
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT b FROM read_csv('{path}') ORDER BY a")
        assert cur.fetchall() == [("x",), ("y",)]


def test_the_session_settings_postgres_clients_send_keep_working(server):
    with server.connect(application_name="sandbox-app") as c, server.connect() as other:
        for sql in ["SET TimeZone = 'Asia/Tokyo'", "SET search_path = 'main'", "SET application_name = 'reports'",
                    "SET DateStyle = 'ISO, MDY'", "SET extra_float_digits = 3", "SET client_encoding = 'UTF8'",
                    "SET statement_timeout = '30s'", "SET standard_conforming_strings = on", "SET SESSION TimeZone TO 'UTC'",
                    "SET TimeZone = 'Europe/Berlin'", "RESET search_path", "SET VARIABLE mine = 7", "SET schema = 'main'",
                    "SET integer_division = true", "SET Calendar = 'gregorian'", "SET errors_as_json = false"]:
            c.execute(sql)
        assert c.execute("SELECT current_setting('TimeZone')").fetchone() == ("Europe/Berlin",)
        assert c.execute("SELECT 7 / 2").fetchone() == (3,)
        assert c.execute("SELECT getvariable('mine')").fetchone() == (7,)
        # None of it reached the other session.
        assert other.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
        assert other.execute("SELECT 7 / 2").fetchone() == (3.5,)
        assert other.execute("SELECT getvariable('mine')").fetchone() == (None,)


def test_flight_sql_session_options_keep_working(server):
    uri = f"grpc://{server.host}:{server.flight_port}"
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True,
                                             db_kwargs={"adbc.flight.sql.rpc.with_cookie_middleware": "true"}) as conn:
        conn.adbc_current_db_schema = "main"
        assert conn.adbc_current_db_schema == "main"
        with conn.cursor() as cur:
            cur.execute("SET TimeZone = 'Asia/Tokyo'")
            cur.execute("SELECT current_setting('TimeZone') AS tz")
            assert cur.fetchall() == [("Asia/Tokyo",)]


@pytest.mark.skipif(CLUSTER, reason="the sample data default is serve's; a worker allows nothing by default")
def test_serve_reads_its_sample_data_by_default(tavana_bin):
    server = TavanaServer(tavana_bin, name="sandbox-sample")
    try:
        sample = os.path.join(server._dir.name, "examples", "data")
        os.makedirs(sample)
        with open(os.path.join(sample, "cities.csv"), "w") as f:
            f.write("city,population\nTokyo,37\nDelhi,28\n")
        with open(os.path.join(server._dir.name, "elsewhere.csv"), "w") as f:
            f.write("x\n1\n")
        server.start()
        with server.connect() as c:
            assert c.execute("SELECT sum(population) FROM 'examples/data/cities.csv'").fetchone() == (65,)
            with pytest.raises(psycopg.Error) as e:
                c.execute("SELECT * FROM 'elsewhere.csv'")
            assert e.value.sqlstate == "42501"
    finally:
        server.cleanup()


def test_an_operator_can_turn_the_sandbox_off(tavana_bin, folders):
    with running_server(tavana_bin, "--no-sandbox", name="no-sandbox") as s, s.connect() as c:
        assert c.execute(f"SELECT * FROM '{folders['private']}'").fetchone() == (SECRET_MARK,)
        c.execute("SET threads = 1")
        assert c.execute("SELECT current_setting('threads')").fetchone() == (1,)
        logs = s.log() + "".join(open(w.log_path, errors="replace").read() for w in s.worker_procs)
        assert "sandbox off" in logs


def test_a_bad_sandbox_setting_is_refused_at_start(tavana_bin):
    r = subprocess.run([tavana_bin, "serve", "--host", HOST, "--pg-port", "0", "--flight-port", "0", "--http-port", "0"],
                       env={**os.environ, "TAVANA_SANDBOX": "maybe"}, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "sandbox must be true or false" in r.stdout + r.stderr
