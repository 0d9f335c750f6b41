"""Flight SQL clients other than pyarrow.flight and the ADBC dbapi's common paths, as a new
user would try them: flightsql-dbapi (a pure-Python DB-API that sends every parameter as a
one-row dense union), and ADBC binding parameter batches with NULLs in typed columns."""
from __future__ import annotations

import adbc_driver_flightsql.dbapi
import pyarrow as pa
import pytest
from flightsql import FlightSQLClient, connect as flightsql_connect

from tavana_server import running_server
from test_flight_sql import flight_port, flight_server_fixture

pytest_plugins = ["tavana_server"]


server = flight_server_fixture("flight-clients")


@pytest.fixture
def dbapi(server):
    client = FlightSQLClient(host=server.host, port=server.flight_port, insecure=True)
    conn = flightsql_connect(client)
    yield conn.cursor()
    conn.close()


@pytest.mark.parametrize("value, expected", [
    (5, 5), (-2**63, -2**63), ("hé", "hé"), (1.5, 1.5), (True, True), (False, False), (b"\x00\x01", b"\x00\x01"),
])
def test_flightsql_dbapi_binds_union_parameters(dbapi, value, expected):
    dbapi.execute("SELECT ? AS x", [value])
    assert dbapi.fetchall() == [[expected]]


def test_flightsql_dbapi_binds_several_union_parameters_of_different_kinds(dbapi):
    dbapi.execute("SELECT ? + 1 AS n, ? || '!' AS s, NOT ? AS b", [41, "hi", False])
    assert dbapi.fetchall() == [[42, "hi!", True]]


def test_flightsql_dbapi_plain_queries(dbapi):
    dbapi.execute("SELECT 1 AS a, 'x' AS b")
    assert dbapi.fetchall() == [[1, "x"]]


@pytest.mark.parametrize("column", [
    pa.array(["a", None, "b"], pa.string()),
    pa.array([None, "a"], pa.string()),
    pa.array([None], pa.string()),
    pa.array([None, 1.5], pa.float64()),
    pa.array([None, 7], pa.int64()),
    pa.array([None, b"\x01"], pa.binary()),
], ids=["utf8-middle", "utf8-first", "utf8-only", "float64-first", "int64-first", "binary-first"])
def test_adbc_nulls_in_a_parameter_column_keep_its_type(server, column):
    """Each parameter row runs the query once; a NULL row bound untyped would make the
    result INTEGER and break the stream at the first row of another type."""
    uri = f"grpc://{server.host}:{server.flight_port}"
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT ? AS x", parameters=pa.record_batch({"p": column}))
        table = cur.fetch_arrow_table()
    assert table.schema.field("x").type == column.type
    assert table.column("x").to_pylist() == column.to_pylist()


VIEW_AND_LARGE = [
    pa.array(["a", None, "x" * 40, ""], pa.string_view()),
    pa.array([b"\x00", None, b"y" * 100], pa.binary_view()),
    pa.array(["a", None], pa.large_string()),
    pa.array([b"a", None], pa.large_binary()),
    pa.array([[1, 2], None, [], [3]], pa.list_view(pa.int64())),
    pa.array([[1], None], pa.large_list_view(pa.int32())),
    pa.array([[1, None], None], pa.large_list(pa.int64())),
    pa.array([["a"], None], pa.list_(pa.string())),
]
VIEW_IDS = ["string_view", "binary_view", "large_string", "large_binary", "list_view", "large_list_view",
            "large_list", "list"]


def plain(column):
    """What the column reads back as: views and large forms in their plain Python values."""
    return column.to_pylist()


@pytest.fixture
def adbc(server):
    uri = f"grpc://{server.host}:{server.flight_port}"
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("column", VIEW_AND_LARGE, ids=VIEW_IDS)
def test_view_and_large_types_ingest(adbc, column):
    with adbc.cursor() as cur:
        cur.adbc_ingest("typed_in", pa.table({"i": pa.array(range(len(column)), pa.int32()), "c": column}), mode="replace")
        cur.execute("SELECT c FROM typed_in ORDER BY i")
        assert [r[0] for r in cur.fetchall()] == plain(column)


