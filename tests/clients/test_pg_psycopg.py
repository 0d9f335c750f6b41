"""psycopg 3 (sync and async) against the PostgreSQL front door. Expectations are what
PostgreSQL 15 answers; PG_ORACLE_PORT=<port> runs the same tests against a real PostgreSQL
to check them."""
import asyncio
import datetime as dt
import signal
import subprocess
import threading
import uuid
from decimal import Decimal

import psycopg
import psycopg.adapt
import psycopg.types.string
import pytest
from psycopg import pq
from psycopg.types.json import Json, Jsonb

from tavana_server import is_oracle, running_server

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(60)

UTC = dt.timezone.utc

# name, SQL type, type OID, array type OID, a value (psycopg's Python form)
TYPES = [
    ("bool", "bool", 16, 1000, True),
    ("int2", "int2", 21, 1005, -32767),
    ("int4", "int4", 23, 1007, 2147483647),
    ("int8", "int8", 20, 1016, -9223372036854775807),
    ("float4", "float4", 700, 1021, 1.5),
    ("float8", "float8", 701, 1022, -2.5e300),
    ("numeric", "numeric(20,6)", 1700, 1231, Decimal("-12345678901234.567891")),
    ("text", "text", 25, 1009, 'h\u00e9llo \'w\u00f6rld\' "q" {x,y} \\ end'),
    # DuckDB has one string type: VARCHAR is presented as text (docs/postgres.md).
    ("varchar", "varchar", 25, 1009, "abc, def"),
    ("bytea", "bytea", 17, 1001, b"\x00\x01\xff\\abc"),
    ("date", "date", 1082, 1182, dt.date(2024, 2, 29)),
    ("time", "time", 1083, 1183, dt.time(13, 14, 15, 123456)),
    ("timestamp", "timestamp", 1114, 1115, dt.datetime(2024, 2, 29, 13, 14, 15, 123456)),
    ("timestamptz", "timestamptz", 1184, 1185, dt.datetime(2024, 2, 29, 11, 14, 15, 123456, tzinfo=UTC)),
    ("interval", "interval", 1186, 1187, dt.timedelta(days=3, hours=4, minutes=5, seconds=6, microseconds=789000)),
    ("uuid", "uuid", 2950, 2951, uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")),
    ("json", "json", 114, 199, {"a": [1, 2, None], "b": "x"}),
    # jsonb is DuckDB's JSON and is presented as json.
    ("jsonb", "jsonb", 114, 199, {"a": [1, 2, None], "b": "x"}),
]
TYPE_IDS = [t[0] for t in TYPES]
FORMATS = ["text", "binary", "client"]


def wrap(name, value):
    if name == "json":
        return Json(value)
    if name == "jsonb":
        return Jsonb(value)
    return value


def make_cursor(conn, fmt):
    if fmt == "client":
        return psycopg.ClientCursor(conn), "%s"
    if fmt == "binary":
        return conn.cursor(binary=True), "%b"
    return conn.cursor(), "%t"


@pytest.fixture
def conn(pg_server):
    with pg_server.connect() as c:
        yield c


def check_usable(conn):
    """After any error the session must be idle and answer the next query."""
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert conn.execute("SELECT 41 + 1").fetchone() == (42,)


# ---------------------------------------------------------------------------------------
# Start-up
# ---------------------------------------------------------------------------------------

def test_parameter_status(conn):
    info = conn.info
    assert info.parameter_status("server_version").startswith("15.")
    assert 150000 <= info.server_version < 160000
    assert info.parameter_status("server_encoding") == "UTF8"
    assert info.parameter_status("client_encoding") == "UTF8"
    assert info.parameter_status("integer_datetimes") == "on"
    assert info.parameter_status("standard_conforming_strings") == "on"
    assert info.parameter_status("DateStyle") == "ISO, MDY"
    assert info.parameter_status("TimeZone") in ("UTC", "Etc/UTC")
    assert info.backend_pid != 0


def test_server_starts_with_default_settings(tavana_bin):
    """`tavana serve` with no extension setting loads the default extension set from the
    cache that scripts/fetch-duckdb.sh fills, and must come up and answer."""
    with running_server(tavana_bin, default_extensions=True, name="defaults") as server:
        with server.connect() as c:
            assert c.execute("SELECT 1").fetchone() == (1,)


def test_sigterm_exits_cleanly(tavana_bin):
    """SIGTERM is the normal way to stop the service (systemd, Kubernetes): a graceful
    shutdown that exits with status 0."""
    with running_server(tavana_bin, name="sigterm") as server:
        with server.connect() as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
        server.proc.send_signal(signal.SIGTERM)
        try:
            rc = server.proc.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail("tavana did not exit within 15 s of SIGTERM")
        assert rc == 0, f"exit status {rc} after SIGTERM; log:\n{server.log()}"
        log = server.log()
        # SwiftNIO warns (and will trap, in later versions) when a channel is closed after its
        # event-loop group has shut down: the servers must be gone before the group is.
        assert "already shut down" not in log, log[-2000:]
        assert log.rstrip().endswith("stopped"), log[-2000:]


# ---------------------------------------------------------------------------------------
# Simple and extended queries
# ---------------------------------------------------------------------------------------

def test_simple_query_multiple_statements(conn):
    cur = conn.cursor()
    cur.execute("SELECT 1 AS a; SELECT 'x' AS b, 2 AS c")
    assert cur.pgresult.status == pq.ExecStatus.TUPLES_OK
    assert cur.fetchall() == [(1,)]
    assert [d.name for d in cur.description] == ["a"]
    assert cur.nextset()
    assert cur.fetchall() == [("x", 2)]
    assert [d.name for d in cur.description] == ["b", "c"]
    assert not cur.nextset()


def test_empty_query(conn):
    cur = conn.cursor()
    # psycopg sends it; PostgreSQL answers EmptyQueryResponse.
    cur.execute("-- nothing but a comment")
    assert cur.pgresult.status == pq.ExecStatus.EMPTY_QUERY
    assert cur.description is None
    check_usable(conn)


def test_extended_query_with_parameters(conn):
    row = conn.execute("SELECT %s::int4 + %s::int4 AS s, %s::text || 'b' AS t", [40, 2, "a"]).fetchone()
    assert row == (42, "ab")


def test_parameter_null_and_untyped(conn):
    assert conn.execute("SELECT %s::int4 IS NULL", [None]).fetchone() == (True,)
    assert conn.execute("SELECT %s::text", ["plain"]).fetchone() == ("plain",)


def test_command_tags_and_rowcount(conn):
    """Every statement's CommandComplete tag and rowcount; all compared at once so that one
    wrong tag does not hide the others."""
    table = f"tags_{uuid.uuid4().hex[:8]}"
    steps = [
        (f"CREATE TABLE {table} (id int4, name text)", None, "CREATE TABLE", -1),
        (f"INSERT INTO {table} VALUES (1, 'a'), (2, 'b'), (3, 'c')", None, "INSERT 0 3", 3),
        (f"UPDATE {table} SET name = 'z' WHERE id >= %s", [2], "UPDATE 2", 2),
        (f"DELETE FROM {table} WHERE id = 1", None, "DELETE 1", 1),
        (f"SELECT * FROM {table} ORDER BY id", None, "SELECT 2", 2),
        (f"UPDATE {table} SET name = 'q' WHERE id > 100", None, "UPDATE 0", 0),
        (f"CREATE TEMP TABLE {table}_tmp (v int4)", None, "CREATE TABLE", -1),
        (f"CREATE TEMPORARY TABLE {table}_tmp2 AS SELECT 1 AS v", None, "SELECT 1", 1),
        (f"CREATE VIEW {table}_v AS SELECT 1 AS v", None, "CREATE VIEW", -1),
        (f"DROP VIEW {table}_v", None, "DROP VIEW", -1),
        (f"CREATE TABLE {table}_ctas AS SELECT * FROM {table}", None, "SELECT 2", 2),
        (f"DROP TABLE {table}_ctas", None, "DROP TABLE", -1),
        (f"DROP TABLE {table}", None, "DROP TABLE", -1),
        ("SET application_name = 'tags'", None, "SET", -1),
    ]
    wrong = []
    cur = conn.cursor()
    for sql, params, tag, rowcount in steps:
        cur.execute(sql, params)
        if (cur.statusmessage, cur.rowcount) != (tag, rowcount):
            wrong.append(f"{sql!r}: got {cur.statusmessage!r} rowcount {cur.rowcount}, want {tag!r} rowcount {rowcount}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("sql, oid", [
    ("SELECT 1", 23),
    ("SELECT 3000000000", 20),
    ("SELECT 1.5", 1700),
    ("SELECT 'a'", 25),
    ("SELECT true", 16),
    ("SELECT 1.5::float8", 701),
    ("SELECT count(*) FROM generate_series(1, 3)", 20),
    ("SELECT CURRENT_DATE", 1082),
])
def test_result_type_oids_of_expressions(conn, sql, oid):
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        cur.execute(sql + " AS v" if "FROM" not in sql else sql.replace(" FROM", " AS v FROM"))
        assert cur.description[0].type_code == oid, (sql, binary)
        cur.fetchall()


