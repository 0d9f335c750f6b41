"""The Arrow Flight SQL front door, driven by real clients: the ADBC Flight SQL driver (Go)
and pyarrow.flight. Results are checked against the duckdb Python package (same engine)."""
from __future__ import annotations

import re
import time

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.flight as flight
import pytest

from flight_proto import bytes_fields, pack_any, varint
from tavana_server import DEFAULT_CATALOG, running_server, serve_only
from test_arrow_ipc import SETUP, all_types_query, duckdb_arrow

pytest_plugins = ["tavana_server"]

# Tavana's sessions run in UTC (as the PostgreSQL door reports); the oracle must too.
ORACLE_SETUP = SETUP + ["SET TimeZone = 'UTC'"]

_FLIGHT = re.compile(r"port=(\d+).*flight listening|flight listening.*?port=(\d+)")


def flight_port(server, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.log().splitlines():
            if "flight listening" in line:
                m = _FLIGHT.search(line)
                if m:
                    return int(m.group(1) or m.group(2))
        time.sleep(0.05)
    pytest.fail(f"no 'flight listening' line:\n{server.log()}", pytrace=False)


def flight_server_fixture(name: str):
    """A module's server, its Flight port read from the log (`server.flight_port`)."""
    @pytest.fixture(scope="module")
    def fixture(tavana_bin):
        with running_server(tavana_bin, name=name) as server:
            server.flight_port = flight_port(server)
            yield server
    return fixture


fl_server = flight_server_fixture("flight")


@pytest.fixture
def uri(fl_server) -> str:
    return f"grpc://{fl_server.host}:{fl_server.flight_port}"


def test_listening_line_names_the_actual_port(fl_server):
    assert fl_server.flight_port > 0
    line = next(l for l in fl_server.log().splitlines() if "flight listening" in l)
    assert f"host={fl_server.host}" in line


# -- the product spec's two snippets ---------------------------------------------------------

def test_spec_snippet_adbc(uri):
    with adbc_driver_flightsql.dbapi.connect(uri) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT 42 AS answer, 'hello' AS greeting")
            table = cur.fetch_arrow_table()
    assert table.to_pylist() == [{"answer": 42, "greeting": "hello"}]


def test_spec_snippet_pyarrow_flight(uri):
    client = flight.connect(uri)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 1"))
    reader = client.do_get(info.endpoints[0].ticket)
    table = reader.read_all()
    assert table.num_rows == 1
    assert table.column(0).to_pylist() == [1]
    assert info.schema == table.schema
    assert info.total_records == -1 and info.total_bytes == -1
    assert len(info.endpoints) == 1 and not info.endpoints[0].locations


def test_pyarrow_get_schema(uri):
    client = flight.connect(uri)
    result = client.get_schema(flight.FlightDescriptor.for_command(b"SELECT 1::BIGINT AS a, 'x' AS b"))
    assert result.schema == pa.schema([("a", pa.int64()), ("b", pa.string())])


def test_ticket_is_good_once(uri):
    client = flight.connect(uri)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 1"))
    client.do_get(info.endpoints[0].ticket).read_all()
    with pytest.raises(KeyError, match="unknown or expired ticket"):  # NOT_FOUND
        client.do_get(info.endpoints[0].ticket).read_all()


# -- types -----------------------------------------------------------------------------------
# Connections that change state use autocommit: Tavana supports transactions, so ADBC's
# DB-API connections otherwise start one and roll it back when they close.

@pytest.fixture(scope="module")
def typed(fl_server):
    uri = f"grpc://{fl_server.host}:{fl_server.flight_port}"
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        for s in SETUP:
            cur.execute(s)
            cur.fetchall()
    return uri


@pytest.mark.parametrize("rows", [2, 5000])
def test_every_type_equals_duckdb_python(typed, rows):
    sql = all_types_query(rows)
    with adbc_driver_flightsql.dbapi.connect(typed, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        ours = cur.fetch_arrow_table()
    theirs = duckdb_arrow(sql, setup=ORACLE_SETUP)
    assert ours.num_rows == rows
    assert ours.schema == theirs.schema, f"\n{ours.schema}\n!=\n{theirs.schema}"
    for name in theirs.column_names:
        assert ours.column(name).equals(theirs.column(name)), name
    assert ours.equals(theirs)


def test_every_type_through_pyarrow_flight(typed):
    sql = all_types_query(3)
    client = flight.connect(typed)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(sql.encode()))
    ours = client.do_get(info.endpoints[0].ticket).read_all()
    assert ours.equals(duckdb_arrow(sql, setup=ORACLE_SETUP))
    assert info.schema == ours.schema


def test_large_result_streams(uri):
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT i, i::VARCHAR AS s FROM range(300000) t(i)")
        table = cur.fetch_arrow_table()
    assert table.num_rows == 300000
    assert table.column("i").to_pylist()[-1] == 299999


def test_adbc_reads_a_result_long_enough_for_hundreds_of_pings(uri):
    # grpc-go (under ADBC) PINGs after almost every burst of DATA to size its window; SwiftNIO
    # HTTP/2 on its own closes the connection after 200 of them ("the connection is draining").
    # About 300 MB of Arrow: well past that many pings.
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT i, 'padding to make the batches bigger ' || i AS s FROM range(6000000) t(i)")
        table = cur.fetch_arrow_table()
        assert table.num_rows == 6000000
        assert pa.compute.sum(table.column("i")).as_py() == 6000000 * 5999999 // 2
        # The connection is still good for the next statement.
        cur.execute("SELECT 1 AS one")
        assert cur.fetch_arrow_table().to_pylist() == [{"one": 1}]


def test_small_chunks_of_a_selective_query_arrive_joined(uri):
    """A 2% filter leaves ~40 rows in each of DuckDB's chunks; they reach the client joined
    into batches of at least 2048 rows, with every row in order."""
    client = flight.connect(uri)
    sql = b"SELECT i, 'row ' || i AS s, CASE WHEN i % 3 = 0 THEN NULL ELSE i * 0.5 END AS d FROM range(500000) t(i) WHERE i % 50 = 7"
    table = client.do_get(client.get_flight_info(flight.FlightDescriptor.for_command(sql)).endpoints[0].ticket).read_all()
    assert table.num_rows == 10000
    assert table.column("i").num_chunks <= 5, table.column("i").num_chunks
    expected = duckdb.sql(sql.decode()).arrow()
    if isinstance(expected, pa.RecordBatchReader):
        expected = expected.read_all()
    assert table.equals(expected)


# -- updates and errors ----------------------------------------------------------------------

def test_execute_update_reports_row_count(uri):
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_sql_query("CREATE TABLE upd AS SELECT range AS i FROM range(10)")
        cur.adbc_statement.execute_update()
        cur.adbc_statement.set_sql_query("UPDATE upd SET i = i + 1 WHERE i < 4")
        assert cur.adbc_statement.execute_update() == 4
        cur.adbc_statement.set_sql_query("DELETE FROM upd")
        assert cur.adbc_statement.execute_update() == 10


def test_sql_error_is_invalid_argument_with_duckdb_message(uri):
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.ProgrammingError) as e:
            cur.execute("SELECT * FROM no_such_table")
        assert "no_such_table" in str(e.value)
        assert "INVALID_ARGUMENT" in str(e.value)
        with pytest.raises(adbc_driver_manager.Error) as e:
            cur.adbc_statement.set_sql_query("INSERT INTO nope VALUES (1)")
            cur.adbc_statement.execute_update()
        assert "nope" in str(e.value)
        # The connection is still good.
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]


