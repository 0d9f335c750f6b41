"""Flight SQL metadata with real clients: keys (GetPrimaryKeys, GetImportedKeys,
GetExportedKeys, GetCrossReference), GetXdbcTypeInfo and GetSqlInfo, driven through
pyarrow.flight with hand-encoded commands and through the ADBC Flight SQL driver. Result
schemas are compared with the ones arrow/format/FlightSql.proto specifies."""
from __future__ import annotations

import adbc_driver_flightsql.dbapi
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flight_proto import int_field, pack_any, string_field
from tavana_server import CLUSTER, running_server, serve_only
from test_flight_sql import flight_port

pytest_plugins = ["tavana_server"]

# -- Flight SQL commands, encoded by hand (flight_proto) ------------------------------------------

def command(name: str, strings: dict[int, str] | None = None, ints: dict[int, int] | None = None,
            repeated: tuple[int, list[int]] | None = None) -> bytes:
    """`google.protobuf.Any{type_url = 1, value = 2}` around the named Flight SQL command.
    Fields that are None are left out (unset `optional` fields)."""
    body = b""
    for number, value in sorted((strings or {}).items()):
        if value is not None:
            body += string_field(number, value)
    for number, value in sorted((ints or {}).items()):
        if value is not None:
            body += int_field(number, value)
    if repeated:
        number, values = repeated
        for value in values:
            body += int_field(number, value)
    return pack_any(name, body)


def fetch(client: flight.FlightClient, cmd: bytes) -> tuple[pa.Schema, pa.Table]:
    """GetFlightInfo + DoGet; returns the advertised schema and the rows."""
    info = client.get_flight_info(flight.FlightDescriptor.for_command(cmd))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.schema == info.schema
    return info.schema, table


def primary_keys(table, catalog=None, db_schema=None) -> bytes:
    return command("CommandGetPrimaryKeys", {1: catalog, 2: db_schema, 3: table})


def imported_keys(table, catalog=None, db_schema=None) -> bytes:
    return command("CommandGetImportedKeys", {1: catalog, 2: db_schema, 3: table})


def exported_keys(table, catalog=None, db_schema=None) -> bytes:
    return command("CommandGetExportedKeys", {1: catalog, 2: db_schema, 3: table})


def cross_reference(pk_table, fk_table, pk_catalog=None, pk_db_schema=None, fk_catalog=None,
                    fk_db_schema=None) -> bytes:
    return command("CommandGetCrossReference", {1: pk_catalog, 2: pk_db_schema, 3: pk_table,
                                                4: fk_catalog, 5: fk_db_schema, 6: fk_table})


def xdbc_type_info(data_type: int | None = None) -> bytes:
    return command("CommandGetXdbcTypeInfo", ints={1: data_type})


def sql_info(*ids: int) -> bytes:
    return command("CommandGetSqlInfo", repeated=(1, list(ids)))


# -- the schemas FlightSql.proto specifies ---------------------------------------------------

def _f(name, type_, nullable=True):
    return pa.field(name, type_, nullable=nullable)


PRIMARY_KEYS_SCHEMA = pa.schema([
    _f("catalog_name", pa.utf8()), _f("db_schema_name", pa.utf8()),
    _f("table_name", pa.utf8(), False), _f("column_name", pa.utf8(), False),
    _f("key_name", pa.utf8()), _f("key_sequence", pa.int32(), False),
])

FOREIGN_KEYS_SCHEMA = pa.schema([
    _f("pk_catalog_name", pa.utf8()), _f("pk_db_schema_name", pa.utf8()),
    _f("pk_table_name", pa.utf8(), False), _f("pk_column_name", pa.utf8(), False),
    _f("fk_catalog_name", pa.utf8()), _f("fk_db_schema_name", pa.utf8()),
    _f("fk_table_name", pa.utf8(), False), _f("fk_column_name", pa.utf8(), False),
    _f("key_sequence", pa.int32(), False), _f("fk_key_name", pa.utf8()), _f("pk_key_name", pa.utf8()),
    _f("update_rule", pa.uint8(), False), _f("delete_rule", pa.uint8(), False),
])

