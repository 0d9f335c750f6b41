"""Tavana as its container runs it: the runtime file tree docker/Dockerfile describes
(scripts/assemble-image-tree.sh builds it into a folder, as no container engine runs here),
the image's environment, and a user that is not root (the image runs as uid 10001 and the
chart sets runAsNonRoot). The rest of the suite may run as root, which hides calls only root
may make: setting SO_DEBUG instead of TCP_NODELAY once stopped the whole server on the first
PostgreSQL connection, for every user but root."""
from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import adbc_driver_flightsql.dbapi
import psycopg
import pytest

from tavana_server import HOST

pytestmark = pytest.mark.timeout(180)
NOBODY = 65534
ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def image_tree(tavana_bin):
    """The image's files in a folder user `nobody` may read, and the image's environment
    pointed at it (docker/Dockerfile's ENV lines, with the folder as the root)."""
    if os.geteuid() != 0:
        pytest.skip("the tests already run as a user that is not root")
    base = tempfile.mkdtemp(prefix="tavana-image-")
    try:
        os.chmod(base, 0o755)
        tree = os.path.join(base, "tree")
        subprocess.run([str(ROOT / "scripts" / "assemble-image-tree.sh"), tree, tavana_bin], check=True,
                       capture_output=True, timeout=300)
        duckdb = os.path.join(tree, "opt", "tavana", "duckdb")
        env = {"PATH": "/usr/bin:/bin", "TAVANA_DUCKDB_HOME": duckdb,
               "LD_LIBRARY_PATH": f"{duckdb}/lib:{tree}/usr/local/lib/swift",
               "HOME": os.path.join(tree, "tmp"), "TMPDIR": os.path.join(tree, "tmp"), "MALLOC_ARENA_MAX": "2"}
        yield tree, env
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_image_tree_serves_psql_and_adbc_as_nobody_and_cancels(image_tree):
    tree, env = image_tree
    pg, flight, http = free_port(), free_port(), free_port()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
               os.path.join(tree, "usr", "local", "bin", "tavana"),
               "serve", "--host", HOST, "--pg-port", str(pg), "--flight-port", str(flight), "--http-port", str(http)]
    # The image's default extensions (httpfs, aws, azure, delta, ...) load from the tree.
    proc = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=env["HOME"])
    try:
        deadline = time.monotonic() + 60
        while "postgres listening" not in open(log.name).read():
            assert proc.poll() is None, open(log.name).read()
            assert time.monotonic() < deadline, open(log.name).read()
            time.sleep(0.2)
        with open(f"/proc/{proc.pid}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(NOBODY)}, uids
        # Only the tree's copies of libduckdb and the extensions are loaded.
        maps = open(f"/proc/{proc.pid}/maps").read()
        loaded = {line.split()[-1] for line in maps.splitlines() if "duckdb" in line and "/" in line}
        assert loaded and all(path.startswith(tree) for path in loaded), loaded
        assert any(path.endswith("httpfs.duckdb_extension") for path in loaded), loaded
        swift = {line.split()[-1] for line in maps.splitlines() if "libswiftCore" in line}
        assert all(path.startswith(tree) for path in swift), swift

        r = subprocess.run(["psql", "-X", "-At", "-h", HOST, "-p", str(pg), "-U", "tester", "-d", "tavana",
                            "-c", "SELECT 40 + 2", "-c", "SELECT count(*) FROM range(1000)"],
                           capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "10"})
        assert r.returncode == 0 and r.stdout.split() == ["42", "1000"], r.stdout + r.stderr
        for _ in range(3):  # several connections: the first one used to stop the server
            with psycopg.connect(host=HOST, port=pg, user="tester", dbname="tavana", autocommit=True) as c:
                assert c.execute("SELECT 40 + 2").fetchone() == (42,)
        with psycopg.connect(host=HOST, port=pg, user="tester", dbname="tavana", autocommit=True) as c:
            # A cancel is a connection of its own: it too must work without root.
            threading.Timer(0.5, c.cancel).start()
            with pytest.raises(psycopg.errors.QueryCanceled):
                c.execute("SELECT count(*) FROM range(1000000000000) a")
        with adbc_driver_flightsql.dbapi.connect(f"grpc://{HOST}:{flight}", autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT 7 AS n")
            assert cur.fetchall() == [(7,)]
        assert proc.poll() is None, open(log.name).read()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
