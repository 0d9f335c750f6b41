"""PostgreSQL front door throughput: fetch TPC-H lineitem through Tavana with psycopg
(binary and text) and, in the same run, the same rows from in-process DuckDB; report
the times, the ratios and the server's peak memory. Writes bench/results/pg_fetch.json.

Run with `make bench` (release build). SCALE sets the TPC-H scale factor (default 1)."""

import duckdb
import psycopg

from _common import PeakRSS, REPEAT, SCALE, start_server, stop_server, timed, tpch_database, write_result

QUERY = "SELECT * FROM lineitem"


def main():
    db_path = tpch_database()

    def direct():
        with duckdb.connect(db_path, read_only=True) as con:
            return len(con.sql(QUERY).fetchall())

    direct_s, rows = timed(direct)
    proc, port, _ = start_server(db_path)
    try:
        dsn = f"host=127.0.0.1 port={port} user=bench dbname=bench"

        def via_psycopg(binary_format):
            def run():
                with psycopg.connect(dsn) as conn:
                    cur = conn.cursor(binary=binary_format)
                    cur.execute(QUERY)
                    return len(cur.fetchall())
            return run

        with PeakRSS(proc.pid) as rss:
            binary_s, rows_b = timed(via_psycopg(True))
            text_s, rows_t = timed(via_psycopg(False))
        assert rows_b == rows == rows_t, (rows, rows_b, rows_t)
    finally:
        stop_server(proc)

    result = {
        "benchmark": "pg_fetch", "query": QUERY, "scale_factor": SCALE, "rows": rows, "repeat": REPEAT,
        "duckdb_in_process_fetchall_s": round(direct_s, 3),
        "tavana_psycopg_binary_s": round(binary_s, 3),
        "tavana_psycopg_text_s": round(text_s, 3),
        "ratio_binary_vs_in_process": round(binary_s / direct_s, 2),
        "ratio_text_vs_in_process": round(text_s / direct_s, 2),
        "server_peak_rss_mb": round(rss.peak_kb / 1024, 1),
    }
    write_result("pg_fetch", result)


if __name__ == "__main__":
    main()
