"""Writes the seed corpus of each fuzz target into fuzz/corpus/TARGET/: valid inputs of every
kind the target understands, so that libFuzzer starts from the protocol instead of from
nothing. Deterministic (no randomness): rerunning it rewrites the same files.

    .venv/bin/python fuzz/make_corpus.py

The files are committed; run this again when a target learns a new kind of input.
"""
from __future__ import annotations

import hashlib
import io
import pathlib
import struct
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "clients"))

from flight_proto import bytes_field, int_field, pack_any, string_field  # noqa: E402

CORPUS = HERE / "corpus"


def write(target: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    (folder / name).write_bytes(data)


# -- PostgreSQL -------------------------------------------------------------------------------

def msg(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def startup(user: str = "u", **params: str) -> bytes:
    body = struct.pack("!i", 196608) + cstr("user") + cstr(user) + cstr("database") + cstr("d")
    for k, v in params.items():
        body += cstr(k) + cstr(v)
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def parse(sql: str, oids=(), name: str = "") -> bytes:
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!h", len(oids)) + b"".join(struct.pack("!I", o) for o in oids))


def bind(params, formats=(), results=(), statement: str = "", portal: str = "") -> bytes:
    body = cstr(portal) + cstr(statement) + struct.pack("!h", len(formats)) + b"".join(struct.pack("!h", f) for f in formats)
    body += struct.pack("!h", len(params))
    for p in params:
        body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
    body += struct.pack("!h", len(results)) + b"".join(struct.pack("!h", f) for f in results)
    return msg(b"B", body)


def execute(portal: str = "", rows: int = 0) -> bytes:
    return msg(b"E", cstr(portal) + struct.pack("!i", rows))


SYNC = msg(b"S")

STATEMENTS = [
    "SELECT 1", "SELECT $1::int + $2", "BEGIN", "COMMIT", "ROLLBACK", "SET statement_timeout = '5s'", "RESET statement_timeout",
    "SET application_name TO 'x'", "SHOW server_version", "SHOW transaction isolation level", "SAVEPOINT a", "RELEASE a",
    "ROLLBACK TO a", "DEALLOCATE ALL", "DEALLOCATE PREPARE s1", "DISCARD ALL", "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    "FETCH 10 FROM c", "FETCH ALL IN c", "MOVE FORWARD 2 c", "FETCH -1 FROM c", "CLOSE c", "CLOSE ALL",
    "COPY (SELECT 1, 'a') TO STDOUT", "COPY t TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';', QUOTE '''')",
    "COPY t (a, b) FROM STDIN", "COPY t FROM STDIN WITH CSV HEADER DELIMITER AS ',' NULL AS ''",
    "COPY t FROM STDIN (FORMAT text, DELIMITER E'\\t', NULL '\\N', ENCODING 'UTF8')",
    "SELECT pg_catalog.version()", "SELECT current_setting('server_version_num')",
    "SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.~) '^(x)$' COLLATE pg_catalog.default",
    "SELECT 'a'::pg_catalog.text", "SELECT /* a /* b */ */ 1", "SELECT 1; SELECT 2;", "SELECT $$ a ; b $$", "SELECT E'\\''",
    "CREATE TABLE t AS SELECT 1 AS a", "INSERT INTO t VALUES (1) RETURNING *", "SET client_encoding = 'LATIN1'",
    "SELECT to_regtype('int4')", "COPY t FROM '/dev/stdin'",
]

PARAMETERS = [  # (oid, format, value)
    (16, 0, b"true"), (16, 1, b"\x01"), (21, 0, b"-32768"), (21, 1, struct.pack("!h", 7)), (23, 0, b"2147483647"),
    (23, 1, struct.pack("!i", -1)), (20, 0, b"-9223372036854775808"), (20, 1, struct.pack("!q", 2**62)),
    (700, 0, b"1.5e38"), (700, 1, struct.pack("!f", 1.5)), (701, 0, b"-Infinity"), (701, 1, struct.pack("!d", 2.5)),
    (1700, 0, b"12345.6789e-3"), (1700, 1, struct.pack("!hhHH", 2, 0, 0, 2) + struct.pack("!hh", 12, 3400)),
    (1700, 1, struct.pack("!hhHH", 0, 0, 0xC000, 0)), (25, 0, "héllo".encode()), (25, 1, b"x" * 8),
    (17, 0, b"\\x0102ff"), (17, 0, b"a\\\\b\\001"), (17, 1, b"\x00\x01"), (1082, 0, b"2024-02-29"), (1082, 0, b"0044-03-15 BC"),
    (1082, 1, struct.pack("!i", 8000)), (1083, 0, b"13:14:15.123456"), (1083, 1, struct.pack("!q", 3_600_000_000)),
    (1266, 0, b"13:14:15+02:30"), (1266, 1, struct.pack("!qi", 1000, -3600)), (1114, 0, b"2024-02-29 13:14:15.5"),
    (1114, 0, b"infinity"), (1114, 1, struct.pack("!q", 0)), (1184, 0, b"2024-02-29T13:14:15Z"),
    (1184, 0, b"2024-01-01 00:00:00 Europe/Paris"), (1184, 1, struct.pack("!q", -1)), (1186, 0, b"1 year 2 mons 3 days 04:05:06.5"),
    (1186, 0, b"P1Y2M3DT4H5M6S"), (1186, 0, b"@ 3 days ago"), (1186, 1, struct.pack("!qii", 1, 2, 3)),
    (2950, 0, b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), (2950, 1, bytes(range(16))), (114, 0, b'{"a": [1, 2]}'),
    (3802, 1, b"\x01{}"), (1560, 1, struct.pack("!i", 5) + b"\xa8"), (1007, 0, b"{1,2,NULL,\"3\"}"), (1009, 0, b'{"a b",c,"d\\"e"}'),
    (1007, 1, struct.pack("!iiIii", 1, 1, 23, 2, 1) + struct.pack("!ii", 4, 5) + struct.pack("!i", -1)),
    (1007, 1, struct.pack("!iiI", 0, 0, 23)), (1016, 0, b"[1:2]={1,2}"), (1231, 0, b"{1.5,2.25}"), (0, 0, b"42"), (0, 1, b"\x00\x00\x00\x2a"),
    (705, 0, b"unknown"), (26, 1, struct.pack("!I", 4_000_000_000)), (18, 0, b"c"), (1043, 0, b""),
]


def pgm(flags: int, payload: bytes, seed: int = 0x2026_1201) -> None:
    """A pg-messages input: the flags byte (bit 0: starts with the startup packet; bits 1-2:
    the auth method), the seed of the modelled step outcomes, then the client's bytes."""
    write("pg-messages", bytes([flags]) + struct.pack("!I", seed) + payload)


def pg_corpus() -> None:
    for flags in range(8):
        # flags bit 0: the input starts with the startup packet; bits 1-2: the auth method.
        for sql in STATEMENTS[:6]:
            pgm(flags | 1, startup() + msg(b"Q", cstr(sql)))
    pgm(1, struct.pack("!ii", 8, 80877103) + startup())
    pgm(1, struct.pack("!iiii", 16, 80877102, 1001, 12345))
    pgm(3, startup() + msg(b"p", cstr("SCRAM-SHA-256") + struct.pack("!i", 32) + b"n,,n=,r=rOprNGfwEbeRWgbNEkqO"))
    pgm(5, startup() + msg(b"p", cstr("md5" + "0" * 32)))
    pgm(7, startup() + msg(b"p", cstr("secret")))
    for sql in STATEMENTS:
        pgm(0, msg(b"Q", cstr(sql)))
        write("pg-rewriter", sql.encode())
    for oid, fmt, value in PARAMETERS:
        pgm(0, parse("SELECT $1", [oid]) + bind([value], [fmt], [1]) + msg(b"D", b"P" + cstr(""))
              + execute() + SYNC)
        for target in (0, 4, 18, 29):  # indexes into the harness's target types: unknown, bigint, varchar, timestamptz
            write("pg-parameters", struct.pack("!IBBB", oid, fmt, target, 0) + value)
    pgm(0, parse("SELECT $1, $2", [23, 25], "s1") + bind([b"1", None], [0], [0, 1], "s1", "p1")
          + execute("p1", 1) + msg(b"H") + execute("p1") + msg(b"C", b"P" + cstr("p1")) + msg(b"C", b"S" + cstr("s1")) + SYNC)
    pgm(0, msg(b"Q", cstr("COPY t FROM STDIN")) + msg(b"d", b"1\t\\N\n2\tb\\tc\n") + msg(b"c"))
    pgm(0, msg(b"Q", cstr("COPY t FROM STDIN")) + msg(b"d", b"1\t") + msg(b"f", cstr("stop")))
    pgm(0, msg(b"F", b"\0\0\0\0") + msg(b"X"))
    copies = [
        ("COPY t FROM STDIN", b"1\t2\n\\N\t\\\\\n3\t\\t\\n\\r\n\\.\n"),
        ("COPY t FROM STDIN WITH (FORMAT csv)", b"1,\"a,b\"\n2,\n"),
        ("COPY t FROM STDIN WITH DELIMITER '|' NULL 'nil'", b"1|nil\r\n2|x\\|y\n"),
        ("COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, QUOTE '\"', ESCAPE '\\', NULL 'N')", b"a,\"b\nc\\d"),
    ]
    for sql, data in copies:
        write("pg-copy", sql.encode() + b"\0" + bytes([len(data)]) + data)


# -- Arrow IPC --------------------------------------------------------------------------------

def arrow_corpus() -> None:
    import datetime
    import decimal

    import pyarrow as pa

    def stream(table: pa.Table, **kw) -> bytes:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema, **kw) as w:
            for batch in table.to_batches(max_chunksize=3):
                w.write_batch(batch)
        return sink.getvalue()

    tables = [
        pa.table({"i": pa.array([1, None, -3], pa.int64()), "s": ["a", None, "ccc"], "b": [True, False, None]}),
        pa.table({"i8": pa.array([-128, 0, 127], pa.int8()), "u64": pa.array([0, 1, 2**64 - 1], pa.uint64()),
                  "f": pa.array([1.5, float("nan"), float("-inf")], pa.float32()), "d": [0.1, -0.0, 1e308]}),
        pa.table({"dec": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-99999.99")], pa.decimal128(7, 2)),
                  "bin": [b"", b"\x00\xff", None], "ls": pa.array(["x", "y", "z"], pa.large_string())}),
        pa.table({"dt": pa.array([datetime.date(2024, 2, 29), None, datetime.date(1, 1, 1)]),
                  "ts": pa.array([0, 2**62, -2**62], pa.timestamp("us")), "tz": pa.array([1, 2, 3], pa.timestamp("ns", tz="UTC")),
                  "t": pa.array([0, 86_399_999_999, None], pa.time64("us")), "s": pa.array([1, 2, 3], pa.timestamp("s"))}),
        pa.table({"l": pa.array([[1, 2], None, []], pa.list_(pa.int32())), "st": pa.array([{"a": 1, "b": "x"}, None, {"a": 3, "b": None}]),
                  "m": pa.array([[("k", 1)], [], None], pa.map_(pa.string(), pa.int64()))}),
        pa.table({"dict": pa.array(["a", "b", "a"]).dictionary_encode(), "fsb": pa.array([bytes(16)] * 3, pa.binary(16)),
                  "iv": pa.array([pa.scalar((1, 2, 3), pa.month_day_nano_interval())] * 3, pa.month_day_nano_interval())}),
        pa.table({"u": pa.UnionArray.from_dense(pa.array([0, 1, 0], pa.int8()), pa.array([0, 0, 1], pa.int32()),
                                                [pa.array([1, 2], pa.int64()), pa.array(["a"])], ["i", "s"]),
                  "h": pa.array([1, 2, 3], pa.int16())}),
        pa.table({"fsl": pa.array([[1, 2], [3, 4], None], pa.list_(pa.float64(), 2)), "d64": pa.array([0, 86_400_000, None], pa.date64())}),
        # View layouts (inline and out-of-line strings, list views), read into their large forms.
        pa.table({"sv": pa.array(["a", None, "x" * 40], pa.string_view()), "bv": pa.array([b"", None, b"y" * 13], pa.binary_view()),
                  "lv": pa.array([[1], None, [2, 3]], pa.list_view(pa.int64()))}),
    ]
    for table in tables:
        write("arrow-ipc", stream(table))
    write("arrow-ipc", stream(tables[0].slice(1, 2)))
    write("arrow-ipc", stream(pa.table({"e": pa.array([], pa.string())})))

    # FlightData messages carrying the same IPC: what a DoPut sends.
    for table in tables[:4]:
        reader = pa.ipc.open_stream(stream(table))
        schema_msg = reader.schema.serialize().to_pybytes()
        write("flight-commands", bytes([4]) + bytes_field(2, schema_msg[8:] if schema_msg[:4] == b"\xff\xff\xff\xff" else schema_msg))


# -- Flight SQL -------------------------------------------------------------------------------

def flight_corpus() -> None:
    commands = [
        pack_any("CommandStatementQuery", string_field(1, "SELECT 1")),
        pack_any("CommandStatementQuery", string_field(1, "SELECT 1") + bytes_field(2, b"tx1")),
        pack_any("CommandStatementUpdate", string_field(1, "CREATE TABLE t (a INT)")),
        pack_any("CommandPreparedStatementQuery", bytes_field(1, b"handle")),
        pack_any("CommandPreparedStatementUpdate", bytes_field(1, b"handle")),
        pack_any("CommandStatementIngest", bytes_field(1, int_field(1, 1)) + string_field(2, "t") + string_field(3, "main")),
        pack_any("CommandGetSqlInfo", int_field(1, 0) + int_field(1, 500)),
        pack_any("CommandGetCatalogs", b""), pack_any("CommandGetDbSchemas", string_field(2, "ma%")),
        pack_any("CommandGetTables", string_field(3, "t%") + string_field(4, "TABLE") + int_field(5, 1)),
        pack_any("CommandGetTableTypes", b""), pack_any("CommandGetPrimaryKeys", string_field(3, "t")),
        pack_any("CommandGetImportedKeys", string_field(3, "t")), pack_any("CommandGetExportedKeys", string_field(3, "t")),
        pack_any("CommandGetCrossReference", string_field(3, "a") + string_field(6, "b")),
        pack_any("CommandGetXdbcTypeInfo", int_field(1, 4)), b"SELECT 42", b"\xff\xfe",
    ]
    for c in commands:
        write("flight-commands", bytes([0]) + c)
    actions = [  # index into the harness's action list, body
        (0, pack_any("ActionCreatePreparedStatementRequest", string_field(1, "SELECT $1"))),
        (1, pack_any("ActionClosePreparedStatementRequest", bytes_field(1, b"h"))),
        (2, pack_any("ActionBeginTransactionRequest", b"")),
        (3, pack_any("ActionEndTransactionRequest", bytes_field(1, b"tx") + int_field(2, 1))),
        (4, bytes_field(1, bytes_field(2, b"info"))),
        (5, pack_any("ActionCancelQueryRequest", bytes_field(1, bytes_field(3, b"")))),
    ]
    for index, body in actions:
        write("flight-commands", bytes([1 + 6 * index]) + body)
    write("flight-commands", bytes([2]) + pack_any("TicketStatementQuery", bytes_field(1, b"id")))
    write("flight-commands", bytes([3]) + b"Basic dTpw")
    write("flight-commands", bytes([3]) + b"Bearer abc")


if __name__ == "__main__":
    pg_corpus()
    arrow_corpus()
    flight_corpus()
    for folder in sorted(CORPUS.iterdir()):
        print(f"{folder.name}: {len(list(folder.iterdir()))} seeds")