def test_prepared_statement_reused(conn):
    cur = conn.cursor()
    for i in range(6):
        cur.execute("SELECT %s::int8 * 2 AS d, %s::text AS t", [i, f"n{i}"], prepare=True)
        assert cur.fetchone() == (i * 2, f"n{i}")
    # Binary results through the same prepared statement.
    bcur = conn.cursor(binary=True)
    bcur.execute("SELECT %s::int8 * 2 AS d, %s::text AS t", [21, "b"], prepare=True)
    assert bcur.fetchone() == (42, "b")
    check_usable(conn)


def test_describe_prepared_statement(conn):
    """Parse without parameter types, then Describe: ParameterDescription has the types the
    server inferred, RowDescription the result's."""
    pgconn = conn.pgconn
    res = pgconn.prepare(b"described", b"SELECT $1::int4 + 1 AS a, $2::text AS b, $3::date AS c")
    assert res.status == pq.ExecStatus.COMMAND_OK, res.error_message
    res = pgconn.describe_prepared(b"described")
    assert res.status == pq.ExecStatus.COMMAND_OK, res.error_message
    assert [res.param_type(i) for i in range(res.nparams)] == [23, 25, 1082]
    assert [(res.fname(i), res.ftype(i)) for i in range(res.nfields)] == [(b"a", 23), (b"b", 25), (b"c", 1082)]
    res = pgconn.exec_prepared(b"described", [b"41", b"t", b"2024-01-31"])
    assert res.status == pq.ExecStatus.TUPLES_OK, res.error_message
    assert [res.get_value(0, i) for i in range(3)] == [b"42", b"t", b"2024-01-31"]
    conn.execute("DEALLOCATE described")