XDBC_TYPE_INFO_SCHEMA = pa.schema([
    _f("type_name", pa.utf8(), False), _f("data_type", pa.int32(), False),
    _f("column_size", pa.int32()), _f("literal_prefix", pa.utf8()), _f("literal_suffix", pa.utf8()),
    _f("create_params", pa.list_(pa.field("item", pa.utf8(), nullable=False))),
    _f("nullable", pa.int32(), False), _f("case_sensitive", pa.bool_(), False),
    _f("searchable", pa.int32(), False), _f("unsigned_attribute", pa.bool_()),
    _f("fixed_prec_scale", pa.bool_(), False), _f("auto_increment", pa.bool_()),
    _f("local_type_name", pa.utf8()), _f("minimum_scale", pa.int32()), _f("maximum_scale", pa.int32()),
    _f("sql_data_type", pa.int32(), False), _f("datetime_subcode", pa.int32()),
    _f("num_prec_radix", pa.int32()), _f("interval_precision", pa.int32()),
])


def assert_schema(actual: pa.Schema, expected: pa.Schema):
    # Field by field, so that a mismatch names the field; nested fields (list items) too.
    assert actual.names == expected.names
    for a, e in zip(actual, expected):
        assert (a.name, a.type, a.nullable) == (e.name, e.type, e.nullable), a.name
        if pa.types.is_list(e.type):
            assert a.type.value_field.nullable == e.type.value_field.nullable, a.name


# -- fixtures --------------------------------------------------------------------------------

# Tables with a single-column primary key, a composite primary key, UNIQUE constraints and
# foreign keys (single and composite, one of them onto a UNIQUE column), in their own schema.
KEYS_DDL = [
    "CREATE SCHEMA shop",
    "CREATE TABLE shop.customers (id INTEGER PRIMARY KEY, email VARCHAR UNIQUE, name VARCHAR)",
    "CREATE TABLE shop.products (vendor INTEGER, sku VARCHAR, price DECIMAL(10, 2), PRIMARY KEY (vendor, sku))",
    "CREATE TABLE shop.orders (id INTEGER PRIMARY KEY, customer INTEGER REFERENCES shop.customers (id),"
    " customer_email VARCHAR REFERENCES shop.customers (email))",
    "CREATE TABLE shop.order_lines (order_id INTEGER REFERENCES shop.orders (id), line INTEGER,"
    " vendor INTEGER, sku VARCHAR, PRIMARY KEY (order_id, line),"
    " FOREIGN KEY (vendor, sku) REFERENCES shop.products (vendor, sku))",
    "CREATE TABLE shop.no_keys (x INTEGER)",
    # Same table name in another schema: filters on schema must keep them apart.
    "CREATE SCHEMA other",
    "CREATE TABLE other.customers (code VARCHAR PRIMARY KEY)",
]


@pytest.fixture(scope="module")
def server(tavana_bin):
    with running_server(tavana_bin, name="flight-metadata") as srv:
        srv.flight_port = flight_port(srv)
        uri = f"grpc://{srv.host}:{srv.flight_port}"
        with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
            # DuckLake (cluster mode) refuses key constraints: the key tests are serve-only.
            for statement in ([] if CLUSTER else KEYS_DDL):
                cur.execute(statement)
                cur.fetchall()
        srv.uri = uri
        yield srv


@pytest.fixture
def client(server) -> flight.FlightClient:
    with flight.connect(server.uri) as c:
        yield c


NO_KEYS = serve_only("DuckLake, cluster mode's shared catalog, has no PRIMARY KEY, UNIQUE or FOREIGN KEY constraints")


# -- primary keys ----------------------------------------------------------------------------

@NO_KEYS
def test_primary_key_single_column(client):
    schema, table = fetch(client, primary_keys("customers", db_schema="shop"))
    assert_schema(schema, PRIMARY_KEYS_SCHEMA)
    assert table.to_pylist() == [
        {"catalog_name": "memory", "db_schema_name": "shop", "table_name": "customers",
         "column_name": "id", "key_name": "customers_id_pkey", "key_sequence": 1},
    ]


@NO_KEYS
def test_primary_key_composite_in_key_order(client):
    _, table = fetch(client, primary_keys("order_lines", catalog="memory", db_schema="shop"))
    assert [(r["column_name"], r["key_sequence"]) for r in table.to_pylist()] == [("order_id", 1), ("line", 2)]
    _, products = fetch(client, primary_keys("products"))
    assert [(r["column_name"], r["key_sequence"], r["key_name"]) for r in products.to_pylist()] == [
        ("vendor", 1, "products_vendor_sku_pkey"), ("sku", 2, "products_vendor_sku_pkey")]