def test_pyarrow_errors_have_grpc_codes(uri):
    client = flight.connect(uri)
    with pytest.raises(pa.ArrowInvalid) as e:  # INVALID_ARGUMENT
        client.get_flight_info(flight.FlightDescriptor.for_command(b"SELEC nonsense"))
    assert "syntax error" in str(e.value).lower()
    with pytest.raises(pa.ArrowInvalid):
        client.get_flight_info(flight.FlightDescriptor.for_path("a", "b"))
    with pytest.raises(KeyError):  # NOT_FOUND
        client.do_get(flight.Ticket(b"not a ticket")).read_all()
    with pytest.raises(pa.ArrowInvalid):
        client.get_flight_info(flight.FlightDescriptor.for_command(b"\xff\xfe\x00garbage"))
    with pytest.raises(pa.ArrowInvalid):
        list(client.do_action(flight.Action("CreatePreparedStatement", b"\x01\x02garbage")))
    with pytest.raises(NotImplementedError):  # UNIMPLEMENTED
        list(client.do_action(flight.Action("NoSuchAction", b"")))
    # The server survived all of it.
    info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 2"))
    assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [2]


def test_garbage_on_the_flight_port_leaves_the_server_serving(fl_server, uri):
    """Raw bytes that are not HTTP/2, or HTTP/2 with broken frames (split PINGs, oversized
    and truncated frames): each connection is dropped, the server keeps answering."""
    import random
    import socket
    import struct

    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    def frame(type_: int, flags: int, stream: int, payload: bytes, length: int | None = None) -> bytes:
        n = len(payload) if length is None else length
        return struct.pack(">I", n)[1:] + bytes([type_, flags]) + struct.pack(">I", stream) + payload

    settings = frame(4, 0, 0, b"")
    rng = random.Random(7)
    attempts = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        bytes(rng.randrange(256) for _ in range(4096)),
        preface + settings + frame(6, 0, 0, b"\x00" * 8) * 500,            # a PING flood, nothing flowing
        preface + settings + frame(6, 0, 0, b"\x01\x02\x03"),             # PING of the wrong length
        preface + settings + frame(6, 0, 3, b"\x00" * 8),                  # PING on a stream
        preface + settings + frame(0, 0, 1, b"", length=1 << 24),           # DATA longer than allowed
        preface + settings + frame(1, 4, 1, b"\xff" * 40),                  # undecodable HEADERS
        preface + frame(6, 0, 0, b"\x00" * 8)[:12],                        # a PING cut short
    ]
    for attempt in attempts:
        with socket.create_connection((fl_server.host, fl_server.flight_port), timeout=5) as sock:
            try:
                # Byte by byte for some, so frames arrive split at every point.
                if len(attempt) < 200:
                    for b in attempt:
                        sock.sendall(bytes([b]))
                else:
                    sock.sendall(attempt)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
            except OSError:
                pass  # the server may reset the connection: that is the point
    client = flight.connect(uri)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 42"))
    assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [42]