def test_sql_prepare_execute_deallocate(conn):
    cur = conn.cursor()
    cur.execute("PREPARE add_one AS SELECT $1::int4 + 1 AS v")
    assert cur.statusmessage == "PREPARE"
    cur.execute("EXECUTE add_one(41)")
    assert cur.fetchall() == [(42,)]
    cur.execute("DEALLOCATE add_one")
    assert cur.statusmessage == "DEALLOCATE"


def test_server_side_cursor(pg_server):
    with pg_server.connect(autocommit=False) as conn:
        with conn.cursor(name="c") as cur:
            cur.itersize = 1000
            cur.execute("SELECT x, x * 2 AS y FROM generate_series(1, 10000) AS t(x) ORDER BY x")
            assert [d.name for d in cur.description] == ["x", "y"]
            assert cur.fetchone() == (1, 2)
            assert cur.fetchmany(3) == [(2, 4), (3, 6), (4, 8)]
            rest = list(cur)
            assert len(rest) == 9996
            assert rest[-1] == (10000, 20000)
        conn.commit()
        check_usable(conn)


def test_server_side_cursor_with_hold(pg_server):
    with pg_server.connect(autocommit=True) as conn:
        with conn.cursor(name="held", withhold=True) as cur:
            cur.execute("SELECT x FROM generate_series(1, 500) AS t(x) ORDER BY x")
            assert cur.fetchmany(2) == [(1,), (2,)]
            assert sum(r[0] for r in cur.fetchall()) == sum(range(3, 501))
        check_usable(conn)