@NO_KEYS
def test_primary_keys_filter_by_schema_and_catalog(client):
    # Without a schema both `customers` tables answer, ordered by schema; UNIQUE is no primary key.
    _, both = fetch(client, primary_keys("customers"))
    assert [(r["db_schema_name"], r["column_name"]) for r in both.to_pylist()] == [("other", "code"), ("shop", "id")]
    _, other = fetch(client, primary_keys("customers", db_schema="other"))
    assert [r["column_name"] for r in other.to_pylist()] == ["code"]
    for cmd in (primary_keys("customers", catalog="nope"), primary_keys("no_keys", db_schema="shop"),
                primary_keys("customers", db_schema=""), primary_keys("missing")):
        schema, empty = fetch(client, cmd)
        assert_schema(schema, PRIMARY_KEYS_SCHEMA)
        assert empty.num_rows == 0


@NO_KEYS
def test_primary_keys_take_user_text_as_a_value_not_sql(client):
    _, table = fetch(client, primary_keys("customers' OR '1'='1", db_schema="shop"))
    assert table.num_rows == 0


# -- foreign keys ----------------------------------------------------------------------------

def fk_row(pk_table, pk_column, fk_table, fk_column, seq, fk_key, pk_key):
    return {"pk_catalog_name": "memory", "pk_db_schema_name": "shop", "pk_table_name": pk_table,
            "pk_column_name": pk_column, "fk_catalog_name": "memory", "fk_db_schema_name": "shop",
            "fk_table_name": fk_table, "fk_column_name": fk_column, "key_sequence": seq,
            "fk_key_name": fk_key, "pk_key_name": pk_key, "update_rule": 3, "delete_rule": 3}


ORDERS_CUSTOMER = fk_row("customers", "id", "orders", "customer", 1, "orders_customer_id_fkey", "customers_id_pkey")
ORDERS_EMAIL = fk_row("customers", "email", "orders", "customer_email", 1,
                      "orders_customer_email_email_fkey", "customers_email_key")
LINES_ORDER = fk_row("orders", "id", "order_lines", "order_id", 1, "order_lines_order_id_id_fkey", "orders_id_pkey")
LINES_PRODUCT = [
    fk_row("products", "vendor", "order_lines", "vendor", 1, "order_lines_vendor_sku_vendor_sku_fkey",
           "products_vendor_sku_pkey"),
    fk_row("products", "sku", "order_lines", "sku", 2, "order_lines_vendor_sku_vendor_sku_fkey",
           "products_vendor_sku_pkey"),
]


@NO_KEYS
def test_imported_keys_are_the_tables_own_foreign_keys(client):
    schema, table = fetch(client, imported_keys("order_lines", db_schema="shop"))
    assert_schema(schema, FOREIGN_KEYS_SCHEMA)
    # Ordered by pk table then key sequence: orders before products.
    assert table.to_pylist() == [LINES_ORDER] + LINES_PRODUCT
    _, orders = fetch(client, imported_keys("orders", catalog="memory", db_schema="shop"))
    # A foreign key onto a UNIQUE column names that constraint as pk_key_name.
    assert orders.to_pylist() == [ORDERS_EMAIL, ORDERS_CUSTOMER]


@NO_KEYS
def test_exported_keys_are_the_keys_referencing_the_table(client):
    schema, table = fetch(client, exported_keys("customers", db_schema="shop"))
    assert_schema(schema, FOREIGN_KEYS_SCHEMA)
    assert table.to_pylist() == [ORDERS_EMAIL, ORDERS_CUSTOMER]
    _, products = fetch(client, exported_keys("products"))
    assert products.to_pylist() == LINES_PRODUCT
    # order_lines is referenced by nobody; other.customers neither.
    for cmd in (exported_keys("order_lines"), exported_keys("customers", db_schema="other")):
        assert fetch(client, cmd)[1].num_rows == 0


