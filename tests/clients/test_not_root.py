"""Tavana as a container runs it: as a user that is not root (the image's uid 10001, the
chart's runAsNonRoot). Everything else in the suite may run as root, which hides calls only
root may make: setting SO_DEBUG instead of TCP_NODELAY once stopped the whole server on the
first PostgreSQL connection, for every user but root."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import adbc_driver_flightsql.dbapi
import psycopg
import pytest

from tavana_server import HOST

pytestmark = pytest.mark.timeout(120)
NOBODY = 65534


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def library_path(binary: str) -> str:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return next(line.split("=>")[1].split("(")[0].strip() for line in out.splitlines() if "libduckdb" in line)


@pytest.fixture
def unprivileged(tavana_bin):
    """The binary and its libduckdb copied where user `nobody` may read them, and a command
    prefix that runs as nobody."""
    if os.geteuid() != 0:
        pytest.skip("the tests already run as a user that is not root")
    root = tempfile.mkdtemp(prefix="tavana-not-root-")
    try:
        os.chmod(root, 0o755)
        for sub in ("bin", "lib", "home"):
            os.makedirs(os.path.join(root, sub), mode=0o755)
        shutil.copy2(tavana_bin, os.path.join(root, "bin", "tavana"))
        shutil.copy2(library_path(tavana_bin), os.path.join(root, "lib", "libduckdb.so"))
        os.chown(os.path.join(root, "home"), NOBODY, NOBODY)
        config = os.path.join(root, "config.json")
        with open(config, "w") as f:
            json.dump({"extensions": []}, f)
        for path in (os.path.join(root, "bin", "tavana"), os.path.join(root, "lib", "libduckdb.so"), config):
            os.chmod(path, 0o755)
        env = {"PATH": "/usr/bin:/bin", "HOME": os.path.join(root, "home"), "LD_LIBRARY_PATH": os.path.join(root, "lib"),
               "TAVANA_DUCKDB_HOME": root, "TMPDIR": os.path.join(root, "home")}
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", os.path.join(root, "bin", "tavana")]
        yield prefix, config, env
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_serve_as_nobody_answers_both_front_doors_and_cancels(unprivileged):
    prefix, config, env = unprivileged
    pg, flight, http = free_port(), free_port(), free_port()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen(prefix + ["serve", "--host", HOST, "--pg-port", str(pg), "--flight-port", str(flight),
                                      "--http-port", str(http), "--config", config],
                            stdout=log, stderr=log, env=env, cwd=env["HOME"])
    try:
        deadline = time.monotonic() + 60
        while "postgres listening" not in open(log.name).read():
            assert proc.poll() is None, open(log.name).read()
            assert time.monotonic() < deadline, open(log.name).read()
            time.sleep(0.2)
        with open(f"/proc/{proc.pid}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(NOBODY)}, uids
        for _ in range(3):  # several connections: the first one used to stop the server
            with psycopg.connect(host=HOST, port=pg, user="tester", dbname="tavana", autocommit=True) as c:
                assert c.execute("SELECT 40 + 2").fetchone() == (42,)
        with psycopg.connect(host=HOST, port=pg, user="tester", dbname="tavana", autocommit=True) as c:
            # A cancel is a connection of its own: it too must work without root.
            import threading
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