def test_executemany(conn):
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE many_t (id int4 PRIMARY KEY, name text, amount numeric(10,2))")
    rows = [(i, f"name{i}" if i % 3 else None, Decimal(i) / 4) for i in range(200)]
    cur.executemany("INSERT INTO many_t VALUES (%s, %s, %s)", rows)
    assert cur.rowcount == 200
    got = conn.execute("SELECT id, name, amount FROM many_t ORDER BY id").fetchall()
    assert got == [(i, n, Decimal(a).quantize(Decimal("0.01"))) for i, n, a in rows]


def test_executemany_returning(conn):
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE ret_t (id int4, doubled int4)")
    cur.executemany("INSERT INTO ret_t VALUES (%s, %s * 2) RETURNING id, doubled", [(i, i) for i in range(5)],
                    returning=True)
    results = []
    while True:
        results.append(cur.fetchone())
        if not cur.nextset():
            break
    assert results == [(i, i * 2) for i in range(5)]


# ---------------------------------------------------------------------------------------
# Transactions
# ---------------------------------------------------------------------------------------

def test_transaction_commit_and_rollback(pg_server):
    table = f"tx_{uuid.uuid4().hex[:8]}"
    with pg_server.connect(autocommit=True) as setup:
        setup.execute(f"CREATE TABLE {table} (v int4)")
    try:
        with pg_server.connect(autocommit=False) as a, pg_server.connect() as b:
            a.execute(f"INSERT INTO {table} VALUES (1)")
            assert a.info.transaction_status == pq.TransactionStatus.INTRANS
            assert b.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)  # not yet visible
            a.commit()
            assert b.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)
            a.execute(f"INSERT INTO {table} VALUES (2)")
            a.rollback()
            assert a.info.transaction_status == pq.TransactionStatus.IDLE
            assert b.execute(f"SELECT sum(v) FROM {table}").fetchone()[0] == 1
    finally:
        with pg_server.connect() as cleanup:
            cleanup.execute(f"DROP TABLE {table}")


def test_explicit_begin_commit_tags(conn):
    cur = conn.cursor()
    wrong = []
    for sql, tag, status in [
        ("BEGIN", "BEGIN", "INTRANS"), ("SELECT 1", "SELECT 1", "INTRANS"), ("COMMIT", "COMMIT", "IDLE"),
        ("START TRANSACTION", "START TRANSACTION", "INTRANS"), ("ROLLBACK", "ROLLBACK", "IDLE"),
        ("BEGIN TRANSACTION", "BEGIN", "INTRANS"), ("END", "COMMIT", "IDLE"),
        ("BEGIN", "BEGIN", "INTRANS"), ("ABORT", "ROLLBACK", "IDLE"),
    ]:
        cur.execute(sql)
        if (cur.statusmessage, conn.info.transaction_status.name) != (tag, status):
            wrong.append(f"{sql!r}: got {cur.statusmessage!r} {conn.info.transaction_status.name}, want {tag!r} {status}")
    assert not wrong, "\n".join(wrong)


