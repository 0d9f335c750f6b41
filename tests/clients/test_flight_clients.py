"""Flight SQL clients other than pyarrow.flight and the ADBC dbapi's common paths, as a new
user would try them: flightsql-dbapi (a pure-Python DB-API that sends every parameter as a
one-row dense union), and ADBC binding parameter batches with NULLs in typed columns."""
from __future__ import annotations

import adbc_driver_flightsql.dbapi
import pyarrow as pa
import pytest
from flightsql import FlightSQLClient, connect as flightsql_connect

from tavana_server import running_server
from test_flight_sql import flight_port

pytest_plugins = ["tavana_server"]


@pytest.fixture(scope="module")
def server(tavana_bin):
    with running_server(tavana_bin, name="flight-clients") as s:
        s.flight_port = flight_port(s)
        yield s


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