def test_malformed_do_put_is_rejected(uri):
    client = flight.connect(uri)
    schema = pa.schema([("a", pa.int64())])
    writer, reader = client.do_put(flight.FlightDescriptor.for_command(b"\x08\x96\x01 not any"), schema)
    with pytest.raises(pa.ArrowInvalid):
        writer.write_table(pa.table({"a": [1]}))
        writer.close()
    info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 3"))
    assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [3]


# -- prepared statements ---------------------------------------------------------------------

def test_prepared_query_with_parameter(uri):
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT ? + 1", parameters=(41,))
        assert cur.fetchall() == [(42,)]
        cur.execute("SELECT ?::VARCHAR || '!' AS s, ?::DOUBLE * 2 AS d", parameters=("hi", 1.25))
        assert cur.fetchall() == [("hi!", 2.5)]
        cur.execute("SELECT ? IS NULL", parameters=(None,))
        assert cur.fetchall() == [(True,)]


def test_prepared_query_with_many_parameter_rows(uri):
    """Several parameter rows bound to a query: it runs once per row, results in row order."""
    params = pa.record_batch([pa.array([1, 2, 3], pa.int32()), pa.array(["a", None, "c"])], names=["x", "y"])
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT ?::INTEGER * 10 AS x10, ?::VARCHAR AS y, i FROM range(2) t(i)", parameters=params)
        assert cur.fetchall() == [(10, "a", 0), (10, "a", 1), (20, None, 0), (20, None, 1), (30, "c", 0), (30, "c", 1)]
        # A run that returns nothing contributes nothing; the statement is reusable afterwards.
        cur.execute("SELECT i FROM range(3) t(i) WHERE i < ?::BIGINT",
                    parameters=pa.record_batch([pa.array([0, 2, 1], pa.int64())], names=["n"]))
        assert cur.fetchall() == [(0,), (1,), (0,)]
        cur.execute("SELECT ? + 1", parameters=(1,))
        assert cur.fetchall() == [(2,)]


def test_create_prepared_statement_returns_dataset_and_parameter_schemas(uri):
    client = flight.connect(uri)

    def prepare(sql: str) -> dict[int, bytes]:
        query = sql.encode()
        request = pack_any("ActionCreatePreparedStatementRequest", b"\x0a" + varint(len(query)) + query)
        [result] = list(client.do_action(flight.Action("CreatePreparedStatement", request)))
        fields = bytes_fields(bytes_fields(result.body.to_pybytes())[2])
        close = pack_any("ActionClosePreparedStatementRequest", b"\x0a" + varint(len(fields[1])) + fields[1])
        list(client.do_action(flight.Action("ClosePreparedStatement", close)))
        return fields

    sql = "SELECT 1::INTEGER AS a, 'x' AS b, [1.5] AS c, {'k': DATE '2024-01-02'} AS d"
    fields = prepare(sql)
    executed = client.do_get(client.get_flight_info(flight.FlightDescriptor.for_command(sql.encode()))
                             .endpoints[0].ticket).read_all().schema
    assert pa.ipc.read_schema(pa.py_buffer(fields[2])) == executed
    assert pa.ipc.read_schema(pa.py_buffer(fields[3])) == pa.schema([])
    fields = prepare("SELECT ?::BIGINT + 1 AS n, ?::VARCHAR AS s")
    assert pa.ipc.read_schema(pa.py_buffer(fields[2])) == pa.schema([("n", pa.int64()), ("s", pa.string())])
    assert len(pa.ipc.read_schema(pa.py_buffer(fields[3]))) == 2
    # A column typed only by its parameter: DuckDB cannot tell before binding.
    assert 2 not in prepare("SELECT ? AS anything")


def test_executemany_insert(uri):
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE many (a INTEGER, b VARCHAR)")
        cur.executemany("INSERT INTO many VALUES (?, ?)", [(1, "x"), (2, "y"), (3, None)])
        cur.execute("SELECT a, b FROM many ORDER BY a")
        assert cur.fetchall() == [(1, "x"), (2, "y"), (3, None)]


def test_explicit_prepare_and_reuse(uri):
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.adbc_prepare("SELECT ?::INTEGER * 10 AS x")
        for v in (1, 2, 3):
            cur.execute("SELECT ?::INTEGER * 10 AS x", parameters=(v,))
            assert cur.fetchall() == [(v * 10,)]


# -- metadata --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def meta(fl_server):
    uri = f"grpc://{fl_server.host}:{fl_server.flight_port}"
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS meta_s")
        cur.fetchall()
        cur.execute("CREATE TABLE meta_s.meta_t (id INTEGER, name VARCHAR, amount DECIMAL(10,2))")
        cur.fetchall()
        cur.execute("CREATE VIEW meta_s.meta_v AS SELECT id FROM meta_s.meta_t")
        cur.fetchall()
    return uri


def test_get_info(meta):
    with adbc_driver_flightsql.dbapi.connect(meta, autocommit=True) as conn:
        info = conn.adbc_get_info()
    assert info["vendor_name"] == "Tavana"
    assert "DuckDB" in info["vendor_version"]


def test_get_table_types(meta):
    with adbc_driver_flightsql.dbapi.connect(meta, autocommit=True) as conn:
        assert set(conn.adbc_get_table_types()) >= {"BASE TABLE", "VIEW"}