def test_failed_transaction_needs_rollback(pg_server):
    with pg_server.connect(autocommit=False) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(psycopg.errors.UndefinedTable) as e:
            conn.execute("SELECT * FROM no_such_table_in_tx")
        assert e.value.sqlstate == "42P01"
        assert conn.info.transaction_status == pq.TransactionStatus.INERROR
        for sql in ["SELECT 1", "SELECT %s::int4"]:
            with pytest.raises(psycopg.errors.InFailedSqlTransaction) as e:
                conn.execute(sql, [1] if "%s" in sql else None)
            assert e.value.sqlstate == "25P02"
            assert conn.info.transaction_status == pq.TransactionStatus.INERROR
        conn.rollback()
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert conn.execute("SELECT 7").fetchone() == (7,)
        conn.rollback()


def test_savepoints(pg_server):
    """psycopg's nested transaction blocks are SAVEPOINT / RELEASE (SQLAlchemy's psycopg
    dialect uses one on every new connection). DuckDB has no savepoints: SAVEPOINT and
    RELEASE are accepted, ROLLBACK TO is refused with 0A000 and the block stays failed."""
    table = f"sp_{uuid.uuid4().hex[:8]}"
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE TEMP TABLE {table} (v int4)")
        with conn.transaction():
            conn.execute(f"INSERT INTO {table} VALUES (1)")
            with conn.transaction():
                conn.execute(f"INSERT INTO {table} VALUES (2)")
        assert conn.execute(f"SELECT v FROM {table} ORDER BY v").fetchall() == [(1,), (2,)]
        cur = conn.cursor()
        cur.execute("BEGIN")
        cur.execute("SAVEPOINT s1")
        assert cur.statusmessage == "SAVEPOINT"
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            cur.execute("ROLLBACK TO SAVEPOINT s1")
        assert conn.info.transaction_status == pq.TransactionStatus.INERROR
        cur.execute("ROLLBACK")
        with pytest.raises(psycopg.errors.NoActiveSqlTransaction):
            cur.execute("SAVEPOINT outside")
        check_usable(conn)


