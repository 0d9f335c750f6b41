// Declarations of the part of DuckDB's C API (v1.5.x) that Tavana calls.
//
// DuckDB's wheels ship libduckdb.so without its header, so the declarations we use are
// written here against the documented ABI. Handles are pointers to opaque structs; value
// structs must match DuckDB's layout exactly (duckdb_result is 48 bytes, duckdb_string_t 16).
#ifndef TAVANA_DUCKDB_H
#define TAVANA_DUCKDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <arrow_c_abi.h>

typedef uint64_t idx_t;

typedef enum {
  DUCKDB_TYPE_INVALID = 0,
  DUCKDB_TYPE_BOOLEAN = 1,
  DUCKDB_TYPE_TINYINT = 2,
  DUCKDB_TYPE_SMALLINT = 3,
  DUCKDB_TYPE_INTEGER = 4,
  DUCKDB_TYPE_BIGINT = 5,
  DUCKDB_TYPE_UTINYINT = 6,
  DUCKDB_TYPE_USMALLINT = 7,
  DUCKDB_TYPE_UINTEGER = 8,
  DUCKDB_TYPE_UBIGINT = 9,
  DUCKDB_TYPE_FLOAT = 10,
  DUCKDB_TYPE_DOUBLE = 11,
  DUCKDB_TYPE_TIMESTAMP = 12,
  DUCKDB_TYPE_DATE = 13,
  DUCKDB_TYPE_TIME = 14,
  DUCKDB_TYPE_INTERVAL = 15,
  DUCKDB_TYPE_HUGEINT = 16,
  DUCKDB_TYPE_VARCHAR = 17,
  DUCKDB_TYPE_BLOB = 18,
  DUCKDB_TYPE_DECIMAL = 19,
  DUCKDB_TYPE_TIMESTAMP_S = 20,
  DUCKDB_TYPE_TIMESTAMP_MS = 21,
  DUCKDB_TYPE_TIMESTAMP_NS = 22,
  DUCKDB_TYPE_ENUM = 23,
  DUCKDB_TYPE_LIST = 24,
  DUCKDB_TYPE_STRUCT = 25,
  DUCKDB_TYPE_MAP = 26,
  DUCKDB_TYPE_UUID = 27,
  DUCKDB_TYPE_UNION = 28,
  DUCKDB_TYPE_BIT = 29,
  DUCKDB_TYPE_TIME_TZ = 30,
  DUCKDB_TYPE_TIMESTAMP_TZ = 31,
  DUCKDB_TYPE_UHUGEINT = 32,
  DUCKDB_TYPE_ARRAY = 33,
  DUCKDB_TYPE_ANY = 34,
  DUCKDB_TYPE_BIGNUM = 35,
  DUCKDB_TYPE_SQLNULL = 36,
  DUCKDB_TYPE_STRING_LITERAL = 37,
  DUCKDB_TYPE_INTEGER_LITERAL = 38,
  DUCKDB_TYPE_TIME_NS = 39,
  DUCKDB_TYPE_GEOMETRY = 40,
  DUCKDB_TYPE_VARIANT = 41,
} duckdb_type;

typedef enum { DuckDBSuccess = 0, DuckDBError = 1 } duckdb_state;

typedef enum {
  DUCKDB_PENDING_RESULT_READY = 0,
  DUCKDB_PENDING_RESULT_NOT_READY = 1,
  DUCKDB_PENDING_ERROR = 2,
  DUCKDB_PENDING_NO_TASKS_AVAILABLE = 3,
} duckdb_pending_state;

typedef enum {
  DUCKDB_RESULT_TYPE_INVALID = 0,
  DUCKDB_RESULT_TYPE_CHANGED_ROWS = 1,
  DUCKDB_RESULT_TYPE_NOTHING = 2,
  DUCKDB_RESULT_TYPE_QUERY_RESULT = 3,
} duckdb_result_type;

// duckdb_statement_type and duckdb_error_type are plain ints on the ABI; their values are
// mirrored as Swift enums in the DuckDB module.
typedef int32_t duckdb_statement_type;
typedef int32_t duckdb_error_type;