@pytest.mark.parametrize("column", VIEW_AND_LARGE, ids=VIEW_IDS)
def test_view_and_large_types_as_parameters(adbc, column):
    with adbc.cursor() as cur:
        cur.execute("SELECT ? AS x", parameters=pa.record_batch({"p": column}))
        assert cur.fetch_arrow_table().column("x").to_pylist() == plain(column)


def test_polars_write_database_through_adbc(adbc):
    import polars as pl
    df = pl.DataFrame({"a": [1, 2, 3], "s": ["x" * 30, None, "z"], "l": [[1], None, [2, 3]]})
    df.write_database("from_polars", adbc, engine="adbc", if_table_exists="replace")
    with adbc.cursor() as cur:
        cur.execute("SELECT a, s, l FROM from_polars ORDER BY a")
        assert cur.fetchall() == [(1, "x" * 30, [1]), (2, None, None), (3, "z", [2, 3])]


def test_hostile_views_are_refused_and_the_server_keeps_serving(server, adbc):
    """A string_view whose out-of-line view names a data buffer that is not there, and one
    that reaches past its buffer: INVALID_ARGUMENT, and the next query answers."""
    import struct
    data = pa.py_buffer(b"z" * 20)
    for index, offset in ((3, 0), (0, 10)):
        view = struct.pack("<i4sii", 20, b"zzzz", index, offset)
        bad = pa.Array.from_buffers(pa.string_view(), 1, [None, pa.py_buffer(view), data])
        with adbc.cursor() as cur, pytest.raises(Exception, match="outside its data buffers"):
            cur.adbc_ingest("hostile", pa.table({"c": bad}), mode="replace")
    with adbc.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]


def test_metadata_commands_answer_while_every_slot_is_busy(tavana_bin):
    """One query slot, held by a long query: Flight SQL's metadata commands (ADBC's
    get_objects, pyarrow.flight's GetCatalogs / GetTables) read only the catalog and take no
    slot, so they answer at once instead of queueing; a query still waits its turn."""
    import threading
    import time

    import psycopg
    import pyarrow.flight as flight
    from flight_proto import pack_any, string_field

    with running_server(tavana_bin, workers=1, name="one-slot") as s:
        port = flight_port(s)
        long_conn = psycopg.connect(f"host={s.host} port={s.port} user=tester dbname=tavana sslmode=disable", autocommit=True)
        outcome = {}

        def long_query():
            try:
                long_conn.execute("SELECT count(*) FROM range(3000000000) t(x) WHERE x % 7 = 3").fetchone()
                outcome["finished"] = True
            except psycopg.Error as e:
                outcome["error"] = e.sqlstate
        job = threading.Thread(target=long_query)
        job.start()
        try:
            time.sleep(1.0)  # the long query holds the only slot by now
            uri = f"grpc://{s.host}:{port}"
            t0 = time.monotonic()
            with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn:
                objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
            client = flight.connect(uri)
            for name in ("CommandGetCatalogs", "CommandGetTables"):
                info = client.get_flight_info(flight.FlightDescriptor.for_command(pack_any(name, b"")))
                client.do_get(info.endpoints[0].ticket).read_all()
            elapsed = time.monotonic() - t0
            assert job.is_alive(), f"the metadata calls answered only after the running query ended ({elapsed:.1f} s)"
            assert objects and elapsed < 10, f"metadata calls took {elapsed:.1f} s behind the running query"
            # A query does queue: it has not answered while the slot is held.
            query = pack_any("CommandStatementQuery", string_field(1, "SELECT 42"))
            with pytest.raises(flight.FlightTimedOutError):
                client.get_flight_info(flight.FlightDescriptor.for_command(query), flight.FlightCallOptions(timeout=1.5))
        finally:
            long_conn.cancel_safe(timeout=10)
            job.join(30)
            long_conn.close()
        assert outcome.get("error") == "57014", outcome