def test_get_table_schema(meta):
    with adbc_driver_flightsql.dbapi.connect(meta, autocommit=True) as conn:
        schema = conn.adbc_get_table_schema("meta_t", db_schema_filter="meta_s")
    assert schema == pa.schema([("id", pa.int32()), ("name", pa.string()), ("amount", pa.decimal128(10, 2))])


def test_get_objects(meta):
    with adbc_driver_flightsql.dbapi.connect(meta, autocommit=True) as conn:
        objects = conn.adbc_get_objects().read_all().to_pylist()
        catalogs = {c["catalog_name"]: c for c in objects}
        assert DEFAULT_CATALOG in catalogs
        schemas = {s["db_schema_name"]: s for s in catalogs[DEFAULT_CATALOG]["catalog_db_schemas"]}
        tables = {t["table_name"]: t for t in schemas["meta_s"]["db_schema_tables"]}
        assert tables["meta_t"]["table_type"] == "BASE TABLE"
        assert tables["meta_v"]["table_type"] == "VIEW"
        assert [c["column_name"] for c in tables["meta_t"]["table_columns"]] == ["id", "name", "amount"]
        # Filters reach the server.
        only = conn.adbc_get_objects(depth="tables", table_name_filter="meta_v").read_all().to_pylist()
        names = [t["table_name"] for c in only for s in (c["catalog_db_schemas"] or [])
                 for t in (s["db_schema_tables"] or [])]
        assert names == ["meta_v"]
        views = conn.adbc_get_objects(depth="tables", table_types_filter=["VIEW"]).read_all().to_pylist()
        names = {t["table_name"] for c in views for s in (c["catalog_db_schemas"] or [])
                 for t in (s["db_schema_tables"] or [])}
        assert "meta_v" in names and "meta_t" not in names


def test_catalogs_and_schemas_depth(meta):
    with adbc_driver_flightsql.dbapi.connect(meta, autocommit=True) as conn:
        cats = conn.adbc_get_objects(depth="catalogs").read_all().to_pylist()
        assert DEFAULT_CATALOG in [c["catalog_name"] for c in cats]
        dbs = conn.adbc_get_objects(depth="db_schemas", db_schema_filter="meta%").read_all().to_pylist()
        names = [s["db_schema_name"] for c in dbs for s in (c["catalog_db_schemas"] or [])]
        assert names == ["meta_s"]


# -- bulk ingestion --------------------------------------------------------------------------

def test_adbc_ingest_create_append_replace(uri):
    data = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", None, "c"],
                     "score": pa.array([1.5, 2.5, None], pa.float64())})
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("ingested", data, mode="create") == 3
        assert cur.adbc_ingest("ingested", data, mode="append") == 3
        cur.execute("SELECT count(*), count(name), sum(score) FROM ingested")
        assert cur.fetchall() == [(6, 4, 8.0)]
        with pytest.raises(adbc_driver_manager.Error):
            cur.adbc_ingest("ingested", data, mode="create")
        assert cur.adbc_ingest("ingested", data.slice(0, 1), mode="replace") == 1
        cur.execute("SELECT * FROM ingested")
        assert cur.fetch_arrow_table().to_pylist() == [{"id": 1, "name": "a", "score": 1.5}]
        with pytest.raises(adbc_driver_manager.Error):
            cur.adbc_ingest("no_such_ingest_table", data, mode="append")


@serve_only("DuckLake, cluster mode's shared catalog, cannot store fixed-size arrays (DOUBLE[3])")
def test_adbc_ingest_every_type_round_trips(typed):
    """Ingest goes through DuckDB's own Arrow reader: every type of the matrix comes back as
    it went in, except dictionaries (ENUM on the way out), which are stored as VARCHAR."""
    source = duckdb_arrow(all_types_query(50), setup=ORACLE_SETUP)
    with adbc_driver_flightsql.dbapi.connect(typed, autocommit=True) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("ingested_matrix", source, mode="create") == 50
        cur.execute("SELECT * FROM ingested_matrix")
        back = cur.fetch_arrow_table()
    changed = {f.name for f in source.schema
               if back.schema.field(f.name).type != f.type or not back.column(f.name).equals(source.column(f.name))}
    assert changed == {"c_enum"}, changed
    assert back.column("c_enum").equals(source.column("c_enum").cast(pa.string()))


def test_adbc_ingest_streams_a_large_nested_upload(uri):
    """A million rows with lists, structs and maps, in many batches: streamed into the table
    (not materialised row by row), read back equal."""
    source = duckdb.sql("SELECT i, 'v' || i AS s, [i, i + 1] AS l, {'a': i, 'b': 'x' || (i % 7)} AS st, "
                        "MAP {'k': i} AS m FROM range(1000000) t(i)").arrow()
    if isinstance(source, pa.RecordBatchReader):
        source = source.read_all()
    batches = pa.Table.from_batches(source.to_batches(max_chunksize=50000))
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("big_nested", batches, mode="create") == 1000000
        cur.execute("SELECT * FROM big_nested ORDER BY i")
        back = cur.fetch_arrow_table()
    assert back.num_rows == 1000000
    assert back.equals(source.sort_by("i")), "ingested rows differ"


# -- admission control -----------------------------------------------------------------------