@NO_KEYS
def test_cross_reference_between_two_tables(client):
    schema, table = fetch(client, cross_reference("products", "order_lines", pk_db_schema="shop",
                                                  fk_catalog="memory", fk_db_schema="shop"))
    assert_schema(schema, FOREIGN_KEYS_SCHEMA)
    assert table.to_pylist() == LINES_PRODUCT
    _, orders = fetch(client, cross_reference("orders", "order_lines"))
    assert orders.to_pylist() == [LINES_ORDER]
    # No key from order_lines to customers, nor the other way round.
    assert fetch(client, cross_reference("customers", "order_lines"))[1].num_rows == 0
    assert fetch(client, cross_reference("order_lines", "products"))[1].num_rows == 0


@NO_KEYS
def test_foreign_keys_resolve_the_referenced_names_case_insensitively(server, client):
    # DuckDB stores `REFERENCES parent (pid)` as written; the answer names the real table and column.
    with adbc_driver_flightsql.dbapi.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        for statement in ['CREATE TABLE "Parent" ("PId" INTEGER PRIMARY KEY)',
                          "CREATE TABLE child (p INTEGER REFERENCES parent (pid))"]:
            cur.execute(statement)
            cur.fetchall()
    _, table = fetch(client, exported_keys("Parent", db_schema="main"))
    rows = table.to_pylist()
    assert [(r["pk_table_name"], r["pk_column_name"], r["fk_table_name"], r["fk_column_name"], r["pk_key_name"])
            for r in rows] == [("Parent", "PId", "child", "p", "Parent_pid_pkey")]


# -- xdbc type info --------------------------------------------------------------------------

def test_xdbc_type_info_lists_duckdb_types_in_order(client):
    schema, table = fetch(client, xdbc_type_info())
    assert_schema(schema, XDBC_TYPE_INFO_SCHEMA)
    rows = table.to_pylist()
    keys = [(r["data_type"], r["type_name"]) for r in rows]
    assert keys == sorted(keys)
    by_name = {r["type_name"]: r for r in rows}
    expected_codes = {"BOOLEAN": 16, "TINYINT": -6, "SMALLINT": 5, "INTEGER": 4, "BIGINT": -5, "FLOAT": 7,
                      "DOUBLE": 8, "DECIMAL": 3, "VARCHAR": 12, "BLOB": -3, "DATE": 91, "TIME": 92,
                      "TIMESTAMP": 93, "TIMESTAMP WITH TIME ZONE": 2014, "LIST": 2003, "STRUCT": 2002}
    assert {name: by_name[name]["data_type"] for name in expected_codes} == expected_codes
    decimal = by_name["DECIMAL"]
    assert decimal["create_params"] == ["precision", "scale"]
    assert (decimal["column_size"], decimal["minimum_scale"], decimal["maximum_scale"]) == (38, 0, 38)
    assert decimal["num_prec_radix"] == 10 and decimal["unsigned_attribute"] is False
    varchar = by_name["VARCHAR"]
    assert (varchar["literal_prefix"], varchar["literal_suffix"]) == ("'", "'")
    assert varchar["case_sensitive"] is True and varchar["searchable"] == 3 and varchar["num_prec_radix"] is None
    assert by_name["DATE"]["literal_prefix"] == "'" and by_name["DATE"]["sql_data_type"] == 9
    assert by_name["DATE"]["datetime_subcode"] == 1
    assert by_name["UBIGINT"]["unsigned_attribute"] is True
    # DuckDB's LIKE takes text only, so other types are SEARCHABLE_BASIC.
    assert by_name["INTEGER"]["searchable"] == 2
    assert all(r["nullable"] == 1 and r["auto_increment"] is False and r["fixed_prec_scale"] is False
               for r in rows)


def test_xdbc_type_info_data_type_filter(client):
    schema, table = fetch(client, xdbc_type_info(93))
    assert_schema(schema, XDBC_TYPE_INFO_SCHEMA)
    assert table.column("type_name").to_pylist() == ["TIMESTAMP", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP_S"]
    # Negative codes (encoded as 10-byte varints) filter too.
    assert fetch(client, xdbc_type_info(-5))[1].column("type_name").to_pylist() == ["BIGINT", "UBIGINT"]
    assert fetch(client, xdbc_type_info(424242))[1].num_rows == 0


# -- sql info --------------------------------------------------------------------------------

SQL_INFO_VALUE = pa.dense_union([
    pa.field("string_value", pa.utf8()), pa.field("bool_value", pa.bool_()),
    pa.field("bigint_value", pa.int64()), pa.field("int32_bitmask", pa.int32()),
    pa.field("string_list", pa.list_(pa.utf8())),
    pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32()))),
], type_codes=[0, 1, 2, 3, 4, 5])