typedef struct { int32_t days; } duckdb_date;
typedef struct { int64_t micros; } duckdb_time;
typedef struct { int64_t micros; } duckdb_timestamp;
typedef struct { int32_t months; int32_t days; int64_t micros; } duckdb_interval;
typedef struct { uint64_t lower; int64_t upper; } duckdb_hugeint;
typedef struct { uint64_t lower; uint64_t upper; } duckdb_uhugeint;
typedef struct { uint8_t width; uint8_t scale; duckdb_hugeint value; } duckdb_decimal;
typedef struct {
  double percentage;
  uint64_t rows_processed;
  uint64_t total_rows_to_process;
} duckdb_query_progress_type;

typedef struct { uint64_t offset; uint64_t length; } duckdb_list_entry;

// 16 bytes: a 4-byte length, then either 12 inline bytes or a 4-byte prefix and a pointer.
typedef struct {
  uint32_t length;
  char data[12];
} duckdb_string_t;

typedef struct {
  idx_t deprecated_column_count;
  idx_t deprecated_row_count;
  idx_t deprecated_rows_changed;
  void *deprecated_columns;
  char *deprecated_error_message;
  void *internal_data;
} duckdb_result;

typedef struct _duckdb_database { void *internal_ptr; } *duckdb_database;
typedef struct _duckdb_connection { void *internal_ptr; } *duckdb_connection;
typedef struct _duckdb_prepared_statement { void *internal_ptr; } *duckdb_prepared_statement;
typedef struct _duckdb_extracted_statements { void *internal_ptr; } *duckdb_extracted_statements;
typedef struct _duckdb_pending_result { void *internal_ptr; } *duckdb_pending_result;
typedef struct _duckdb_config { void *internal_ptr; } *duckdb_config;
typedef struct _duckdb_logical_type { void *internal_ptr; } *duckdb_logical_type;
typedef struct _duckdb_data_chunk { void *internal_ptr; } *duckdb_data_chunk;
typedef struct _duckdb_vector { void *internal_ptr; } *duckdb_vector;
typedef struct _duckdb_value { void *internal_ptr; } *duckdb_value;
typedef struct _duckdb_error_data { void *internal_ptr; } *duckdb_error_data;
typedef struct _duckdb_arrow_options { void *internal_ptr; } *duckdb_arrow_options;

// Library, database, connection.
const char *duckdb_library_version(void);
duckdb_state duckdb_create_config(duckdb_config *out_config);
duckdb_state duckdb_set_config(duckdb_config config, const char *name, const char *option);
void duckdb_destroy_config(duckdb_config *config);
duckdb_state duckdb_open_ext(const char *path, duckdb_database *out_database, duckdb_config config, char **out_error);
void duckdb_close(duckdb_database *database);
duckdb_state duckdb_connect(duckdb_database database, duckdb_connection *out_connection);
void duckdb_disconnect(duckdb_connection *connection);
void duckdb_interrupt(duckdb_connection connection);
duckdb_query_progress_type duckdb_query_progress(duckdb_connection connection);
void duckdb_free(void *ptr);

// Errors.
void duckdb_destroy_error_data(duckdb_error_data *error_data);
duckdb_error_type duckdb_error_data_error_type(duckdb_error_data error_data);
const char *duckdb_error_data_message(duckdb_error_data error_data);
bool duckdb_error_data_has_error(duckdb_error_data error_data);

// Statements.
duckdb_state duckdb_query(duckdb_connection connection, const char *query, duckdb_result *out_result);
idx_t duckdb_extract_statements(duckdb_connection connection, const char *query, duckdb_extracted_statements *out);
duckdb_state duckdb_prepare_extracted_statement(duckdb_connection connection, duckdb_extracted_statements statements,
                                                idx_t index, duckdb_prepared_statement *out);
const char *duckdb_extract_statements_error(duckdb_extracted_statements statements);
void duckdb_destroy_extracted(duckdb_extracted_statements *statements);
duckdb_state duckdb_prepare(duckdb_connection connection, const char *query, duckdb_prepared_statement *out);
void duckdb_destroy_prepare(duckdb_prepared_statement *prepared);
const char *duckdb_prepare_error(duckdb_prepared_statement prepared);
idx_t duckdb_nparams(duckdb_prepared_statement prepared);
const char *duckdb_parameter_name(duckdb_prepared_statement prepared, idx_t index);
duckdb_logical_type duckdb_param_logical_type(duckdb_prepared_statement prepared, idx_t param_idx);
duckdb_state duckdb_clear_bindings(duckdb_prepared_statement prepared);
duckdb_statement_type duckdb_prepared_statement_type(duckdb_prepared_statement prepared);
idx_t duckdb_prepared_statement_column_count(duckdb_prepared_statement prepared);
const char *duckdb_prepared_statement_column_name(duckdb_prepared_statement prepared, idx_t col_idx);
duckdb_logical_type duckdb_prepared_statement_column_logical_type(duckdb_prepared_statement prepared, idx_t col_idx);

