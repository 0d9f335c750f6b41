"""Malformed and out-of-order protocol traffic on raw sockets. PostgreSQL answers such a
client with an ErrorResponse (ERROR and carry on, or FATAL and close) or just closes that
one connection; it never hangs, and other sessions never notice. Each test checks that a
psycopg connection opened before it still works and that new connections are accepted."""
import random
import socket
import struct
import time

import psycopg
import pytest

from tavana_server import (cstr, error_fields, message, oracle_server, read_message, read_until, running_server,
                           serve_help, startup_packet)

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(60)

MAX_MESSAGE = 4096


@pytest.fixture(scope="module")
def server(request):
    if oracle_server():
        yield oracle_server()
        return
    tavana_bin = request.getfixturevalue("tavana_bin")
    if "--max-message-size" in serve_help(tavana_bin):
        kw = {"args": ("--max-message-size", str(MAX_MESSAGE))}
    else:
        kw = {"config": {"maxMessageSize": MAX_MESSAGE}}
    with running_server(tavana_bin, *kw.get("args", ()), config=kw.get("config"), name="protocol") as s:
        yield s


@pytest.fixture(scope="module")
def witness(server):
    """A psycopg session opened before the abuse starts."""
    with server.connect() as c:
        c.execute("SELECT 1")
        yield c


@pytest.fixture(autouse=True)
def others_unaffected(server, witness):
    yield
    assert server.alive(), "the server process died"
    assert witness.execute("SELECT 'witness ok'").fetchone() == ("witness ok",)
    with server.connect() as fresh:
        assert fresh.execute("SELECT 'new ok'").fetchone() == ("new ok",)


def connect(server, timeout=10.0):
    s = server.socket(timeout)
    s.sendall(startup_packet())
    msgs = read_until(s, b"ZE")
    assert msgs[-1][0] == b"Z", f"startup failed: {error_fields(msgs[-1][1])}"
    return s


def outcome(s, timeout=10.0):
    """Reads until an ErrorResponse or EOF: ('error', fields, later messages) or
    ('closed', None, []). Fails if the server neither answers nor closes in time."""
    s.settimeout(timeout)
    seen = []
    try:
        for _ in range(1000):
            kind, body = read_message(s)
            if kind == b"E":
                fields = error_fields(body)
                return "error", fields, seen
            seen.append(kind)
    except (ConnectionError, ConnectionResetError):
        return "closed", None, seen
    except socket.timeout:
        pytest.fail(f"no ErrorResponse and no close within {timeout}s (saw {seen})")
    pytest.fail(f"no ErrorResponse within 1000 messages (saw {seen})")


def closed_or_usable(s, fields):
    """After an error: FATAL means the server closes the connection; ERROR means the
    session goes on and answers a query."""
    if fields["S"] == "FATAL":
        s.settimeout(5)
        try:
            rest = s.recv(1)
        except ConnectionResetError:
            rest = b""
        assert rest == b"", "FATAL error but the connection stayed open"
        return "closed"
    # A Sync ends any skip-until-Sync state; then a query must be answered.
    row = (b"D", b"\x00\x01\x00\x00\x00\x06usable")
    msgs = []
    try:
        s.settimeout(10)
        s.sendall(message(b"S") + message(b"Q", cstr("SELECT 'usable'")))
        for _ in range(4):  # ReadyForQuery of earlier Syncs may come first
            msgs += read_until(s, b"Z")
            if row in msgs:
                return "usable"
    except (ConnectionError, socket.timeout) as e:
        pytest.fail(f"non-FATAL error ({fields}) but the session is unusable: {e!r}; saw {msgs}")
    pytest.fail(f"non-FATAL error ({fields}) but the query after it was not answered: {msgs}")


def test_message_just_under_limit_works(server):
    s = connect(server)
    try:
        sql = "SELECT '" + "x" * (MAX_MESSAGE - 100) + "' AS v"
        s.sendall(message(b"Q", cstr(sql)))
        msgs = read_until(s, b"ZE")
        assert msgs[-1][0] == b"Z", error_fields(msgs[-1][1])
        assert any(k == b"D" for k, _ in msgs)
    finally:
        s.close()


def test_message_over_limit(server):
    s = connect(server)
    try:
        sql = "SELECT '" + "x" * (MAX_MESSAGE * 3) + "'"
        s.sendall(message(b"Q", cstr(sql)))
        kind, fields, _ = outcome(s)
        if kind == "error":
            assert fields["C"] in ("54000", "08P01"), fields
            closed_or_usable(s, fields)
    finally:
        s.close()