def test_queue_full_is_resource_exhausted(tavana_bin):
    with running_server(tavana_bin, "--threads", "1", "--max-queued", "0", workers=1, name="flightq0") as s:
        client = flight.connect(f"grpc://{s.host}:{flight_port(s)}")
        # A ticket waiting for its DoGet holds no slot: an idle result is not a running query.
        waiting = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 1"))
        # A stream being read holds the only slot.
        big = client.get_flight_info(flight.FlightDescriptor.for_command(
            b"SELECT i, repeat('x', 100) AS s FROM range(100000000) t(i)"))
        reader = client.do_get(big.endpoints[0].ticket)
        assert reader.read_chunk().data.num_rows > 0
        with pytest.raises(pa.ArrowException, match="resource exhausted.*too many queries"):
            client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 2"))
        reader.cancel()
        del reader
        deadline = time.monotonic() + 10
        while True:
            try:
                rows = client.do_get(waiting.endpoints[0].ticket).read_all().column(0).to_pylist()
                break
            except pa.ArrowException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert rows == [1]


def test_abandoned_stream_gives_its_slot_back(tavana_bin):
    with running_server(tavana_bin, "--threads", "1", "--max-queued", "0", workers=1, name="flightcancel") as s:
        client = flight.connect(f"grpc://{s.host}:{flight_port(s)}")
        info = client.get_flight_info(flight.FlightDescriptor.for_command(
            b"SELECT i, repeat('x', 100) AS s FROM range(100000000) t(i)"))
        reader = client.do_get(info.endpoints[0].ticket)
        assert reader.read_chunk().data.num_rows > 0
        reader.cancel()
        del reader
        deadline = time.monotonic() + 10
        while True:
            try:
                info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 7"))
                break
            except pa.ArrowException:
                assert time.monotonic() < deadline, "the cancelled stream kept its slot"
                time.sleep(0.1)
        assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [7]


# -- authentication --------------------------------------------------------------------------

def test_password_users_need_credentials(tavana_bin):
    with running_server(tavana_bin, "--auth-method", "scram-sha-256",
                        config={"users": {"alice": "s3cret"}}, name="flightauth") as s:
        uri = f"grpc://{s.host}:{flight_port(s)}"
        # Basic credentials (ADBC sends them on Handshake, then uses the bearer token).
        with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True, db_kwargs={"username": "alice", "password": "s3cret"}) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT 5")
                assert cur.fetchall() == [(5,)]
        with pytest.raises(adbc_driver_manager.Error, match="(?i)unauthenticated|authentication"):
            with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True, db_kwargs={"username": "alice", "password": "wrong"}) as conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT 5")
        client = flight.connect(uri)
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 1"))
        # pyarrow's own basic-token flow.
        token = client.authenticate_basic_token(b"alice", b"s3cret")
        options = flight.FlightCallOptions(headers=[token])
        info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 6"), options)
        assert client.do_get(info.endpoints[0].ticket, options).read_all().column(0).to_pylist() == [6]
        bad = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer forged")])
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 1"), bad)


def test_bearer_tokens_expire(tavana_bin):
    import base64

    with running_server(tavana_bin, "--auth-method", "scram-sha-256", "--flight-token-lifetime", "1",
                        config={"users": {"alice": "s3cret"}}, name="flighttokens") as s:
        client = flight.connect(f"grpc://{s.host}:{flight_port(s)}")
        options = flight.FlightCallOptions(headers=[client.authenticate_basic_token(b"alice", b"s3cret")])
        info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 1"), options)
        assert client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 1
        time.sleep(1.5)
        with pytest.raises(flight.FlightUnauthenticatedError, match="expired"):
            client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 1"), options)
        # Basic credentials on the call itself still work, and buy a fresh token.
        basic = flight.FlightCallOptions(headers=[(b"authorization", b"Basic " + base64.b64encode(b"alice:s3cret"))])
        info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 2"), basic)
        assert client.do_get(info.endpoints[0].ticket, basic).read_all().column(0).to_pylist() == [2]


# -- TLS ---------------------------------------------------------------------------------------

def test_tls_with_a_configured_certificate(tavana_bin, tmp_path):
    """With --tls-cert/--tls-key the Flight port speaks TLS (grpc+tls://), like the
    PostgreSQL port; plaintext clients are refused."""
    import subprocess

    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-days", "1", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    with running_server(tavana_bin, "--tls-cert", str(cert), "--tls-key", str(key), name="flighttls") as s:
        port = flight_port(s)
        line = next(l for l in s.log().splitlines() if "flight listening" in l)
        assert "tls=true" in line
        uri = f"grpc+tls://localhost:{port}"
        client = flight.connect(uri, tls_root_certs=cert.read_bytes())
        info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 'secret' AS s"))
        assert client.do_get(info.endpoints[0].ticket).read_all().to_pylist() == [{"s": "secret"}]
        with adbc_driver_flightsql.dbapi.connect(
                uri, db_kwargs={"adbc.flight.sql.client_option.tls_root_certs": cert.read_text()}) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT 7 AS n")
                assert cur.fetchall() == [(7,)]
        # polars' read_database_uri picks the ADBC driver by scheme (flightsql://), which the
        # driver dials with TLS; the CA comes from the environment, as a user's would.
        import os
        import sys
        code = ("import sys, polars as pl\n"
                "df = pl.read_database_uri('SELECT 41 + 1 AS answer', sys.argv[1], engine='adbc')\n"
                "print(df['answer'].to_list())\n")
        done = subprocess.run([sys.executable, "-c", code, f"flightsql://localhost:{port}"],
                              env={**os.environ, "SSL_CERT_FILE": str(cert)},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[42]"
        plain = flight.connect(f"grpc://localhost:{port}")
        with pytest.raises(flight.FlightError):
            plain.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 1"),
                                  flight.FlightCallOptions(timeout=5))


