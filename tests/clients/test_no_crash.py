"""Inputs that once stopped or froze the whole server (issue 8's reproductions), each sent the
way a client sends it: through psycopg or psql, or as raw protocol messages. Each must end in
a clear error with PostgreSQL's SQLSTATE (or a gRPC status), and after each one the server
must still answer a session opened before it and accept new ones."""
from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time

import psycopg
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_proto import pack_any, string_field
from tavana_server import cstr, error_fields, message, raw_connect, read_until, running_server
from test_flight_sql import flight_port

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(120)

MAX_STATEMENT = 512 * 1024


@pytest.fixture(scope="module")
def server(tavana_bin):
    with running_server(tavana_bin, "--max-statement-bytes", str(MAX_STATEMENT), name="no-crash") as s:
        s.flight_port = flight_port(s)
        yield s


@pytest.fixture(scope="module")
def witness(server):
    with server.connect() as c:
        c.execute("SELECT 1")
        yield c


@pytest.fixture(autouse=True)
def still_serving(server, witness):
    yield
    assert server.alive(), "the server process died"
    assert witness.execute("SELECT 'witness ok'").fetchone() == ("witness ok",)
    with server.connect() as fresh:
        assert fresh.execute("SELECT 'new ok'").fetchone() == ("new ok",)


def sqlstate(server, sql, params=None):
    """The SQLSTATE a statement fails with (fails the test if it succeeds)."""
    with server.connect() as c:
        with pytest.raises(psycopg.Error) as e:
            c.execute(sql, params)
        return e.value.sqlstate, str(e.value)


# -- 1. SET statement_timeout ---------------------------------------------------------------

@pytest.mark.parametrize("value", ["9223372036854775807s", "9999999999999999h", "2147483648", "1e400", "99999999999999999999999"])
def test_statement_timeout_out_of_range_is_22023(server, value):
    state, text = sqlstate(server, f"SET statement_timeout = '{value}'")
    assert state == "22023", text