FLIGHT_SQL_SERVER_NAME, FLIGHT_SQL_SERVER_TRANSACTION, FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT = 0, 8, 100
SQL_DDL_CATALOG, SQL_IDENTIFIER_QUOTE_CHAR, SQL_NULL_ORDERING = 500, 504, 507
SQL_KEYWORDS, SQL_NUMERIC_FUNCTIONS, SQL_STRING_FUNCTIONS = 508, 509, 510
SQL_SYSTEM_FUNCTIONS, SQL_DATETIME_FUNCTIONS, SQL_SUPPORTS_CONVERT = 511, 512, 517
SQL_SUPPORTED_UNIONS, SQL_MAX_COLUMNS_IN_TABLE = 540, 548
SQL_SAVEPOINTS_SUPPORTED, SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED = 573, 576
# SqlSupportsConvert codes
CONVERT_BIGINT, CONVERT_DATE, CONVERT_INTEGER, CONVERT_TIMESTAMP, CONVERT_VARCHAR = 0, 4, 7, 16, 19


def info_dict(table: pa.Table) -> dict:
    return dict(zip(table.column("info_name").to_pylist(), table.column("value").to_pylist()))


def test_sql_info_schema_and_scalar_values(client):
    schema, table = fetch(client, sql_info(FLIGHT_SQL_SERVER_NAME, SQL_IDENTIFIER_QUOTE_CHAR, SQL_NULL_ORDERING,
                                           SQL_DDL_CATALOG, SQL_SUPPORTED_UNIONS, SQL_MAX_COLUMNS_IN_TABLE,
                                           FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT, SQL_SAVEPOINTS_SUPPORTED))
    assert schema.names == ["info_name", "value"]
    assert (schema.field(0).type, schema.field(0).nullable) == (pa.uint32(), False)
    value = schema.field(1)
    assert not value.nullable and value.type.mode == "dense"
    assert [(f.name, f.type) for f in value.type] == [(f.name, f.type) for f in SQL_INFO_VALUE]
    # Answered in the order asked.
    assert table.column("info_name").to_pylist() == [0, 504, 507, 500, 540, 548, 100, 573]
    info = info_dict(table)
    assert info[FLIGHT_SQL_SERVER_NAME] == "Tavana"
    assert info[SQL_IDENTIFIER_QUOTE_CHAR] == '"'
    assert info[SQL_NULL_ORDERING] == 3  # SQL_NULLS_SORTED_AT_END
    assert info[SQL_DDL_CATALOG] is False  # no CREATE DATABASE in DuckDB
    assert info[SQL_SUPPORTED_UNIONS] == 0b11
    assert info[SQL_MAX_COLUMNS_IN_TABLE] == 0
    assert info[FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT] == 30 * 60 * 1000
    assert info[SQL_SAVEPOINTS_SUPPORTED] is False


def test_sql_info_lists_come_from_duckdb(client):
    _, table = fetch(client, sql_info(SQL_KEYWORDS, SQL_NUMERIC_FUNCTIONS, SQL_STRING_FUNCTIONS,
                                      SQL_SYSTEM_FUNCTIONS, SQL_DATETIME_FUNCTIONS))
    info = info_dict(table)
    keywords = info[SQL_KEYWORDS]
    assert {"SELECT", "FROM", "QUALIFY", "PIVOT"} <= set(keywords)
    assert keywords == sorted(set(keywords))
    assert {"abs", "sqrt", "round", "ln"} <= set(info[SQL_NUMERIC_FUNCTIONS])
    assert {"lower", "upper", "substring", "regexp_matches"} <= set(info[SQL_STRING_FUNCTIONS])
    assert {"current_database", "current_schema", "version", "nextval"} <= set(info[SQL_SYSTEM_FUNCTIONS])
    assert {"date_part", "date_trunc", "strftime", "now"} <= set(info[SQL_DATETIME_FUNCTIONS])
    assert "lower" not in info[SQL_NUMERIC_FUNCTIONS] and "abs" not in info[SQL_STRING_FUNCTIONS]


