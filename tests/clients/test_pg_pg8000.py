"""pg8000 (pure-Python driver, native API): its own protocol implementation, not libpq.
Expectations are PostgreSQL 15's (PG_ORACLE_PORT=<port> checks them on a real one)."""
import datetime as dt
import uuid
from decimal import Decimal

import pg8000.native
import pytest

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(60)

UTC = dt.timezone.utc


@pytest.fixture
def con(pg_server):
    c = pg8000.native.Connection(user="tester", host=pg_server.host, port=pg_server.port, database="tavana",
                                 timeout=20)
    yield c
    try:
        c.close()
    except Exception:
        pass


def sqlstate(exc) -> str:
    return exc.args[0].get("C") if exc.args and isinstance(exc.args[0], dict) else repr(exc)


def test_select_constant(con):
    assert con.run("SELECT 1 AS one, 'two' AS two") == [[1, "two"]]
    assert [c["name"] for c in con.columns] == ["one", "two"]
    assert [c["type_oid"] for c in con.columns] == [23, 25]
    assert con.row_count == 1


def test_parameters(con):
    assert con.run("SELECT CAST(:a AS int4) + CAST(:b AS int4) AS s", a=40, b=2) == [[42]]
    assert con.run("SELECT CAST(:t AS text) || '!' AS t", t="hi") == [["hi!"]]
    assert con.run("SELECT CAST(:n AS int8) IS NULL", n=None) == [[True]]


def test_many_rows(con):
    rows = con.run("SELECT x, x * 2 FROM generate_series(1, 20000) AS t(x) ORDER BY x")
    assert len(rows) == 20000
    assert rows[0] == [1, 2] and rows[-1] == [20000, 40000]
    assert con.row_count == 20000


# SQL type, Python value, type OID
VALUES = [
    ("bool", False, 16),
    ("int2", -12345, 21),
    ("int4", -2147483648, 23),
    ("int8", 9223372036854775807, 20),
    ("float4", -0.25, 700),
    ("float8", 1e-300, 701),
    ("numeric(30,10)", Decimal("-12345678901234567890.0123456789"), 1700),
    ("text", "multi\nline \u00fc\U0001F600 'quoted'", 25),
    ("varchar", "v", 25),  # DuckDB's one string type is presented as text
    ("bytea", b"\x00\x01\x02\xfe\xff", 17),
    ("date", dt.date(1999, 12, 31), 1082),
    ("time", dt.time(23, 59, 59, 999999), 1083),
    ("timestamp", dt.datetime(2000, 1, 1, 0, 0, 0, 1), 1114),
    ("timestamptz", dt.datetime(2020, 6, 30, 22, 1, 2, 345678, tzinfo=UTC), 1184),
    ("interval", dt.timedelta(days=-2, seconds=3600, microseconds=5), 1186),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678"), 2950),
    ("json", {"k": ["v", 1, None, True]}, 114),
    ("jsonb", {"k": ["v", 1, None, True]}, 114),  # jsonb is DuckDB JSON, presented as json
    ("int4[]", [1, None, -3], 1007),
    ("text[]", ["a", None, "b,c", '"q"'], 1009),
    ("float8[]", [1.5, None], 1022),
    ("bool[]", [True, None, False], 1000),
    ("date[]", [dt.date(2024, 1, 2), None], 1182),
]


@pytest.mark.parametrize("sqltype, value, oid", VALUES, ids=[v[0] for v in VALUES])
def test_type_roundtrip(con, sqltype, value, oid):
    rows = con.run(f"SELECT CAST(:v AS {sqltype}) AS v, CAST(NULL AS {sqltype}) AS n", v=value)
    assert rows == [[value, None]]
    assert [c["type_oid"] for c in con.columns] == [oid, oid]


def test_prepared_statement(con):
    ps = con.prepare("SELECT CAST(:x AS int4) * 10 AS v")
    try:
        assert [ps.run(x=i) for i in range(4)] == [[[0]], [[10]], [[20]], [[30]]]
    finally:
        ps.close()


def test_dml_and_row_count(con):
    con.run("CREATE TEMP TABLE p8_t (id int4 PRIMARY KEY, v text)")
    con.run("INSERT INTO p8_t VALUES (1, 'a'), (2, 'b')")
    assert con.row_count == 2
    con.run("UPDATE p8_t SET v = :v WHERE id = :id", v="z", id=2)
    assert con.row_count == 1
    assert con.run("SELECT id, v FROM p8_t ORDER BY id") == [[1, "a"], [2, "z"]]
    con.run("DELETE FROM p8_t")
    assert con.row_count == 2


@pytest.mark.parametrize("sql, code", [
    ("SELEC 1", "42601"),
    ("SELECT * FROM no_such_table", "42P01"),
    ("SELECT nope FROM (SELECT 1 AS a) AS t", "42703"),
    ("SELECT no_such_function()", "42883"),
    ("SELECT CAST('x' AS int4)", "22P02"),
])
def test_errors(con, sql, code):
    with pytest.raises(pg8000.native.DatabaseError) as e:
        con.run(sql)
    assert sqlstate(e.value) == code, e.value
    assert e.value.args[0].get("S") == "ERROR"
    assert con.run("SELECT 'after error'") == [["after error"]]


def test_constraint_errors(con):
    con.run("CREATE TEMP TABLE p8_c (id int4 PRIMARY KEY, v int4 NOT NULL)")
    con.run("INSERT INTO p8_c VALUES (1, 1)")
    with pytest.raises(pg8000.native.DatabaseError) as e:
        con.run("INSERT INTO p8_c VALUES (1, 2)")
    assert sqlstate(e.value) == "23505"
    with pytest.raises(pg8000.native.DatabaseError) as e:
        con.run("INSERT INTO p8_c VALUES (2, NULL)")
    assert sqlstate(e.value) == "23502"
    assert con.run("SELECT count(*) FROM p8_c") == [[1]]


def test_transaction_failed_state(con):
    con.run("CREATE TEMP TABLE p8_tx (v int4)")
    con.run("START TRANSACTION")
    assert con._transaction_status == b"T"  # from ReadyForQuery
    con.run("INSERT INTO p8_tx VALUES (1)")
    with pytest.raises(pg8000.native.DatabaseError):
        con.run("SELECT * FROM no_such_table")
    with pytest.raises(pg8000.native.DatabaseError) as e:
        con.run("SELECT 1")
    assert sqlstate(e.value) == "25P02"
    assert con._transaction_status == b"E"
    con.run("ROLLBACK")
    assert con._transaction_status == b"I"
    assert con.run("SELECT count(*) FROM p8_tx") == [[0]]
    con.run("BEGIN")
    con.run("INSERT INTO p8_tx VALUES (2)")
    con.run("COMMIT")
    assert con.run("SELECT sum(v) FROM p8_tx") == [[2]]


def test_parameter_statuses(con):
    assert con.parameter_statuses["server_version"].startswith("15.")
    assert con.parameter_statuses["client_encoding"] == "UTF8"
    assert con.parameter_statuses["integer_datetimes"] == "on"