def test_announced_huge_message_is_refused_without_waiting(server):
    """A header announcing 1 GB: refused at once, not after waiting for (or allocating) it."""
    s = connect(server)
    try:
        s.sendall(b"Q" + struct.pack("!i", 1 << 30) + b"SELECT 1")
        t0 = time.monotonic()
        kind, fields, _ = outcome(s, timeout=5)
        assert time.monotonic() - t0 < 5
        if kind == "error":
            assert fields["C"] in ("54000", "08P01"), fields
            assert fields["S"] == "FATAL", fields
    finally:
        s.close()


def test_truncated_message_then_eof(server):
    s = connect(server)
    try:
        body = cstr("SELECT 1")
        s.sendall(b"Q" + struct.pack("!i", 100) + body)  # announces 100 bytes, sends 13
        s.shutdown(socket.SHUT_WR)
        kind, fields, _ = outcome(s)
        if kind == "error":
            assert fields["C"].startswith("08"), fields
    finally:
        s.close()


def test_malformed_bodies(server):
    """Complete messages whose contents are cut short: a Query without its NUL, a Parse
    without its parameter count, a Bind whose parameter length points past the end."""
    cases = [
        message(b"Q", b"SELECT 1"),
        message(b"P", cstr("") + cstr("SELECT 1")),
        message(b"P", cstr("") + cstr("SELECT $1::text") + struct.pack("!h", 0))
        + message(b"B", cstr("") + cstr("") + struct.pack("!hh", 0, 1) + struct.pack("!i", 50) + b"abc"),
        message(b"D", b"Z" + cstr("x")),
        message(b"E", cstr("")),
    ]
    for raw in cases:
        s = connect(server)
        try:
            s.sendall(raw + message(b"S"))
            kind, fields, _ = outcome(s)
            if kind == "error":
                assert fields["C"] == "08P01", (raw, fields)
                closed_or_usable(s, fields)
        finally:
            s.close()


def test_invalid_message_length(server):
    s = connect(server)
    try:
        s.sendall(b"Q" + struct.pack("!i", 2))  # shorter than the length field itself
        kind, fields, _ = outcome(s)
        if kind == "error":
            assert fields["C"] == "08P01", fields
            assert fields["S"] == "FATAL", fields
    finally:
        s.close()


def test_unknown_message_type(server):
    s = connect(server)
    try:
        s.sendall(message(b"y", b"whatever"))
        kind, fields, _ = outcome(s)
        # PostgreSQL: FATAL 08P01 invalid frontend message type 121, then close.
        assert kind == "error", "connection closed without an ErrorResponse"
        assert fields["C"] == "08P01", fields
        closed_or_usable(s, fields)
    finally:
        s.close()


def test_bind_before_parse(server):
    s = connect(server)
    try:
        s.sendall(message(b"B", cstr("") + cstr("never_parsed") + struct.pack("!hhh", 0, 0, 0)) + message(b"S"))
        msgs = read_until(s, b"Z")
        kinds = [k for k, _ in msgs]
        assert kinds == [b"E", b"Z"], msgs
        fields = error_fields(msgs[0][1])
        assert (fields["S"], fields["C"]) == ("ERROR", "26000"), fields
        assert msgs[-1][1] == b"I"
        closed_or_usable(s, fields)
    finally:
        s.close()


def test_execute_missing_portal(server):
    s = connect(server)
    try:
        s.sendall(message(b"E", cstr("no_portal") + struct.pack("!i", 0)) + message(b"S"))
        msgs = read_until(s, b"Z")
        assert [k for k, _ in msgs] == [b"E", b"Z"], msgs
        fields = error_fields(msgs[0][1])
        assert (fields["S"], fields["C"]) == ("ERROR", "34000"), fields
        closed_or_usable(s, fields)
    finally:
        s.close()


def test_describe_missing_statement_and_portal(server):
    s = connect(server)
    try:
        for target, code in ((b"S", "26000"), (b"P", "34000")):
            s.sendall(message(b"D", target + cstr("nothing_here")) + message(b"S"))
            msgs = read_until(s, b"Z")
            assert [k for k, _ in msgs] == [b"E", b"Z"], msgs
            assert error_fields(msgs[0][1])["C"] == code
    finally:
        s.close()


def test_error_skips_until_sync(server):
    """After an error in an extended sequence, everything up to Sync is ignored: one
    ErrorResponse, then ReadyForQuery."""
    s = connect(server)
    try:
        s.sendall(
            message(b"P", cstr("") + cstr("SELEC broken") + struct.pack("!h", 0))
            + message(b"B", cstr("") + cstr("") + struct.pack("!hhh", 0, 0, 0))
            + message(b"D", b"P" + cstr(""))
            + message(b"E", cstr("") + struct.pack("!i", 0))
            + message(b"S"))
        msgs = read_until(s, b"Z")
        assert [k for k, _ in msgs] == [b"E", b"Z"], msgs
        assert error_fields(msgs[0][1])["C"] == "42601"
        # And the session works for a correct sequence afterwards.
        s.sendall(
            message(b"P", cstr("") + cstr("SELECT $1::int4 + 1") + struct.pack("!hi", 1, 23))
            + message(b"B", cstr("") + cstr("") + struct.pack("!hhi", 0, 1, 2) + b"41" + struct.pack("!h", 0))
            + message(b"E", cstr("") + struct.pack("!i", 0))
            + message(b"S"))
        msgs = read_until(s, b"Z")
        assert [k for k, _ in msgs] == [b"1", b"2", b"D", b"C", b"Z"], msgs
        assert msgs[2][1] == b"\x00\x01\x00\x00\x00\x0242"
    finally:
        s.close()