# -- transactions and cancel -------------------------------------------------------------------

def test_adbc_transactions_commit_and_rollback(uri):
    """ADBC with autocommit off uses BeginTransaction/EndTransaction; statements and prepared
    statements carry the transaction id and see each other's uncommitted rows."""
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE tx_t (v INTEGER)")
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=False) as conn, \
            adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as other:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO tx_t VALUES (1), (2)")
            cur.execute("SELECT count(*) FROM tx_t")
            assert cur.fetchall() == [(2,)], "the transaction sees its own rows"
            cur.execute("SELECT ?::INTEGER + count(*) FROM tx_t", parameters=(10,))
            assert cur.fetchall() == [(12,)], "prepared statements run in the transaction"
            with other.cursor() as o:
                o.execute("SELECT count(*) FROM tx_t")
                assert o.fetchall() == [(0,)], "uncommitted rows are invisible elsewhere"
            conn.rollback()
            cur.execute("SELECT count(*) FROM tx_t")
            assert cur.fetchall() == [(0,)]
            cur.execute("INSERT INTO tx_t VALUES (4)")
            conn.commit()
        with other.cursor() as o:
            o.execute("SELECT v FROM tx_t")
            assert o.fetchall() == [(4,)]


def test_adbc_ingest_inside_a_transaction(uri):
    """ADBC sends no transaction id with an ingest even with autocommit off; Tavana puts the
    rows in the transaction the same connection has open, so rollback and commit apply."""
    rows = pa.table({"a": pa.array([1, 2, 3], pa.int32()), "b": ["x", "y", None]})
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=False) as conn:
        with conn.cursor() as cur:
            assert cur.adbc_ingest("ing_rolled_back", rows, mode="create") == 3
            cur.execute("SELECT count(*) FROM ing_rolled_back")
            assert cur.fetchall() == [(3,)], "the transaction sees the ingested rows"
        conn.rollback()
        with conn.cursor() as cur:
            cur.adbc_ingest("ing_committed", rows, mode="create")
            cur.adbc_ingest("ing_committed", rows, mode="append")
        conn.commit()
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as other, other.cursor() as cur:
        cur.execute("SELECT table_name FROM duckdb_tables() "
                    "WHERE table_name IN ('ing_rolled_back', 'ing_committed') ORDER BY 1")
        assert cur.fetchall() == [("ing_committed",)]
        cur.execute("SELECT a, b FROM ing_committed ORDER BY a, b NULLS FIRST")
        assert cur.fetchall() == [(1, "x"), (1, "x"), (2, "y"), (2, "y"), (3, None), (3, None)]
        # Outside a transaction an ingest commits on its own.
        cur.adbc_ingest("ing_autocommit", rows, mode="create")
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as third, third.cursor() as cur:
        cur.execute("SELECT count(*) FROM ing_autocommit")
        assert cur.fetchall() == [(3,)]


def test_ingest_joins_only_the_same_users_transaction(tavana_bin):
    """Over one connection (as through a proxy that pools connections), an ingest without a
    transaction id joins a transaction only if the same user began it."""
    with running_server(tavana_bin, "--auth-method", "scram-sha-256",
                        config={"users": {"alice": "a-secret", "bob": "b-secret"}}, name="flightingestusers") as s:
        client = flight.connect(f"grpc://{s.host}:{flight_port(s)}")
        alice = flight.FlightCallOptions(headers=[client.authenticate_basic_token(b"alice", b"a-secret")])
        bob = flight.FlightCallOptions(headers=[client.authenticate_basic_token(b"bob", b"b-secret")])

        def begin(options) -> bytes:
            [result] = list(client.do_action(flight.Action("BeginTransaction", pack_any("ActionBeginTransactionRequest", b"")), options))
            return bytes_fields(bytes_fields(result.body.to_pybytes())[2])[1]

        def rollback(txn: bytes, options):
            body = b"\x0a" + varint(len(txn)) + txn + b"\x10\x02"  # action = ROLLBACK
            list(client.do_action(flight.Action("EndTransaction", pack_any("ActionEndTransactionRequest", body)), options))

        def ingest(table: str, options):
            name = table.encode()
            create_or_fail = b"\x0a\x04\x08\x01\x10\x01"  # if_not_exist = CREATE, if_exists = FAIL
            cmd = pack_any("CommandStatementIngest", create_or_fail + b"\x12" + varint(len(name)) + name)
            data = pa.table({"v": pa.array([1, 2], pa.int32())})
            writer, reader = client.do_put(flight.FlightDescriptor.for_command(cmd), data.schema, options)
            writer.write_table(data)
            writer.done_writing()
            reader.read()
            writer.close()

        def exists(table: str) -> bool:
            sql = f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{table}'".encode()
            info = client.get_flight_info(flight.FlightDescriptor.for_command(sql), bob)
            return client.do_get(info.endpoints[0].ticket, bob).read_all().column(0)[0].as_py() == 1

        txn = begin(alice)
        ingest("bobs_rows", bob)        # bob's ingest commits on its own
        ingest("alices_rows", alice)    # alice's joins her transaction
        rollback(txn, alice)
        assert exists("bobs_rows")
        assert not exists("alices_rows")


