"""Arrow IPC written and read by Tavana's own Swift code, checked against oracles that are
not ours: pyarrow reads what Tavana writes and must find exactly what the duckdb Python
package (the same engine, 1.5.5) returns; and Tavana must read back streams pyarrow writes."""
import subprocess

import duckdb
import pyarrow as pa
import pytest

from tavana_server import CLUSTER

# DuckLake, cluster mode's shared catalog, has no user-defined types: there the ENUM is
# written inline (the Arrow result is the same dictionary type).
ENUM_TYPE = "ENUM ('sad', 'ok', 'happy')" if CLUSTER else "mood"
SETUP = [] if CLUSTER else ["CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')"]

# Every type the foundation promises, each with a NULL in the second row.
COLUMNS = {
    "c_bool": ("true", "BOOLEAN"),
    "c_tinyint": ("-7", "TINYINT"),
    "c_smallint": ("-300", "SMALLINT"),
    "c_integer": ("-70000", "INTEGER"),
    "c_bigint": ("-9000000000", "BIGINT"),
    "c_utinyint": ("250", "UTINYINT"),
    "c_usmallint": ("65000", "USMALLINT"),
    "c_uinteger": ("4000000000", "UINTEGER"),
    "c_ubigint": ("18000000000000000000", "UBIGINT"),
    "c_hugeint": ("-170141183460469231731687303715884105727", "HUGEINT"),
    "c_float": ("1.25", "FLOAT"),
    "c_double": ("-2.5e300", "DOUBLE"),
    "c_dec4": ("12.3", "DECIMAL(4,1)"),
    "c_dec9": ("-1234567.89", "DECIMAL(9,2)"),
    "c_dec18": ("123456789012345.678", "DECIMAL(18,3)"),
    "c_dec38": ("-1234567890123456789012345678.0123456789", "DECIMAL(38,10)"),
    "c_varchar": ("'short'", "VARCHAR"),
    "c_varchar_long": ("'a string longer than twelve bytes, ünïcödé'", "VARCHAR"),
    "c_blob": ("'\\x00\\x01\\xFFbinary'", "BLOB"),
    "c_date": ("'2024-02-29'", "DATE"),
    "c_time": ("'13:14:15.123456'", "TIME"),
    "c_timestamp": ("'2024-02-29 13:14:15.123456'", "TIMESTAMP"),
    "c_timestamp_s": ("'2024-02-29 13:14:15'", "TIMESTAMP_S"),
    "c_timestamp_ms": ("'2024-02-29 13:14:15.123'", "TIMESTAMP_MS"),
    "c_timestamp_ns": ("'2024-02-29 13:14:15.123456789'", "TIMESTAMP_NS"),
    "c_timestamptz": ("'2024-02-29 13:14:15.5+02'", "TIMESTAMPTZ"),
    "c_interval": ("INTERVAL '1 year 2 months 3 days 04:05:06.789'", "INTERVAL"),
    "c_uuid": ("'00112233-4455-6677-8899-aabbccddeeff'", "UUID"),
    "c_json": ("'{\"a\": [1, 2, null]}'", "JSON"),
    "c_enum": ("'happy'", ENUM_TYPE),
    "c_list": ("[1, NULL, 3]", "INTEGER[]"),
    "c_list_str": ("['x', NULL, 'a longer string value here']", "VARCHAR[]"),
    "c_array": ("[1.5, 2.5, NULL]", "DOUBLE[3]"),
    "c_struct": ("{'i': 1, 's': 'two', 'l': [3]}", "STRUCT(i INTEGER, s VARCHAR, l INTEGER[])"),
    "c_map": ("MAP {'k1': 1, 'k2': NULL}", "MAP(VARCHAR, INTEGER)"),
    "c_nested": ("[{'a': [MAP {'x': 1}]}]", "STRUCT(a MAP(VARCHAR, INTEGER)[])[]"),
}


def all_types_query(rows: int = 2) -> str:
    """Row 0 holds values, row 1 NULLs; further rows repeat row 0 (to span chunks)."""
    values = ", ".join(f"{expr}::{typ} AS {name}" for name, (expr, typ) in COLUMNS.items())
    nulls = ", ".join(f"NULL::{typ} AS {name}" for name, (_, typ) in COLUMNS.items())
    return (
        f"SELECT * FROM (SELECT 0 AS k, {values} UNION ALL SELECT 1 AS k, {nulls} "
        f"UNION ALL SELECT 1 + r AS k, {values} FROM range(1, {rows - 1}) t(r)) ORDER BY k"
    )


def tavana_arrow(tavana_bin: str, sql: str, setup=SETUP) -> pa.Table:
    args = [tavana_bin, "query", sql, "--format", "arrow"]
    for s in setup:
        args += ["--setup", s]
    proc = subprocess.run(args, capture_output=True, check=True)
    return pa.ipc.open_stream(proc.stdout).read_all()


def duckdb_arrow(sql: str, setup=SETUP) -> pa.Table:
    con = duckdb.connect()
    for s in setup:
        con.execute(s)
    result = con.sql(sql).arrow()
    return result.read_all() if isinstance(result, pa.RecordBatchReader) else result


@pytest.mark.parametrize("rows", [2, 5000])
def test_ipc_written_by_tavana_equals_duckdb_python(tavana_bin, rows):
    sql = all_types_query(rows)
    ours = tavana_arrow(tavana_bin, sql)
    theirs = duckdb_arrow(sql)
    assert ours.num_rows == rows
    assert ours.schema == theirs.schema, f"\n{ours.schema}\n!=\n{theirs.schema}"
    for name in theirs.column_names:
        assert ours.column(name).equals(theirs.column(name)), name
    assert ours.equals(theirs)
    # Every column holds a NULL in row 1 and a value in row 0.
    for name in COLUMNS:
        col = ours.column(name).combine_chunks()
        assert col[1].as_py() is None, name
        assert col[0].is_valid, name


