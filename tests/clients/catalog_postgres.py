"""A throwaway PostgreSQL 15 on loopback, for the shared DuckLake catalog's metadata in
cluster-mode tests. Debian's postgresql-15 binaries (scripts/setup-test-services.sh installs
them); run as the `postgres` user when the tests run as root (initdb refuses root).

PYTEST_DONT_REWRITE
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

PG_BIN = os.environ.get("TAVANA_PG_BIN", "/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CatalogPostgres:
    """initdb + postgres in a temporary folder, trust auth on 127.0.0.1 only."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tavana-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.as_postgres = os.geteuid() == 0
        self.user = "postgres" if self.as_postgres else os.environ.get("USER", "postgres")

    def _run(self, args: list[str], **kw):
        if self.as_postgres:
            args = ["runuser", "-u", "postgres", "--"] + args
        return subprocess.run(args, check=True, capture_output=True, text=True, **kw)

    def start(self) -> "CatalogPostgres":
        if not os.path.exists(os.path.join(PG_BIN, "initdb")):
            raise RuntimeError(f"PostgreSQL 15 not found in {PG_BIN}: run scripts/setup-test-services.sh")
        os.chmod(self.dir, 0o777)
        self._run([f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", self.user, "--no-sync", "-E", "UTF8"])
        args = [f"{PG_BIN}/postgres", "-D", self.data, "-p", str(self.port), "-h", "127.0.0.1", "-k", self.dir,
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=200"]
        if self.as_postgres:
            args = ["runuser", "-u", "postgres", "--"] + args
        self.log = open(os.path.join(self.dir, "postgres.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = subprocess.run([f"{PG_BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True)
            if r.returncode == 0:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not start: " + open(os.path.join(self.dir, "postgres.log")).read())

    def create_database(self, name: str) -> str:
        """A new database; returns DuckLake's metadata string for it."""
        self._run([f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name])
        return f"postgres:host=127.0.0.1 port={self.port} user={self.user} dbname={name}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