// Binding (parameter indexes are 1-based).
duckdb_state duckdb_bind_value(duckdb_prepared_statement prepared, idx_t param_idx, duckdb_value val);
duckdb_state duckdb_bind_null(duckdb_prepared_statement prepared, idx_t param_idx);

// Values.
void duckdb_destroy_value(duckdb_value *value);
duckdb_value duckdb_create_varchar_length(const char *text, idx_t length);
duckdb_value duckdb_create_bool(bool input);
duckdb_value duckdb_create_int8(int8_t input);
duckdb_value duckdb_create_uint8(uint8_t input);
duckdb_value duckdb_create_int16(int16_t input);
duckdb_value duckdb_create_uint16(uint16_t input);
duckdb_value duckdb_create_int32(int32_t input);
duckdb_value duckdb_create_uint32(uint32_t input);
duckdb_value duckdb_create_int64(int64_t input);
duckdb_value duckdb_create_uint64(uint64_t input);
duckdb_value duckdb_create_hugeint(duckdb_hugeint input);
duckdb_value duckdb_create_uhugeint(duckdb_uhugeint input);
duckdb_value duckdb_create_decimal(duckdb_decimal input);
duckdb_value duckdb_create_float(float input);
duckdb_value duckdb_create_double(double input);
duckdb_value duckdb_create_date(duckdb_date input);
duckdb_value duckdb_create_time(duckdb_time input);
duckdb_value duckdb_create_timestamp(duckdb_timestamp input);
duckdb_value duckdb_create_timestamp_tz(duckdb_timestamp input);
duckdb_value duckdb_create_interval(duckdb_interval input);
duckdb_value duckdb_create_blob(const uint8_t *data, idx_t length);
duckdb_value duckdb_create_uuid(duckdb_uhugeint input);
duckdb_value duckdb_create_null_value(void);
duckdb_value duckdb_create_list_value(duckdb_logical_type type, duckdb_value *values, idx_t value_count);
duckdb_value duckdb_get_list_child(duckdb_value value, idx_t index);
char *duckdb_value_to_string(duckdb_value value);

// Execution.
duckdb_state duckdb_pending_prepared_streaming(duckdb_prepared_statement prepared, duckdb_pending_result *out);
void duckdb_destroy_pending(duckdb_pending_result *pending);
const char *duckdb_pending_error(duckdb_pending_result pending);
duckdb_pending_state duckdb_pending_execute_task(duckdb_pending_result pending);
duckdb_state duckdb_execute_pending(duckdb_pending_result pending, duckdb_result *out_result);
bool duckdb_pending_execution_is_finished(duckdb_pending_state state);

// Results.
void duckdb_destroy_result(duckdb_result *result);
const char *duckdb_column_name(duckdb_result *result, idx_t col);
duckdb_logical_type duckdb_column_logical_type(duckdb_result *result, idx_t col);
idx_t duckdb_column_count(duckdb_result *result);
idx_t duckdb_rows_changed(duckdb_result *result);
const char *duckdb_result_error(duckdb_result *result);
duckdb_error_type duckdb_result_error_type(duckdb_result *result);
duckdb_result_type duckdb_result_return_type(duckdb_result result);
duckdb_statement_type duckdb_result_statement_type(duckdb_result result);
bool duckdb_result_is_streaming(duckdb_result result);
duckdb_data_chunk duckdb_fetch_chunk(duckdb_result result);