def test_transactions_and_statements_answer_only_their_owner(tavana_bin):
    """Transaction and prepared-statement ids are found only for the user who made them: a
    second user who learns (or guesses) one gets NOT_FOUND (pyarrow raises KeyError for it),
    and the owner's work goes on."""
    with running_server(tavana_bin, "--auth-method", "scram-sha-256",
                        config={"users": {"alice": "a-secret", "bob": "b-secret"}}, name="flightowners") as s:
        client = flight.connect(f"grpc://{s.host}:{flight_port(s)}")
        alice = flight.FlightCallOptions(headers=[client.authenticate_basic_token(b"alice", b"a-secret")])
        bob = flight.FlightCallOptions(headers=[client.authenticate_basic_token(b"bob", b"b-secret")])

        [begun] = list(client.do_action(flight.Action("BeginTransaction", pack_any("ActionBeginTransactionRequest", b"")), alice))
        txn = bytes_fields(bytes_fields(begun.body.to_pybytes())[2])[1]
        query = b"SELECT 42 AS v"
        body = b"\x0a" + varint(len(query)) + query
        [prepared] = list(client.do_action(flight.Action("CreatePreparedStatement",
                                                         pack_any("ActionCreatePreparedStatementRequest", body)), alice))
        handle = bytes_fields(bytes_fields(prepared.body.to_pybytes())[2])[1]
        run = pack_any("CommandPreparedStatementQuery", b"\x0a" + varint(len(handle)) + handle)

        with pytest.raises(KeyError) as refused:
            client.get_flight_info(flight.FlightDescriptor.for_command(run), bob)
        assert "unknown or closed prepared statement" in str(refused.value)
        end = b"\x0a" + varint(len(txn)) + txn + b"\x10\x01"  # action = COMMIT
        with pytest.raises(KeyError) as refused:
            list(client.do_action(flight.Action("EndTransaction", pack_any("ActionEndTransactionRequest", end)), bob))
        assert "unknown or finished transaction" in str(refused.value)
        # bob's close of alice's statement is a no-op.
        close = b"\x0a" + varint(len(handle)) + handle
        list(client.do_action(flight.Action("ClosePreparedStatement", pack_any("ActionClosePreparedStatementRequest", close)), bob))

        info = client.get_flight_info(flight.FlightDescriptor.for_command(run), alice)
        assert client.do_get(info.endpoints[0].ticket, alice).read_all().column(0).to_pylist() == [42]
        list(client.do_action(flight.Action("EndTransaction", pack_any("ActionEndTransactionRequest", end)), alice))
        with pytest.raises(KeyError):
            list(client.do_action(flight.Action("EndTransaction", pack_any("ActionEndTransactionRequest", end)), alice))


def test_transaction_of_a_vanished_client_is_rolled_back(fl_server, uri):
    """A client that exits mid-transaction (no EndTransaction) must not leave its transaction
    open: its uncommitted CREATE TABLE would block everyone else's."""
    import subprocess
    import sys

    script = (
        "import os, sys, adbc_driver_flightsql.dbapi as d\n"
        "conn = d.connect(sys.argv[1], autocommit=False)\n"
        "cur = conn.cursor()\n"
        "cur.execute('CREATE TABLE orphan_t (v INTEGER)')\n"
        "cur.execute('INSERT INTO orphan_t VALUES (1)')\n"
        "print('in transaction', flush=True)\n"
        "os._exit(0)\n"  # no rollback, no close: the socket just goes away
    )
    done = subprocess.run([sys.executable, "-c", script, uri], capture_output=True, text=True, timeout=60)
    assert "in transaction" in done.stdout, done.stderr
    deadline = time.monotonic() + 10
    while "rolling back transactions of a closed connection" not in fl_server.log():
        assert time.monotonic() < deadline, fl_server.log()[-2000:]
        time.sleep(0.05)
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        # With the orphan still open this would be a catalog write-write conflict.
        cur.execute("CREATE TABLE orphan_t (v INTEGER)")
        cur.execute("SELECT count(*) FROM orphan_t")
        assert cur.fetchall() == [(0,)]


def cancel_flight_info(client, info) -> int:
    """The CancelFlightInfo action (pyarrow has no wrapper for it): the request is
    `CancelFlightInfoRequest{info = 1}`, the result `CancelFlightInfoResult{status = 1}`."""
    payload = info.serialize()
    request = b"\x0a" + varint(len(payload)) + payload
    results = list(client.do_action(flight.Action("CancelFlightInfo", request)))
    assert len(results) == 1
    body = results[0].body.to_pybytes()
    assert body[:1] == b"\x08", body
    return body[1]


CANCELLED, NOT_CANCELLABLE = 1, 3


def test_cancel_flight_info_interrupts_the_query(uri):
    # GetFlightInfo runs the query until its first rows; CancelFlightInfo stops the rest.
    client = flight.connect(uri)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(
        b"SELECT x, md5(x::VARCHAR) FROM range(100000000000) t(x)"))
    assert cancel_flight_info(client, info) == CANCELLED
    with pytest.raises((flight.FlightError, KeyError)):
        client.do_get(info.endpoints[0].ticket).read_all()
    # Cancelling again: nothing left to cancel.
    assert cancel_flight_info(client, info) == NOT_CANCELLABLE
    # The server keeps answering.
    info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 3"))
    assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [3]