def test_every_promised_type_is_covered():
    types = {typ.split("(")[0].split("[")[0] for _, typ in COLUMNS.values()}
    for t in ["BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
              "UBIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "VARCHAR", "BLOB", "DATE", "TIME",
              "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMPTZ", "INTERVAL",
              "UUID", "JSON", ENUM_TYPE.split("(")[0], "STRUCT", "MAP"]:
        assert t in types, t
    assert any(typ.endswith("[]") for _, typ in COLUMNS.values())
    assert any(typ.endswith("[3]") for _, typ in COLUMNS.values())


def test_empty_result_has_schema(tavana_bin):
    sql = "SELECT 1::INTEGER AS a, 'x' AS b WHERE false"
    ours = tavana_arrow(tavana_bin, sql, setup=[])
    assert ours.num_rows == 0
    assert ours.schema == duckdb_arrow(sql, setup=[]).schema


def pyarrow_table() -> pa.Table:
    """A table written by pyarrow itself, with types DuckDB does not produce too."""
    n = 1000
    ints = [i if i % 7 else None for i in range(n)]
    strs = [None if i % 5 == 0 else f"value {i}" * (i % 4) for i in range(n)]
    dict_arr = pa.array([None if i % 11 == 0 else ["red", "green", "blue"][i % 3] for i in range(n)]).dictionary_encode()
    return pa.table({
        "bool": pa.array([None if i % 3 == 0 else i % 2 == 0 for i in range(n)]),
        "i8": pa.array([None if v is None else v % 100 for v in ints], pa.int8()),
        "u16": pa.array([None if v is None else v for v in ints], pa.uint16()),
        "i64": pa.array(ints, pa.int64()),
        "f32": pa.array([None if v is None else v / 3 for v in ints], pa.float32()),
        "f64": pa.array([None if v is None else v / 7 for v in ints], pa.float64()),
        "dec": pa.array([None if v is None else __import__("decimal").Decimal(v) / 100 for v in ints], pa.decimal128(12, 2)),
        "dec256": pa.array([None if v is None else __import__("decimal").Decimal(v) for v in ints], pa.decimal256(50, 0)),
        "str": pa.array(strs, pa.string()),
        "large_str": pa.array(strs, pa.large_string()),
        "bin": pa.array([None if s is None else s.encode() for s in strs], pa.binary()),
        "fixed": pa.array([None if v is None else v.to_bytes(4, "little") for v in ints], pa.binary(4)),
        "date": pa.array([None if v is None else v for v in ints], pa.date32()),
        "ts_ns_tz": pa.array([None if v is None else v * 10**9 for v in ints], pa.timestamp("ns", tz="Europe/Berlin")),
        "time32": pa.array([None if v is None else v for v in ints], pa.time32("ms")),
        "duration": pa.array([None if v is None else v for v in ints], pa.duration("us")),
        "interval": pa.array([None if v is None else pa.MonthDayNano([v, v, v]) for v in ints], pa.month_day_nano_interval()),
        "list": pa.array([None if v is None else list(range(v % 4)) for v in ints], pa.list_(pa.int32())),
        "large_list": pa.array([None if v is None else [str(v)] for v in ints], pa.large_list(pa.string())),
        "fsl": pa.array([None if v is None else [v, None] for v in ints], pa.list_(pa.int16(), 2)),
        "struct": pa.array([None if v is None else {"a": v, "b": str(v)} for v in ints],
                           pa.struct([("a", pa.int32()), ("b", pa.string())])),
        "map": pa.array([None if v is None else [("k", v)] for v in ints], pa.map_(pa.string(), pa.int64())),
        "dict": dict_arr,
        "null": pa.nulls(n),
    })


def roundtrip(tavana_bin: str, data: bytes) -> pa.Table:
    proc = subprocess.run([tavana_bin, "arrow-roundtrip"], input=data, capture_output=True, check=True)
    return pa.ipc.open_stream(proc.stdout).read_all()


def test_stream_written_by_pyarrow_is_read_back_by_tavana(tavana_bin):
    table = pyarrow_table()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        # Several batches, including sliced ones (non-zero offsets inside pyarrow).
        for batch in table.to_batches(max_chunksize=333):
            writer.write_batch(batch)
        writer.write_batch(table.slice(17, 101).combine_chunks().to_batches()[0])
    back = roundtrip(tavana_bin, sink.getvalue().to_pybytes())
    expected = pa.concat_tables([table, table.slice(17, 101)])
    assert back.schema == expected.schema
    for name in expected.column_names:
        assert back.column(name).equals(expected.column(name)), name
    assert back.equals(expected)


def test_duckdb_written_stream_is_read_back_by_tavana(tavana_bin):
    sql = all_types_query(3000)
    original = duckdb_arrow(sql)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, original.schema) as writer:
        writer.write_table(original, max_chunksize=1000)
    back = roundtrip(tavana_bin, sink.getvalue().to_pybytes())
    assert back.equals(original)


def test_garbage_input_is_an_error_not_a_crash(tavana_bin):
    proc = subprocess.run([tavana_bin, "arrow-roundtrip"], input=b"\xff\xff\xff\xff\x10\x00\x00\x00garbage!", capture_output=True)
    assert proc.returncode != 0
    assert b"Arrow" in proc.stderr or b"IPC" in proc.stderr
    assert proc.returncode not in (-6, -11, 134, 139)  # not an abort or segfault