// Logical types.
duckdb_logical_type duckdb_create_logical_type(duckdb_type type);
duckdb_logical_type duckdb_create_list_type(duckdb_logical_type type);
void duckdb_destroy_logical_type(duckdb_logical_type *type);
duckdb_type duckdb_get_type_id(duckdb_logical_type type);
char *duckdb_logical_type_get_alias(duckdb_logical_type type);
uint8_t duckdb_decimal_width(duckdb_logical_type type);
uint8_t duckdb_decimal_scale(duckdb_logical_type type);
duckdb_type duckdb_decimal_internal_type(duckdb_logical_type type);
duckdb_type duckdb_enum_internal_type(duckdb_logical_type type);
uint32_t duckdb_enum_dictionary_size(duckdb_logical_type type);
char *duckdb_enum_dictionary_value(duckdb_logical_type type, idx_t index);
duckdb_logical_type duckdb_list_type_child_type(duckdb_logical_type type);
duckdb_logical_type duckdb_array_type_child_type(duckdb_logical_type type);
idx_t duckdb_array_type_array_size(duckdb_logical_type type);
duckdb_logical_type duckdb_map_type_key_type(duckdb_logical_type type);
duckdb_logical_type duckdb_map_type_value_type(duckdb_logical_type type);
idx_t duckdb_struct_type_child_count(duckdb_logical_type type);
char *duckdb_struct_type_child_name(duckdb_logical_type type, idx_t index);
duckdb_logical_type duckdb_struct_type_child_type(duckdb_logical_type type, idx_t index);
idx_t duckdb_union_type_member_count(duckdb_logical_type type);
char *duckdb_union_type_member_name(duckdb_logical_type type, idx_t index);
duckdb_logical_type duckdb_union_type_member_type(duckdb_logical_type type, idx_t index);

// Data chunks and vectors.
void duckdb_destroy_data_chunk(duckdb_data_chunk *chunk);
idx_t duckdb_data_chunk_get_column_count(duckdb_data_chunk chunk);
duckdb_vector duckdb_data_chunk_get_vector(duckdb_data_chunk chunk, idx_t col_idx);
idx_t duckdb_data_chunk_get_size(duckdb_data_chunk chunk);
void *duckdb_vector_get_data(duckdb_vector vector);
uint64_t *duckdb_vector_get_validity(duckdb_vector vector);
duckdb_vector duckdb_list_vector_get_child(duckdb_vector vector);
idx_t duckdb_list_vector_get_size(duckdb_vector vector);
duckdb_vector duckdb_struct_vector_get_child(duckdb_vector vector, idx_t index);
duckdb_vector duckdb_array_vector_get_child(duckdb_vector vector);

// Arrow export through DuckDB's own converter.
void duckdb_connection_get_arrow_options(duckdb_connection connection, duckdb_arrow_options *out_arrow_options);
void duckdb_destroy_arrow_options(duckdb_arrow_options *arrow_options);
duckdb_error_data duckdb_to_arrow_schema(duckdb_arrow_options arrow_options, duckdb_logical_type *types,
                                         const char **names, idx_t column_count, struct ArrowSchema *out_schema);
duckdb_error_data duckdb_data_chunk_to_arrow(duckdb_arrow_options arrow_options, duckdb_data_chunk chunk,
                                             struct ArrowArray *out_arrow_array);

// Arrow import (bulk ingest): Arrow arrays become data chunks, which an appender writes.
typedef struct _duckdb_arrow_converted_schema { void *internal_ptr; } *duckdb_arrow_converted_schema;
typedef struct _duckdb_appender { void *internal_ptr; } *duckdb_appender;
duckdb_error_data duckdb_schema_from_arrow(duckdb_connection connection, struct ArrowSchema *schema,
                                           duckdb_arrow_converted_schema *out_types);
duckdb_error_data duckdb_data_chunk_from_arrow(duckdb_connection connection, struct ArrowArray *arrow_array,
                                               duckdb_arrow_converted_schema converted_schema,
                                               duckdb_data_chunk *out_chunk);
void duckdb_destroy_arrow_converted_schema(duckdb_arrow_converted_schema *arrow_converted_schema);
duckdb_state duckdb_appender_create_ext(duckdb_connection connection, const char *catalog, const char *schema,
                                        const char *table, duckdb_appender *out_appender);
duckdb_state duckdb_append_data_chunk(duckdb_appender appender, duckdb_data_chunk chunk);
duckdb_state duckdb_appender_flush(duckdb_appender appender);
duckdb_state duckdb_appender_close(duckdb_appender appender);
duckdb_state duckdb_appender_destroy(duckdb_appender *appender);
/* Drops the rows buffered and not yet flushed (1.5: used before destroy, which would flush them). */
duckdb_state duckdb_appender_clear(duckdb_appender appender);
duckdb_error_data duckdb_appender_error_data(duckdb_appender appender);

#endif
