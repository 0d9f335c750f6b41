// Header-only module: declarations of the DuckDB C API live in include/.
