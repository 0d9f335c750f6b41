"""Flight SQL bulk ingest: upload TPC-H lineitem (an Arrow table in the client) into a
Tavana table with ADBC's adbc_ingest, against in-process DuckDB creating the same table from
the same Arrow table, in interleaved rounds of one run; report times, the ratio and the
server's peak memory. Writes bench/results/flight_ingest.json.

Run with `make bench` (release build). SCALE sets the TPC-H scale factor (default 1)."""
import shutil

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import pyarrow as pa

from _common import PeakRSS, REPEAT, SCALE, interleaved, start_server, stop_server, tpch_database, write_result



def main():
    db_path = tpch_database()
    direct_path = db_path.replace(".duckdb", "-direct.duckdb")
    shutil.copyfile(db_path, direct_path)
    with duckdb.connect(direct_path, read_only=True) as con:
        upload = con.sql("SELECT * FROM lineitem").arrow()
        upload = upload.read_all() if isinstance(upload, pa.RecordBatchReader) else upload
    # ADBC's driver refuses to send a gRPC message over 16 MiB, and sends each record batch
    # as one message: slice into batches of 64Ki rows (zero-copy).
    upload = pa.Table.from_batches(upload.to_batches(max_chunksize=65536))

    def in_process():
        with duckdb.connect(":memory:") as con:
            con.register("upload", upload)
            con.execute("CREATE TABLE ingested AS SELECT * FROM upload")
            return con.sql("SELECT count(*) FROM ingested").fetchone()[0]

    # Both sides write into an in-memory database.
    proc, _, port = start_server(":memory:")
    uri = f"grpc://127.0.0.1:{port}"
    try:
        def via_adbc():
            with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
                return cur.adbc_ingest("ingested", upload, mode="replace")

        with PeakRSS(proc.pid) as rss:
            best = interleaved({"direct": in_process, "adbc": via_adbc})
        direct_s, direct_rows = best["direct"]
        adbc_s, adbc_rows = best["adbc"]
        if isinstance(adbc_rows, str):
            raise SystemExit(f"ADBC ingest failed: {adbc_rows}")
        assert direct_rows == adbc_rows == upload.num_rows, (direct_rows, adbc_rows)
        with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*), sum(l_quantity)::DOUBLE FROM ingested")
            count, quantity = cur.fetchone()
        assert count == upload.num_rows
        expected_quantity = float(pa.compute.sum(upload.column("l_quantity")).as_py())
        assert abs(quantity - expected_quantity) < 1e-6 * expected_quantity, (quantity, expected_quantity)
    finally:
        stop_server(proc)

    result = {
        "benchmark": "flight_ingest", "table": "lineitem", "scale_factor": SCALE, "rows": upload.num_rows,
        "bytes": upload.nbytes, "repeat": REPEAT,
        "duckdb_in_process_create_table_s": round(direct_s, 3),
        "tavana_adbc_ingest_s": round(adbc_s, 3),
        "ratio_adbc_vs_in_process": round(adbc_s / direct_s, 2),
        "server_peak_rss_mb": round(rss.peak_kb / 1024, 1),
    }
    write_result("flight_ingest", result)


if __name__ == "__main__":
    import pyarrow.compute  # noqa: F401  (pa.compute)
    main()
