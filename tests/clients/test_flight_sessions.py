"""Flight SQL sessions by cookie: ADBC's Flight SQL driver with its cookie middleware, and
pyarrow.flight with a small cookie middleware of the test's own, keep temporary tables,
settings, the current catalog and schema from one statement to the next; SetSessionOptions,
GetSessionOptions and CloseSession as Flight defines them. Runs against `serve` and cluster
mode alike."""
from __future__ import annotations

import uuid

import adbc_driver_flightsql.dbapi
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_proto import bytes_field, pack_any, read_varint, string_field
from tavana_server import DEFAULT_CATALOG
from test_flight_sql import flight_server_fixture

pytest_plugins = ["tavana_server"]

COOKIES = {"adbc.flight.sql.rpc.with_cookie_middleware": "true"}


server = flight_server_fixture("flight-sessions")


@pytest.fixture
def uri(server) -> str:
    return f"grpc://{server.host}:{server.flight_port}"


def adbc(uri, cookies: bool):
    return adbc_driver_flightsql.dbapi.connect(uri, db_kwargs=COOKIES if cookies else {}, autocommit=True)


def one(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_adbc_with_cookies_keeps_temporary_tables_and_settings_between_statements(uri):
    with adbc(uri, cookies=True) as conn:
        # A session opens at the first SetSessionOptions; setting the catalog it already has
        # is how a client asks for one.
        conn.adbc_current_catalog = DEFAULT_CATALOG
        one(conn, "CREATE TEMP TABLE kept AS SELECT 42 AS v")
        one(conn, "SET TimeZone = 'Asia/Tokyo'")
        assert one(conn, "SELECT v FROM kept") == [(42,)]
        assert one(conn, "SELECT current_setting('TimeZone')") == [("Asia/Tokyo",)]
        # Prepared statements and bound parameters run in it too.
        with conn.cursor() as cur:
            cur.execute("SELECT v + ? FROM kept", parameters=(1,))
            assert cur.fetchall() == [(43,)]
        # And ingest: a temporary table loaded through it is there for the next statement.
        with conn.cursor() as cur:
            cur.adbc_ingest("loaded", pa.table({"x": [1, 2, 3]}), mode="create", temporary=True)
        assert one(conn, "SELECT sum(x) FROM loaded") == [(6,)]
    # Another connection (another cookie) sees none of it.
    with adbc(uri, cookies=True) as other:
        other.adbc_current_catalog = DEFAULT_CATALOG
        with pytest.raises(Exception, match="kept"):
            one(other, "SELECT v FROM kept")


def test_adbc_current_catalog_and_schema_are_read_and_set(uri):
    with adbc(uri, cookies=True) as conn:
        assert conn.adbc_current_catalog == DEFAULT_CATALOG
        assert conn.adbc_current_db_schema == "main"
        one(conn, "CREATE SCHEMA IF NOT EXISTS sessions_here")
        conn.adbc_current_db_schema = "sessions_here"
        assert conn.adbc_current_db_schema == "sessions_here"
        assert one(conn, "SELECT current_schema()") == [("sessions_here",)]
        with pytest.raises(Exception):
            conn.adbc_current_catalog = "no_such_catalog"
        assert conn.adbc_current_catalog == DEFAULT_CATALOG


def test_adbc_without_cookies_gets_a_session_per_statement(uri):
    """What a client without cookies gets, as before sessions: each statement on its own."""
    with adbc(uri, cookies=False) as conn:
        assert conn.adbc_current_catalog == DEFAULT_CATALOG
        one(conn, "CREATE TEMP TABLE gone AS SELECT 1 AS v")
        with pytest.raises(Exception, match="gone"):
            one(conn, "SELECT v FROM gone")


class Cookies(flight.ClientMiddlewareFactory):
    """Keeps the cookie the server sets and sends it back, as a browser would."""

    def __init__(self, forged: str | None = None):
        self.cookie = f"arrow_flight_session_id={forged}" if forged else None
        self.set_cookies = []

    def start_call(self, info):
        factory = self

        class Middleware(flight.ClientMiddleware):
            def sending_headers(self):
                return {"cookie": factory.cookie} if factory.cookie else {}

            def received_headers(self, headers):
                for value in headers.get("set-cookie", []):
                    factory.set_cookies.append(value)
                    if factory.cookie is None:
                        factory.cookie = value.split(";")[0]
        return Middleware()


def option(key: str, value: bytes) -> bytes:
    """One entry of `map<string, SessionOptionValue> session_options = 1`."""
    return bytes_field(1, string_field(1, key) + bytes_field(2, value))


def fields(buf: bytes) -> list[tuple[int, int, object]]:
    out, i = [], 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        if key & 7 == 0:
            value, i = read_varint(buf, i)
        elif key & 7 == 2:
            n, i = read_varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:
            raise AssertionError(f"wire type {key & 7}")
        out.append((key >> 3, key & 7, value))
    return out


def option_errors(result: bytes) -> dict[str, int]:
    errors = {}
    for _, _, entry in fields(result):
        parts = {f: v for f, _, v in fields(entry)}
        errors[parts[1].decode()] = dict((f, v) for f, _, v in fields(parts.get(2, b""))).get(1, 0)
    return errors


def session_options(result: bytes) -> dict[str, str]:
    out = {}
    for _, _, entry in fields(result):
        parts = {f: v for f, _, v in fields(entry)}
        value = {f: v for f, _, v in fields(parts[2])}
        out[parts[1].decode()] = value[1].decode()
    return out


def action(client, name: str, body: bytes = b"") -> bytes:
    results = list(client.do_action(flight.Action(name, body)))
    return results[0].body.to_pybytes() if results else b""


INVALID_NAME, INVALID_VALUE = 1, 2


def test_session_actions_through_pyarrow_flight(server):
    cookies = Cookies()
    client = flight.connect(f"grpc://{server.host}:{server.flight_port}", middleware=[cookies])
    # The first call hands out a cookie; it names no session yet.
    assert session_options(action(client, "GetSessionOptions"))["schema"] == "main"
    assert cookies.set_cookies and cookies.cookie.startswith("arrow_flight_session_id=")
    with pytest.raises(KeyError, match="no open session"):  # NOT_FOUND
        action(client, "CloseSession")

    request = (option("schema", string_field(1, "main")) + option("TimeZone", string_field(1, "UTC"))
               + option("not a name; DROP TABLE x", string_field(1, "1"))
               + option("no_such_setting", string_field(1, "1"))
               + option("threads", string_field(1, "4"))
               + option("search_path", string_field(1, "no_such_schema")))
    errors = option_errors(action(client, "SetSessionOptions", request))
    # threads applies to every session, which the sandbox keeps sessions from setting
    # (docs/security.md): not a name a session may set.
    assert errors == {"not a name; DROP TABLE x": INVALID_NAME, "no_such_setting": INVALID_NAME,
                      "threads": INVALID_NAME, "search_path": INVALID_VALUE}, errors
    assert session_options(action(client, "GetSessionOptions")) == {"catalog": DEFAULT_CATALOG, "schema": "main"}
    # Statements run in the session now: the setting holds for them.
    assert option_errors(action(client, "SetSessionOptions", option("TimeZone", string_field(1, "Europe/Paris")))) == {}
    assert query(client, "SELECT current_setting('TimeZone') AS tz") == [{"tz": "Europe/Paris"}]
    query(client, "CREATE TEMP TABLE mine AS SELECT 7 AS v")
    assert query(client, "SELECT v FROM mine") == [{"v": 7}]


def query(client, sql: str) -> list[dict]:
    descriptor = flight.FlightDescriptor.for_command(pack_any("CommandStatementQuery", string_field(1, sql)))
    info = client.get_flight_info(descriptor)
    return client.do_get(info.endpoints[0].ticket).read_all().to_pylist()


def test_a_closed_or_forged_session_is_nobodys(server):
    uri = f"grpc://{server.host}:{server.flight_port}"
    cookies = Cookies()
    client = flight.connect(uri, middleware=[cookies])
    action(client, "SetSessionOptions", option("TimeZone", string_field(1, "Asia/Tokyo")))
    status = fields(action(client, "CloseSession"))
    assert status == [(1, 0, 1)], status  # CLOSED
    with pytest.raises(KeyError, match="no open session"):  # NOT_FOUND
        action(client, "CloseSession")
    # A well-formed name the server never opened finds nothing to close, and statements
    # with it run in sessions of their own.
    forged = flight.connect(uri, middleware=[Cookies(forged=str(uuid.uuid4()))])
    with pytest.raises(KeyError, match="no open session"):  # NOT_FOUND
        action(forged, "CloseSession")
    query(forged, "CREATE TEMP TABLE lost AS SELECT 1 AS v")
    with pytest.raises(pa.ArrowInvalid, match="lost"):
        query(forged, "SELECT v FROM lost")