def test_sql_info_supports_convert_map(client):
    _, table = fetch(client, sql_info(SQL_SUPPORTS_CONVERT))
    (pairs,) = info_dict(table).values()
    convert = dict(pairs)
    assert {CONVERT_BIGINT, CONVERT_VARCHAR, CONVERT_DATE} <= set(convert[CONVERT_VARCHAR])
    assert CONVERT_VARCHAR in convert[CONVERT_DATE] and CONVERT_TIMESTAMP in convert[CONVERT_DATE]
    # DuckDB has no DATE -> INTEGER cast.
    assert CONVERT_INTEGER not in convert[CONVERT_DATE]


def test_sql_info_all_and_unknown_ids(client):
    _, everything = fetch(client, sql_info())
    ids = everything.column("info_name").to_pylist()
    assert len(ids) == len(set(ids))
    assert {0, 1, 2, 8, 100, 101, 500, 508, 517, 576} <= set(ids)
    assert set(range(500, 577)) <= set(ids)
    # Unknown ids are skipped, known ones still answered.
    _, some = fetch(client, sql_info(9999, FLIGHT_SQL_SERVER_TRANSACTION, 123456))
    assert info_dict(some) == {FLIGHT_SQL_SERVER_TRANSACTION: 1}
    assert fetch(client, sql_info(9999))[1].num_rows == 0


def test_adbc_get_info(server):
    # The Go driver turns GetSqlInfo's server items into ADBC's vendor_* fields.
    with adbc_driver_flightsql.dbapi.connect(server.uri, autocommit=True) as conn:
        info = conn.adbc_get_info()
    assert info["vendor_name"] == "Tavana"
    assert info["vendor_version"].startswith("Tavana ") and "DuckDB v" in info["vendor_version"]
    assert info["vendor_arrow_version"] == "1.5.0"
    assert info["driver_name"] == "ADBC Flight SQL Driver - Go"


def test_table_schemas_carry_flight_sql_column_metadata_for_sqlalchemy_reflection(tavana_bin):
    """GetTables with include_schema gives each field Flight SQL's column metadata (type
    name, precision, scale, ...) and the column's nullability, so that SQLAlchemy reflection
    through ADBC (sqlalchemy-adbc) sees typed columns instead of NullType."""
    import sqlalchemy as sa

    with running_server(tavana_bin, name="flightcolumns") as s:
        port = flight_port(s)
        with adbc_driver_flightsql.dbapi.connect(f"grpc://{s.host}:{port}", autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE typed (id INTEGER NOT NULL, name VARCHAR, price DECIMAL(10, 2), "
                        "happened TIMESTAMP, ok BOOLEAN, n BIGINT)")
        client = flight.connect(f"grpc://{s.host}:{port}")
        # include_schema (field 5) = true, table_name_filter_pattern (field 3) = "typed"
        _, tables = fetch(client, command("CommandGetTables", strings={3: "typed"}, ints={5: 1}))
        schema = pa.ipc.read_schema(pa.py_buffer(tables.column("table_schema")[0].as_py()))
        meta = {f.name: {k.decode(): v.decode() for k, v in (f.metadata or {}).items()} for f in schema}
        assert meta["price"]["ARROW:FLIGHT:SQL:TYPE_NAME"] == "DECIMAL(10,2)"
        assert (meta["price"]["ARROW:FLIGHT:SQL:PRECISION"], meta["price"]["ARROW:FLIGHT:SQL:SCALE"]) == ("10", "2")
        assert meta["id"]["ARROW:FLIGHT:SQL:TABLE_NAME"] == "typed"
        assert meta["name"]["ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE"] == "1"
        assert not schema.field("id").nullable and schema.field("name").nullable

        engine = sa.create_engine(f"adbc+flightsql://{s.host}:{port}?tls=false")
        columns = {c["name"]: c for c in sa.inspect(engine).get_columns("typed")}
        engine.dispose()
        kinds = {name: type(c["type"]) for name, c in columns.items()}
        assert kinds == {"id": sa.Integer, "name": sa.String, "price": sa.Numeric, "happened": sa.DateTime,
                         "ok": sa.Boolean, "n": sa.BigInteger}, kinds
        # Nullability stays at SQL's default there: ADBC's Flight SQL driver fills neither
        # xdbc_nullable nor xdbc_is_nullable from the schema (the field above says NOT NULL).