def test_bind_with_wrong_parameter_count(server):
    s = connect(server)
    try:
        s.sendall(message(b"P", cstr("two") + cstr("SELECT $1::int4 + $2::int4") + struct.pack("!h", 0))
                  + message(b"B", cstr("") + cstr("two") + struct.pack("!hhi", 0, 1, 1) + b"1" + struct.pack("!h", 0))
                  + message(b"S"))
        msgs = read_until(s, b"Z")
        assert [k for k, _ in msgs] == [b"1", b"E", b"Z"], msgs
        assert error_fields(msgs[1][1])["C"] == "08P01"
    finally:
        s.close()


def test_random_bytes_after_startup(server):
    rng = random.Random(20261127)
    for _ in range(5):
        s = connect(server)
        try:
            s.sendall(rng.randbytes(3000))
            outcome(s)  # an error or a close, in time, is all we ask
        finally:
            s.close()


def test_random_bytes_instead_of_startup(server):
    rng = random.Random(7)
    for n in (3, 8, 64, 5000):
        s = server.socket(timeout=10)
        try:
            data = rng.randbytes(n)
            s.sendall(data)
            if n < 8:
                s.shutdown(socket.SHUT_WR)
            outcome(s)
        finally:
            s.close()


def test_protocol_version_2_is_refused(server):
    s = server.socket(timeout=10)
    try:
        s.sendall(startup_packet(version=0x00020000))
        data = b""
        while len(data) < 100_000:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        # PostgreSQL answers in the 2.0 format the client asked for ('E' and a C string:
        # "FATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.0"), then
        # closes; a 3.0 ErrorResponse with 0A000 is as good.
        assert data[:1] == b"E", f"no error before the close: {data!r}"
        length = struct.unpack("!i", data[1:5])[0] if len(data) >= 5 else -1
        if length == len(data) - 1:
            fields = error_fields(data[5:])
            assert (fields["S"], fields["C"]) == ("FATAL", "0A000"), fields
            assert "2.0" in fields["M"], fields
        else:
            assert b"unsupported frontend protocol 2.0" in data, data
    finally:
        s.close()


def test_newer_minor_version_is_negotiated(server):
    """3.2 (libpq 18's max): PostgreSQL 15 answers NegotiateProtocolVersion ('v') naming
    3.0, then carries on with the startup."""
    s = server.socket(timeout=10)
    try:
        s.sendall(startup_packet(version=0x00030002))
        msgs = read_until(s, b"ZE")
        kinds = [k for k, _ in msgs]
        assert kinds[-1] == b"Z", msgs
        assert b"v" in kinds, f"no NegotiateProtocolVersion in {kinds}"
        body = dict(msgs)[b"v"]
        newest, n_unrecognized = struct.unpack("!ii", body[:8])
        assert newest == 0x00030000
    finally:
        s.close()


def test_startup_without_user(server):
    s = server.socket(timeout=10)
    try:
        body = struct.pack("!i", 196608) + cstr("database") + cstr("tavana") + b"\0"
        s.sendall(struct.pack("!i", len(body) + 4) + body)
        kind, fields, _ = outcome(s)
        assert kind == "error"
        assert (fields["S"], fields["C"]) == ("FATAL", "28000"), fields
    finally:
        s.close()


def test_invalid_utf8_in_query(server):
    s = connect(server)
    try:
        s.sendall(message(b"Q", b"SELECT '\xff\xfe'\0"))
        kind, fields, _ = outcome(s)
        assert kind == "error"
        assert fields["C"] == "22021", fields
        closed_or_usable(s, fields)
    finally:
        s.close()


def test_terminate_closes(server):
    s = connect(server)
    try:
        s.sendall(message(b"X"))
        s.settimeout(5)
        assert s.recv(1) == b""
    finally:
        s.close()


def test_many_abrupt_disconnects(server):
    for i in range(30):
        s = server.socket(timeout=5)
        if i % 3 == 0:
            s.sendall(startup_packet()[:7])
        elif i % 3 == 1:
            s.sendall(startup_packet())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    with psycopg.connect(server.conninfo()) as c:
        assert c.execute("SELECT 3").fetchone() == (3,)