def test_statement_timeout_through_psql_as_a_new_user_would(server):
    r = subprocess.run(["psql", "-X", "-h", server.host, "-p", str(server.port), "-U", "user", "-d", "user",
                        "-c", "SET statement_timeout = '9999999999999999h'"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert 'invalid value for parameter "statement_timeout"' in r.stderr


def test_statement_timeout_accepts_postgres_units(server):
    with server.connect() as c:
        for value, shown in [("1.5s", "1500"), ("2min", "120000"), ("250", "250"), ("2147483647", "2147483647")]:
            c.execute(f"SET statement_timeout = '{value}'")
        state, text = sqlstate(server, "SET statement_timeout = '-1'")
        assert state == "22023" and "outside the valid range" in text


# -- 2, 3. date/time parameters ---------------------------------------------------------------

@pytest.mark.parametrize("sql,value", [
    ("SELECT %s::timestamp", "300000-01-01 00:00:00"),
    ("SELECT %s::timestamptz", "999999999-01-01"),
    ("SELECT %s::timestamp", "999999999-12-31 23:59:59.999999"),
    ("SELECT %s::date", "999999999-01-01"),
])
def test_far_dates_are_out_of_range(server, sql, value):
    state, text = sqlstate(server, sql, (value,))
    assert state == "22008", text


@pytest.mark.parametrize("value", ["-9223372036854775808 us", "99999999999999999999 us", "9223372036854775807 hours",
                                   "-9223372036854775808 us ago", "1 day -2562047788:00:54.775808"])
def test_extreme_intervals_answer_or_fail_cleanly(server, value):
    with server.connect() as c:
        try:
            c.execute("SELECT %s::interval", (value,)).fetchone()
        except psycopg.Error as e:
            assert e.sqlstate == "22008", str(e)


# -- 4, 5. COPY options ---------------------------------------------------------------------

@pytest.mark.parametrize("options", ["DELIMITER 'é'", "CSV QUOTE 'é'", "CSV ESCAPE 'é'", "DELIMITER E'\\r\\n'",
                                     "(FORMAT csv, DELIMITER 'ab')"])
def test_copy_to_with_a_multibyte_option_is_refused(server, options):
    with server.connect() as c:
        with pytest.raises(psycopg.Error) as e:
            with c.cursor().copy(f"COPY (SELECT 1, 2) TO STDOUT WITH {options}") as copy:
                list(copy)
    assert e.value.sqlstate == "0A000", str(e.value)


def test_copy_from_with_a_multibyte_delimiter_is_refused(server):
    with server.connect() as c:
        c.execute("CREATE TEMP TABLE t (a int, b int)")
        with pytest.raises(psycopg.Error) as e:
            with c.cursor().copy("COPY t FROM STDIN WITH DELIMITER 'é'") as copy:
                copy.write(b"1\xc3\xa92\n")
        assert e.value.sqlstate == "0A000", str(e.value)


@pytest.mark.parametrize("options,state", [
    ("DELIMITER E'\\n'", "22023"), ("(FORMAT csv, DELIMITER ',', QUOTE ',')", "22023"), ("QUOTE '\"'", "0A000"),
    ("DELIMITER 'a'", "22023"), ("(FORMAT csv, NULL 'x,y')", "22023"),
])
def test_copy_option_combinations_postgres_refuses(server, options, state):
    with server.connect() as c:
        with pytest.raises(psycopg.Error) as e:
            with c.cursor().copy(f"COPY (SELECT 1) TO STDOUT WITH {options}") as copy:
                list(copy)
    assert e.value.sqlstate == state, str(e.value)


def test_copy_with_too_many_columns_is_refused(server):
    cols = ",".join(["a"] * 40_000)
    with server.connect() as c:
        c.execute("CREATE TEMP TABLE t (a int)")
        with pytest.raises(psycopg.Error) as e:
            with c.cursor().copy(f"COPY t ({cols}) FROM STDIN") as copy:
                copy.write(b"1\n")
        assert e.value.sqlstate == "54011", str(e.value)


def test_copy_text_with_many_lines_in_one_message_is_linear(server):
    """200,000 rows in one CopyData message: the converter keeps up (it was quadratic)."""
    with server.connect() as c:
        c.execute("CREATE TEMP TABLE many (a int)")
        data = b"".join(b"%d\n" % i for i in range(200_000))
        t0 = time.monotonic()
        with c.cursor().copy("COPY many FROM STDIN") as copy:
            copy.write(data)
        assert c.execute("SELECT count(*), sum(a) FROM many").fetchone() == (200_000, sum(range(200_000)))
        assert time.monotonic() - t0 < 60


# -- 6, 7. binary parameters on a raw socket ----------------------------------------------------

def extended(server, sql, oids, params, formats):
    """Parse/Bind/Execute/Sync on a raw connection: the messages that came back."""
    s = raw_connect(server)
    try:
        parse = cstr("") + cstr(sql) + struct.pack("!h", len(oids)) + b"".join(struct.pack("!I", o) for o in oids)
        bind = cstr("") + cstr("") + struct.pack("!h", len(formats)) + b"".join(struct.pack("!h", f) for f in formats)
        bind += struct.pack("!h", len(params)) + b"".join(struct.pack("!i", len(p)) + p for p in params)
        bind += struct.pack("!h", 0)
        s.sendall(message(b"P", parse) + message(b"B", bind) + message(b"E", cstr("") + struct.pack("!i", 0)) + message(b"S"))
        return read_until(s, b"Z")
    finally:
        s.close()


def first_error(msgs):
    errors = [error_fields(body) for kind, body in msgs if kind == b"E"]
    assert errors, f"expected an ErrorResponse, got {[k for k, _ in msgs]}"
    return errors[0]


def test_timetz_with_the_smallest_zone_offset(server):
    value = struct.pack("!qi", 0, -2**31)
    err = first_error(extended(server, "SELECT $1::timetz", [1266], [value], [1]))
    assert err["C"] == "22P03", err


def test_time_outside_a_day_is_refused(server):
    err = first_error(extended(server, "SELECT $1::time", [1083], [struct.pack("!q", -1)], [1]))
    assert err["C"] == "22008", err


def test_binary_array_claiming_a_billion_elements(server):
    # ndim 1, no nulls, int4 elements, 1e9 elements, lower bound 1, and no element at all.
    value = struct.pack("!iiIii", 1, 0, 23, 1_000_000_000, 1)
    t0 = time.monotonic()
    err = first_error(extended(server, "SELECT $1", [1007], [value], [1]))
    assert err["C"] == "08P01", err
    assert time.monotonic() - t0 < 10


def test_binary_array_round_trips(server):
    value = struct.pack("!iiIii", 1, 0, 23, 3, 1) + b"".join(struct.pack("!ii", 4, v) for v in (7, 8, 9))
    msgs = extended(server, "SELECT $1::int[]", [1007], [value], [1])
    rows = [body for kind, body in msgs if kind == b"D"]
    assert rows and b"{7,8,9}" in rows[0], msgs


# -- 8. statements DuckDB's parser chokes on ------------------------------------------------------

def test_unterminated_nested_comment_is_a_syntax_error(server):
    t0 = time.monotonic()
    state, text = sqlstate(server, "SELECT 1 " + "/*" * 20_000)
    assert state == "42601" and "unterminated /* comment" in text
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("sql", ["/*" * 5_000 + "*/" * 5_000 + " SELECT 1 AS v", "SELECT 1 AS v " + "/**/" * 10_000,
                                 "SELECT /* a /* b */ c */ 1 AS v"])
def test_comments_run_whatever_they_hold(server, sql):
    t0 = time.monotonic()
    with server.connect() as c:
        assert c.execute(sql).fetchone() == (1,)
    assert time.monotonic() - t0 < 10


def test_comment_markers_inside_literals_stay(server):
    with server.connect() as c:
        assert c.execute("SELECT '/* not a comment */' AS a, $$ /* */ $$ AS b, \"/*x*/\".v FROM (SELECT 1 AS v) AS \"/*x*/\"").fetchone() \
            == ("/* not a comment */", " /* */ ", 1)


def test_comment_keeps_error_positions(server):
    with server.connect() as c:
        with pytest.raises(psycopg.Error) as e:
            c.execute("SELECT /* x /* y */ */ nosuchcolumn")
    assert e.value.sqlstate == "42703"
    assert e.value.diag.statement_position == "24"


def test_statement_over_the_limit_is_54000(server):
    state, text = sqlstate(server, "SELECT '" + "x" * MAX_STATEMENT + "'")
    assert state == "54000" and "maxStatementBytes" in text


def test_comment_flood_from_six_clients_does_not_freeze_others(server):
    """Six clients each send a 1.2 MB unterminated nested comment and hang up; PostgreSQL
    and Flight must keep answering everyone else right away."""
    def abuse():
        s = raw_connect(server)
        try:
            s.sendall(message(b"Q", cstr("/*" * 100_000)))
        finally:
            s.close()

    threads = [threading.Thread(target=abuse) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t0 = time.monotonic()
    with server.connect() as c:
        assert c.execute("SELECT 'bystander'").fetchone() == ("bystander",)
    client = flight.connect(f"grpc://{server.host}:{server.flight_port}")
    info = client.get_flight_info(flight.FlightDescriptor.for_command(b"SELECT 42 AS v"))
    assert client.do_get(info.endpoints[0].ticket).read_all().to_pylist() == [{"v": 42}]
    assert time.monotonic() - t0 < 5


def test_slow_parses_of_one_user_leave_threads_for_another(server):
    """One user keeps four sessions parsing slow (but legal) statements; another user's
    statements are answered meanwhile. The per-user parse limit leaves threads free."""
    in_list = "SELECT 1 IN (" + ",".join(["1"] * 12_000) + ")"
    stop = time.monotonic() + 6

    def hog():
        with server.connect(user="hog") as c:
            while time.monotonic() < stop:
                c.execute(in_list)

    threads = [threading.Thread(target=hog) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1)
    worst = 0.0
    with server.connect(user="bystander") as c:
        while time.monotonic() < stop - 1:
            t0 = time.monotonic()
            assert c.execute("SELECT 2").fetchone() == (2,)
            worst = max(worst, time.monotonic() - t0)
    for t in threads:
        t.join()
    assert worst < 3, f"a bystander's SELECT waited {worst:.2f}s behind another user's parsing"


def test_statement_timeout_covers_parsing(server):
    """A parse that takes longer than statement_timeout ends with 57014 when the timeout
    fires, not when DuckDB is done."""
    in_list = "SELECT 1 IN (" + ",".join(["1"] * 100_000) + ")"
    with server.connect() as c:
        t0 = time.monotonic()
        c.execute(in_list)
        parse_time = time.monotonic() - t0
        if parse_time < 0.3:
            pytest.skip(f"parsing took only {parse_time:.2f}s here; nothing to time out")
        c.execute("SET statement_timeout = '50ms'")
        with pytest.raises(psycopg.Error) as e:
            c.execute(in_list)
        assert e.value.sqlstate == "57014"
        c.execute("RESET statement_timeout")
        assert c.execute("SELECT 3").fetchone() == (3,)


# -- output limits that SQL can reach -----------------------------------------------------------

def test_fetch_with_the_largest_count(server):
    with server.connect() as c:
        with c.transaction():
            c.execute("DECLARE cur CURSOR FOR SELECT * FROM range(10)")
            assert c.execute("FETCH 1 FROM cur").fetchall() == [(0,)]
            rows = c.execute("FETCH 9223372036854775807 FROM cur").fetchall()
            assert [r[0] for r in rows] == list(range(1, 10))


def test_too_many_result_columns(server):
    state, text = sqlstate(server, "SELECT " + ",".join(["1"] * 33_000))
    assert state == "54011", text


def test_too_many_parameters(server):
    with server.connect() as c:
        with pytest.raises(psycopg.Error) as e:
            c.execute("SELECT " + "+".join(f"${i}" for i in range(1, 3)) + " + $70000", prepare=True)
    assert e.value.sqlstate in ("54000", "42P02", "08P01"), str(e.value)


@pytest.mark.parametrize("value", ["'infinity'::timestamp_s", "'-infinity'::timestamp_ms", "'infinity'::timestamp_ns",
                                   "'294247-01-10 04:00:54'::timestamp_s", "INTERVAL '-2562047788 hours'",
                                   "(-9223372036854775808)::bigint", "'-infinity'::date", "'infinity'::timestamptz",
                                   "'24:00:00'::time", "'-83 years -5 months'::interval", "(-170141183460469231731687303715884105728)::hugeint",
                                   "'-9999999999999999999999999999.9999999999'::decimal(38,10)", "'-1e308'::double",
                                   "'5877642-06-25 (BC)'::date", "'290309-12-22 (BC) 00:00:00'::timestamp"])
@pytest.mark.parametrize("result_format", [0, 1])
def test_extreme_result_values_encode(server, value, result_format):
    """Values at the edges of DuckDB's types, sent as text and as binary. psycopg cannot
    load some of them (infinite dates), so the DataRow is read off a raw socket."""
    s = raw_connect(server)
    try:
        bind = cstr("") + cstr("") + struct.pack("!hh", 0, 0) + struct.pack("!hh", 1, result_format)
        s.sendall(message(b"P", cstr("") + cstr(f"SELECT {value} AS v") + struct.pack("!h", 0)) + message(b"B", bind)
                  + message(b"E", cstr("") + struct.pack("!i", 0)) + message(b"S"))
        msgs = read_until(s, b"Z")
    finally:
        s.close()
    errors = [error_fields(body) for kind, body in msgs if kind == b"E"]
    assert not errors, errors
    assert [k for k, _ in msgs].count(b"D") == 1


# -- Flight: malformed action bodies --------------------------------------------------------------

@pytest.mark.parametrize("action", ["CreatePreparedStatement", "BeginTransaction", "EndTransaction", "ClosePreparedStatement", "CancelQuery"])
@pytest.mark.parametrize("body", [
    b"\x01\x02garbage",
    pack_any("CommandStatementQuery", string_field(1, "SELECT 1")),  # another message type
    string_field(1, "type.googleapis.com/arrow.flight.protocol.sql.ActionBeginTransactionRequest") + b"\x12\x03\xff\xff\xff",
])
def test_malformed_action_body_is_invalid_argument(server, action, body):
    client = flight.connect(f"grpc://{server.host}:{server.flight_port}")
    with pytest.raises(pa.ArrowInvalid) as e:  # INVALID_ARGUMENT; INTERNAL would be FlightInternalError
        list(client.do_action(flight.Action(action, body)))
    assert "typeMismatch" not in str(e.value)


# -- connections that hold places without doing anything -------------------------------------------

def test_too_many_clients_are_refused_and_places_come_back(tavana_bin):
    with running_server(tavana_bin, "--max-connections", "3", name="max-connections") as s:
        held = [s.connect() for _ in range(3)]
        with pytest.raises(psycopg.OperationalError) as e:
            s.connect()
        assert "too many clients" in str(e.value)
        held.pop().close()
        # The place comes back once the server has seen the close (as in PostgreSQL, where
        # the backend's exit is not synchronous with the client's): within moments.
        deadline = time.monotonic() + 10
        while True:
            try:
                again = s.connect()
                break
            except psycopg.OperationalError as e:
                assert "too many clients" in str(e)
                assert time.monotonic() < deadline, "the closed connection's place never came back"
                time.sleep(0.1)
        with again:
            assert again.execute("SELECT 1").fetchone() == (1,)
        for c in held:
            c.close()


def test_a_silent_client_is_disconnected_after_the_authentication_timeout(tavana_bin):
    with running_server(tavana_bin, "--authentication-timeout", "1", name="auth-timeout") as s:
        sock = s.socket(timeout=10)
        t0 = time.monotonic()
        try:
            assert sock.recv(1) == b""  # closed by the server
        except ConnectionResetError:
            pass
        finally:
            sock.close()
        assert 0.5 < time.monotonic() - t0 < 8
        with s.connect() as c:  # an authenticated session is not bound by it
            time.sleep(1.5)
            assert c.execute("SELECT 1").fetchone() == (1,)