def test_commit_of_failed_transaction_rolls_back(pg_server):
    with pg_server.connect(autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TEMP TABLE failed_commit_t (v int4)")
        cur.execute("BEGIN")
        cur.execute("INSERT INTO failed_commit_t VALUES (1)")
        with pytest.raises(psycopg.errors.SyntaxError):
            cur.execute("SELEC 1")
        cur.execute("COMMIT")
        assert cur.statusmessage == "ROLLBACK"
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert conn.execute("SELECT count(*) FROM failed_commit_t").fetchone() == (0,)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

ERRORS = [
    ("syntax", "SELEC 1", "42601"),
    ("undefined_table", "SELECT * FROM no_such_table", "42P01"),
    ("undefined_column", "SELECT no_such_column FROM (SELECT 1 AS a) AS t", "42703"),
    ("undefined_function", "SELECT no_such_function(1)", "42883"),
    ("invalid_text_representation", "SELECT 'abc'::int4", "22P02"),
    ("invalid_text_representation_param", ("SELECT %s::int4", ["abc"]), "22P02"),
    ("undefined_type", "SELECT 1::no_such_type", "42704"),
    ("numeric_out_of_range", "SELECT 40000::int2", "22003"),
]


@pytest.mark.parametrize("sql, code", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
@pytest.mark.parametrize("fmt", ["text", "binary", "client"])
def test_error_sqlstate(conn, sql, code, fmt):
    if isinstance(sql, tuple):
        sql, params = sql
    else:
        params = None
    cur, ph = make_cursor(conn, fmt)
    if params is not None:
        sql = sql.replace("%s", ph)  # a str parameter: text even in binary format
    with pytest.raises(psycopg.Error) as e:
        cur.execute(sql, params)
    assert e.value.sqlstate == code, f"{e.value.sqlstate}: {e.value}"
    assert e.value.diag.severity == "ERROR"
    assert e.value.diag.message_primary
    check_usable(conn)


def test_unique_violation(conn):
    conn.execute("CREATE TEMP TABLE uniq_t (id int4 PRIMARY KEY)")
    conn.execute("INSERT INTO uniq_t VALUES (1)")
    with pytest.raises(psycopg.errors.UniqueViolation) as e:
        conn.execute("INSERT INTO uniq_t VALUES (%s)", [1])
    assert e.value.sqlstate == "23505"
    check_usable(conn)
    assert conn.execute("SELECT count(*) FROM uniq_t").fetchone() == (1,)


def test_not_null_violation(conn):
    conn.execute("CREATE TEMP TABLE nn_t (id int4 NOT NULL)")
    with pytest.raises(psycopg.errors.NotNullViolation) as e:
        conn.execute("INSERT INTO nn_t VALUES (NULL)")
    assert e.value.sqlstate == "23502"
    check_usable(conn)


def test_error_position_of_syntax_error(conn):
    with pytest.raises(psycopg.errors.SyntaxError) as e:
        conn.execute("SELECT 1 FROM WHERE")
    # PostgreSQL: syntax error at or near "WHERE", position 15 (1-based, in characters).
    assert e.value.diag.statement_position == "15"


def test_error_in_extended_sequence_then_next_query(conn):
    with pytest.raises(psycopg.errors.UndefinedTable):
        conn.execute("SELECT * FROM no_such_table WHERE x = %s", [1])
    assert conn.execute("SELECT %s::int4", [5]).fetchone() == (5,)


def test_query_canceled_by_statement_timeout_is_57014(pg_server):
    """57014 from the client's cancel path (the long case is in test_pg_cancel.py): cancel
    a statement that waits for the watchdog."""
    with pg_server.connect() as conn:
        if is_oracle(pg_server):
            long_sql = "SELECT pg_sleep(30)"
        else:
            long_sql = "SELECT count(*) FROM range(10000000000) t(x) WHERE x % 7 = 3"
        timer = threading.Timer(1.0, conn.cancel_safe)
        timer.start()
        try:
            with pytest.raises(psycopg.errors.QueryCanceled) as e:
                conn.execute(long_sql)
        finally:
            timer.cancel()
        assert e.value.sqlstate == "57014"
        check_usable(conn)


# ---------------------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------------------

# psycopg's client-side binding (ClientCursor) writes bytea and arrays as PostgreSQL
# literals ('\\x..', '{..}') that DuckDB does not parse; server-side binding covers them.
SCALAR_CASES = [(fmt, *t) for t in TYPES for fmt in FORMATS if not (fmt == "client" and t[0] == "bytea")]
# JSON arrays come back as text[] of JSON strings (the JSON alias of list elements is not
# visible in DuckDB's result types); see test_json_array_is_text_array.
ARRAY_CASES = [(fmt, *t) for t in TYPES for fmt in ("text", "binary") if t[0] not in ("json", "jsonb")]


@pytest.mark.parametrize("fmt, name, sqltype, oid, array_oid, value", SCALAR_CASES,
                         ids=[f"{c[1]}-{c[0]}" for c in SCALAR_CASES])
def test_scalar_roundtrip(conn, fmt, name, sqltype, oid, array_oid, value):
    cur, ph = make_cursor(conn, fmt)
    cur.execute(f"SELECT {ph}::{sqltype} AS v, NULL::{sqltype} AS n", [wrap(name, value)])
    assert cur.fetchone() == (value, None)
    assert [d.type_code for d in cur.description] == [oid, oid]


@pytest.mark.parametrize("fmt, name, sqltype, oid, array_oid, value", ARRAY_CASES,
                         ids=[f"{c[1]}-{c[0]}" for c in ARRAY_CASES])
def test_array_roundtrip(conn, fmt, name, sqltype, oid, array_oid, value):
    cur, ph = make_cursor(conn, fmt)
    values = [wrap(name, value), None, wrap(name, value)]
    cur.execute(f"SELECT {ph}::{sqltype}[] AS a, NULL::{sqltype}[] AS n, {ph}::{sqltype}[] AS e",
                [values, []])
    assert cur.fetchone() == ([value, None, value], None, [])
    assert [d.type_code for d in cur.description] == [array_oid, array_oid, array_oid]


@pytest.mark.parametrize("binary", [False, True])
def test_json_array_is_text_array(conn, binary):
    cur = conn.cursor(binary=binary)
    cur.execute("""SELECT ['{"a": 1}', NULL]::json[] AS j""")
    assert cur.description[0].type_code == 1009
    assert cur.fetchone() == (['{"a": 1}', None],)


# PostgreSQL literals (not parameters): SQL text, type OID, psycopg's value.
LITERALS = [
    ("true", 16, True),
    ("'-32768'::int2", 21, -32768),
    ("2147483647::int4", 23, 2147483647),
    ("'-9223372036854775808'::int8", 20, -9223372036854775808),
    ("1.5::float4", 700, 1.5),
    ("-2.5e300::float8", 701, -2.5e300),
    ("12345.6789::numeric(12,4)", 1700, Decimal("12345.6789")),
    ("'x'::text", 25, "x"),
    ("'v'::varchar", 25, "v"),
    ("'\\x00\\xFFA'::bytea", 17, b"\x00\xffA"),
    ("'2024-02-29'::date", 1082, dt.date(2024, 2, 29)),
    ("'13:14:15.123456'::time", 1083, dt.time(13, 14, 15, 123456)),
    ("'2024-02-29 13:14:15.123456'::timestamp", 1114, dt.datetime(2024, 2, 29, 13, 14, 15, 123456)),
    ("'2024-02-29 13:14:15.5+02'::timestamptz", 1184, dt.datetime(2024, 2, 29, 11, 14, 15, 500000, tzinfo=UTC)),
    ("'1 day 02:03:04.5'::interval", 1186, dt.timedelta(days=1, seconds=7384, microseconds=500000)),
    ("'00112233-4455-6677-8899-aabbccddeeff'::uuid", 2950, uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")),
    ("""'{"k": [1, null]}'::json""", 114, {"k": [1, None]}),
    ("""'{"k": [1, null]}'::jsonb""", 114, {"k": [1, None]}),
    ("ARRAY[1, NULL, 3]::int4[]", 1007, [1, None, 3]),
    ("""ARRAY['a b', NULL, '{"}', '\\']::text[]""", 1009, ["a b", None, '{"}', "\\"]),
    ("'[1, NULL, 3]'::int4[]", 1007, [1, None, 3]),
]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("literal, oid, value", LITERALS, ids=[x[0] for x in LITERALS])
def test_literal_value(conn, binary, literal, oid, value):
    cur = conn.cursor(binary=binary)
    cur.execute(f"SELECT {literal} AS v")
    assert cur.fetchone() == (value,)
    assert cur.description[0].type_code == oid


@pytest.mark.parametrize("binary", [False, True])
def test_numeric_keeps_digits(conn, binary):
    # DuckDB's NUMERIC without precision is DECIMAL(18,3) (docs/postgres.md), so give one.
    cur = conn.cursor(binary=binary)
    cur.execute("SELECT '12345.6789'::numeric(20,10) AS a, %s::numeric(20,15) AS b", [Decimal("-0.000123456789")])
    assert cur.description[0].type_code == 1700
    assert cur.fetchone() == (Decimal("12345.6789"), Decimal("-0.000123456789"))


class RawBytesLoader(psycopg.adapt.Loader):
    format = pq.Format.BINARY

    def load(self, data):
        return bytes(data)


@pytest.mark.parametrize("binary", [False, True])
def test_special_float_and_date_values(conn, binary):
    cur = conn.cursor(binary=binary)
    # psycopg cannot represent the date 'infinity': read the wire value itself.
    if binary:
        cur.adapters.register_loader("date", RawBytesLoader)
    else:
        cur.adapters.register_loader("date", psycopg.types.string.TextLoader)
    cur.execute("SELECT 'NaN'::float8, 'Infinity'::float8, '-Infinity'::float4, 'infinity'::date, '-infinity'::date")
    nan, inf, ninf, dinf, dninf = cur.fetchone()
    assert nan != nan and inf == float("inf") and ninf == float("-inf")
    if binary:
        assert (dinf, dninf) == (b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00")
    else:
        assert (dinf, dninf) == ("infinity", "-infinity")


# ---------------------------------------------------------------------------------------
# Async
# ---------------------------------------------------------------------------------------

def run_async(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_async_queries(pg_server):
    async def main():
        async with await psycopg.AsyncConnection.connect(pg_server.conninfo(), autocommit=True) as conn:
            cur = await conn.execute("SELECT 1 AS a; SELECT 2 AS b")
            assert await cur.fetchall() == [(1,)]
            assert cur.nextset()
            assert await cur.fetchall() == [(2,)]
            cur = await conn.execute("SELECT %s::int4 + 1, %s::text", [41, "t"])
            assert await cur.fetchone() == (42, "t")
            bcur = conn.cursor(binary=True)
            await bcur.execute("SELECT %b::int8[], %b::date", [[1, None], dt.date(2000, 1, 1)])
            assert await bcur.fetchone() == ([1, None], dt.date(2000, 1, 1))
            for i in range(3):
                cur = await conn.execute("SELECT %s::int4 * 3", [i], prepare=True)
                assert await cur.fetchone() == (i * 3,)
            with pytest.raises(psycopg.errors.UndefinedTable) as e:
                await conn.execute("SELECT * FROM no_such_async_table")
            assert e.value.sqlstate == "42P01"
            cur = await conn.execute("SELECT 'still fine'")
            assert await cur.fetchone() == ("still fine",)

    run_async(main())


def test_async_transaction_and_failed_state(pg_server):
    async def main():
        async with await psycopg.AsyncConnection.connect(pg_server.conninfo()) as conn:
            await conn.execute("SELECT 1")
            assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
            with pytest.raises(psycopg.errors.SyntaxError):
                await conn.execute("SELEC 1")
            with pytest.raises(psycopg.errors.InFailedSqlTransaction) as e:
                await conn.execute("SELECT 1")
            assert e.value.sqlstate == "25P02"
            await conn.rollback()
            cur = await conn.execute("SELECT 5")
            assert await cur.fetchone() == (5,)
            await conn.commit()

    run_async(main())


def test_async_concurrent_connections(pg_server):
    async def one(i):
        async with await psycopg.AsyncConnection.connect(pg_server.conninfo(), autocommit=True) as conn:
            cur = await conn.execute("SELECT %s::int4, count(*) FROM generate_series(1, %s::int4)", [i, 1000 * i])
            return await cur.fetchone()

    async def main():
        return await asyncio.gather(*(one(i) for i in range(1, 9)))

    assert run_async(main()) == [(i, 1000 * i) for i in range(1, 9)]


def test_async_server_side_cursor(pg_server):
    async def main():
        async with await psycopg.AsyncConnection.connect(pg_server.conninfo()) as conn:
            async with conn.cursor(name="ac") as cur:
                await cur.execute("SELECT x FROM generate_series(1, 3000) AS t(x) ORDER BY x")
                first = await cur.fetchmany(10)
                assert first == [(i,) for i in range(1, 11)]
                total = sum(r[0] for r in await cur.fetchall())
                assert total == sum(range(11, 3001))
            await conn.commit()

    run_async(main())
