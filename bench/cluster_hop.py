"""The gateway hop's cost: the same queries through `tavana serve` and through `tavana
gateway` + one `tavana worker` (cluster mode), in one run, interleaved so that machine noise
hits both alike. Large fetches of TPC-H lineitem through Flight SQL (pyarrow.flight) and
through PostgreSQL (psycopg, binary COPY-free fetch of every row), and `SELECT 1` round trips
(PostgreSQL extended protocol). Target: the hop costs at most 10% on the large fetch.
Writes bench/results/cluster_hop.json.

Run with `make bench` (release build). SCALE sets the TPC-H scale factor (default 1)."""
import shutil
import statistics
import time

import psycopg
import pyarrow.flight as flight

from _common import (REPEAT, SCALE, interleaved, start_cluster, start_server, stop_server, tpch_database,
                     write_result)

FLIGHT_QUERY = "SELECT * FROM lineitem"
PG_QUERY = "SELECT l_orderkey, l_partkey, l_quantity, l_extendedprice, l_shipdate, l_comment FROM lineitem"
ROUND_TRIPS = 2000


def main():
    db_path = tpch_database()
    # Each server holds its file open for writing: the cluster's worker gets a copy.
    cluster_path = db_path.replace(".duckdb", "-cluster.duckdb")
    shutil.copyfile(db_path, cluster_path)
    serve, serve_pg, serve_fl = start_server(db_path)
    procs, gw_pg, gw_fl = start_cluster(cluster_path)
    try:
        def flight_fetch(port):
            def run():
                client = flight.connect(f"grpc://127.0.0.1:{port}")
                info = client.get_flight_info(flight.FlightDescriptor.for_command(FLIGHT_QUERY.encode()))
                return client.do_get(info.endpoints[0].ticket).read_all().num_rows
            return run

        def pg_fetch(port):
            def run():
                with psycopg.connect(f"host=127.0.0.1 port={port} user=bench", autocommit=True) as conn:
                    with conn.cursor(binary=True) as cur:
                        cur.execute(PG_QUERY)
                        n = 0
                        while rows := cur.fetchmany(50000):
                            n += len(rows)
                        return n
            return run

        def round_trips(port):
            def run():
                with psycopg.connect(f"host=127.0.0.1 port={port} user=bench", autocommit=True) as conn:
                    times = []
                    for _ in range(ROUND_TRIPS):
                        t0 = time.perf_counter()
                        conn.execute("SELECT 1", prepare=False).fetchone()
                        times.append(time.perf_counter() - t0)
                    return statistics.median(times) * 1e6
            return run

        best = interleaved({
            "serve_flight": flight_fetch(serve_fl), "cluster_flight": flight_fetch(gw_fl),
            "serve_pg": pg_fetch(serve_pg), "cluster_pg": pg_fetch(gw_pg),
            "serve_select1": round_trips(serve_pg), "cluster_select1": round_trips(gw_pg),
        })
    finally:
        stop_server(serve)
        for p in procs:
            stop_server(p)

    def seconds(name):
        s, result = best[name]
        if s is None:
            raise SystemExit(f"{name} failed: {result}")
        return s, result

    sf, rows = seconds("serve_flight")
    cf, crows = seconds("cluster_flight")
    assert rows == crows, f"row counts differ: {rows} vs {crows}"
    sp, prow = seconds("serve_pg")
    cp, cprow = seconds("cluster_pg")
    assert prow == cprow
    _, s1 = seconds("serve_select1")
    _, c1 = seconds("cluster_select1")
    write_result("cluster_hop", {
        "benchmark": "cluster_hop", "scale_factor": SCALE, "repeat": REPEAT, "rows": rows,
        "flight_fetch_serve_s": round(sf, 3), "flight_fetch_cluster_s": round(cf, 3),
        "flight_hop_cost": round(cf / sf - 1, 3),
        "pg_fetch_serve_s": round(sp, 3), "pg_fetch_cluster_s": round(cp, 3),
        "pg_hop_cost": round(cp / sp - 1, 3),
        "select1_p50_serve_us": round(s1, 1), "select1_p50_cluster_us": round(c1, 1),
        "target_large_fetch_hop_cost": 0.10,
    })


if __name__ == "__main__":
    main()
