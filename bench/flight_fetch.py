"""Flight SQL throughput: fetch TPC-H lineitem into a pyarrow Table through Tavana's Flight
SQL door (ADBC and pyarrow.flight) and, in the same run, from in-process DuckDB
(`duckdb.sql(...).arrow()`); report times, ratios (target: at most 1.2x in-process) and
the server's peak memory. Writes bench/results/flight_fetch.json.

Run with `make bench` (release build). SCALE sets the TPC-H scale factor (default 1)."""
import shutil

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import pyarrow as pa
import pyarrow.flight as flight

from _common import PeakRSS, REPEAT, SCALE, interleaved, start_server, stop_server, tpch_database, write_result

QUERY = "SELECT * FROM lineitem"


def main():
    db_path = tpch_database()
    # The server holds its file open for writing, so in-process DuckDB reads a copy.
    direct_path = db_path.replace(".duckdb", "-direct.duckdb")
    shutil.copyfile(db_path, direct_path)

    def in_process():
        with duckdb.connect(direct_path, read_only=True) as con:
            result = con.sql(QUERY).arrow()
            return result.read_all() if isinstance(result, pa.RecordBatchReader) else result

    expected = in_process()  # warm the file cache and keep the oracle
    proc, _, port = start_server(db_path)
    uri = f"grpc://127.0.0.1:{port}"
    try:
        def via_adbc():
            with flightsql.connect(uri) as conn, conn.cursor() as cur:
                cur.execute(QUERY)
                return cur.fetch_arrow_table()

        def via_pyarrow_flight():
            client = flight.connect(uri)
            info = client.get_flight_info(flight.FlightDescriptor.for_command(QUERY.encode()))
            return client.do_get(info.endpoints[0].ticket).read_all()

        # Rounds interleave the three ways so that machine noise hits them alike; each
        # reports its best round.
        with PeakRSS(proc.pid) as rss:
            best = interleaved({"direct": in_process, "pyarrow_flight": via_pyarrow_flight, "adbc": via_adbc})
        direct_s, _ = best["direct"]
        pf_s, t2 = best["pyarrow_flight"]
        adbc_s, t1 = best["adbc"]
        adbc_error = t1 if isinstance(t1, str) else None
        if adbc_error:
            adbc_s = None
        else:
            assert t1.equals(expected), "ADBC result differs from in-process DuckDB"
        assert t2.num_rows == expected.num_rows
        assert t2.equals(expected), "pyarrow.flight result differs from in-process DuckDB"
    finally:
        stop_server(proc)

    result = {
        "benchmark": "flight_fetch", "query": QUERY, "scale_factor": SCALE, "rows": expected.num_rows,
        "bytes": expected.nbytes, "repeat": REPEAT,
        "duckdb_in_process_arrow_s": round(direct_s, 3),
        "tavana_adbc_s": round(adbc_s, 3) if adbc_s else None,
        "tavana_adbc_error": adbc_error,
        "tavana_pyarrow_flight_s": round(pf_s, 3),
        "ratio_adbc_vs_in_process": round(adbc_s / direct_s, 2) if adbc_s else None,
        "ratio_pyarrow_flight_vs_in_process": round(pf_s / direct_s, 2),
        "target_ratio": 1.2,
        "server_peak_rss_mb": round(rss.peak_kb / 1024, 1),
    }
    write_result("flight_fetch", result)


if __name__ == "__main__":
    main()