def test_cancel_flight_info_stops_a_running_do_get(uri):
    """CancelFlightInfo while a DoGet streams an endless result: the stream ends with
    CANCELLED after what was already in flight, instead of running on."""
    client = flight.connect(uri)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(
        b"SELECT x, md5(x::VARCHAR) AS h FROM range(100000000000) t(x)"))
    reader = client.do_get(info.endpoints[0].ticket)
    for _ in range(3):
        reader.read_chunk()
    assert cancel_flight_info(flight.connect(uri), info) == CANCELLED
    started = time.monotonic()
    with pytest.raises(flight.FlightCancelledError):
        while True:
            reader.read_chunk()
            assert time.monotonic() - started < 30, "the stream did not stop"
    info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 5"))
    assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [5]


def test_cancelled_get_flight_info_stops_the_query(uri):
    """A client that gives up on GetFlightInfo (deadline) interrupts the query behind it."""
    client = flight.connect(uri)
    started = time.monotonic()
    with pytest.raises(flight.FlightTimedOutError):  # DEADLINE_EXCEEDED
        client.get_flight_info(
            flight.FlightDescriptor.for_command(b"SELECT count(*) FROM range(100000000000) t(x) WHERE x % 7 = 3"),
            flight.FlightCallOptions(timeout=1.0))
    assert time.monotonic() - started < 10
    info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 4"), flight.FlightCallOptions(timeout=30))
    assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [4]


def test_polars_reads_through_adbc(uri):
    """polars over an ADBC Flight SQL connection. (`pl.read_database_uri` derives the driver
    module from the URI scheme, so it needs `flightsql://`, which the ADBC driver takes as
    TLS: see test_tls_with_a_configured_certificate.)"""
    import polars as pl

    with adbc_driver_flightsql.dbapi.connect(uri) as conn:
        df = pl.read_database("SELECT range AS i, range * 2 AS j FROM range(1000)", connection=conn)
    assert df.shape == (1000, 2)
    assert df["j"].sum() == 999000


def _incremental(conn, sql):
    stmt = adbc_driver_manager.AdbcStatement(conn.adbc_connection)
    stmt.set_options(**{adbc_driver_manager.StatementOptions.INCREMENTAL.value: "true"})
    stmt.set_sql_query(sql)
    return stmt


def test_incremental_execution_polls_until_the_query_answers(uri):
    """ADBC's incremental execution uses PollFlightInfo: a quick query answers in the first
    poll, a slow one is polled until it does; the partitions then read as usual."""
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn:
        for sql, expected in [("SELECT 42 AS v", [{"v": 42}]),
                              ("SELECT 7 AS v FROM (SELECT pg_sleep(1.2))", [{"v": 7}])]:
            stmt = _incremental(conn, sql)
            partitions = []
            for _ in range(100):
                got, _schema, _rows = stmt.execute_partitions()
                if not got and partitions:
                    break  # incremental mode ends with an empty set
                partitions += got
            assert len(partitions) == 1, sql
            assert stmt.get_option_float(adbc_driver_manager.StatementOptions.PROGRESS.value) in (0.0, 1.0)
            reader = conn.adbc_connection.read_partition(partitions[0])
            assert pa.RecordBatchReader._import_from_c(reader.address).read_all().to_pylist() == expected
            stmt.close()


def test_an_abandoned_poll_stops_its_query(tavana_bin):
    """A client that stops polling (ADBC 1.13 cancels incremental execution on its own side
    only) has its query interrupted once the ticket lifetime passes without a poll."""
    import threading
    import urllib.request
    with running_server(tavana_bin, config={"flightTicketLifetime": 1}, name="flightpoll") as s:
        deadline = time.monotonic() + 10
        while not re.search(r"port=(\d+).*http listening", s.log()):
            assert time.monotonic() < deadline, s.log()
            time.sleep(0.05)
        http = int(re.search(r"port=(\d+).*http listening", s.log()).group(1))

        def running() -> float:
            text = urllib.request.urlopen(f"http://{s.host}:{http}/metrics", timeout=5).read().decode()
            return float(next(line for line in text.splitlines() if line.startswith("tavana_queries_running")).split()[1])

        with adbc_driver_flightsql.dbapi.connect(f"grpc://{s.host}:{flight_port(s)}", autocommit=True) as conn:
            stmt = _incremental(conn, "SELECT count(*) FROM range(10000000000) t(x) WHERE x % 7 = 3")
            errors = []

            def run():
                try:
                    stmt.execute_partitions()
                except adbc_driver_manager.Error as e:
                    errors.append(e)

            t = threading.Thread(target=run, daemon=True)
            t.start()
            deadline = time.monotonic() + 10
            while running() < 1:
                assert time.monotonic() < deadline, "the polled query never started"
                time.sleep(0.1)
            stmt.cancel()
            t.join(20)
            assert errors, "execute_partitions should end with the cancel"
            deadline = time.monotonic() + 15
            while running() > 0:
                assert time.monotonic() < deadline, "the abandoned query kept running"
                time.sleep(0.2)
            stmt.close()
