"""`tavana serve` settings come from flags, then TAVANA_* environment variables, then the
JSON config file, then defaults (docs/configuration.md). Checked by starting the real
binary and looking at what it does."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import psycopg
import pytest

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tavana_bin, args, env_extra, tmp_path):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("TAVANA_"):
            env.pop(k)
    env["TAVANA_EXTENSIONS"] = "tpch"
    env["TAVANA_FLIGHT_PORT"] = "0"
    env["TAVANA_HTTP_PORT"] = "0"
    env.update(env_extra)
    log = open(tmp_path / f"serve-{time.monotonic_ns()}.log", "w+")
    proc = subprocess.Popen([tavana_bin, "serve", *args], stdout=log, stderr=log, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        log.seek(0)
        text = log.read()
        m = re.search(r"port=(\d+).*postgres listening", text)
        if m:
            return proc, int(m.group(1)), text
        if proc.poll() is not None:
            return proc, None, text
        time.sleep(0.2)
    proc.kill()
    pytest.fail("tavana serve did not start")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        return None


def test_flags_override_environment_which_overrides_the_config_file(tavana_bin, tmp_path):
    file_port, env_port, flag_port = free_port(), free_port(), free_port()
    config = tmp_path / "tavana.json"
    config.write_text(json.dumps({"pgPort": file_port, "workers": 3, "database": str(tmp_path / "file.duckdb")}))

    # File only.
    proc, port, log = start(tavana_bin, ["--config", str(config)], {}, tmp_path)
    assert port == file_port, log
    with psycopg.connect(f"host=127.0.0.1 port={port} user=u", autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS persisted AS SELECT 7 AS v")
    assert stop(proc) == 0
    assert (tmp_path / "file.duckdb").exists()

    # Environment beats the file; the file's other settings still apply.
    proc, port, log = start(tavana_bin, [], {"TAVANA_CONFIG": str(config), "TAVANA_PG_PORT": str(env_port)}, tmp_path)
    assert port == env_port, log
    assert "workers=3" in log
    with psycopg.connect(f"host=127.0.0.1 port={port} user=u") as c:
        assert c.execute("SELECT v FROM persisted").fetchone() == (7,), log
    assert stop(proc) == 0

    # A flag beats both.
    proc, port, log = start(tavana_bin, ["--config", str(config), "--pg-port", str(flag_port), "--workers", "5"],
                            {"TAVANA_PG_PORT": str(env_port), "TAVANA_WORKERS": "4"}, tmp_path)
    assert port == flag_port, log
    assert "workers=5" in log
    assert stop(proc) == 0


def test_invalid_settings_are_clear_errors(tavana_bin, tmp_path):
    proc, port, log = start(tavana_bin, ["--pg-port", "0"], {"TAVANA_WORKERS": "zero"}, tmp_path)
    assert port is None
    assert proc.wait(10) != 0
    assert "workers" in log

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"pgPort": 0, "noSuchSetting": 1}))
    proc, port, log = start(tavana_bin, ["--config", str(bad)], {}, tmp_path)
    assert port is None
    assert proc.wait(10) != 0
    assert "noSuchSetting" in log


def test_non_loopback_without_users_refuses_to_start(tavana_bin, tmp_path):
    proc, port, log = start(tavana_bin, ["--host", "0.0.0.0", "--pg-port", "0"], {}, tmp_path)
    assert port is None
    assert proc.wait(10) != 0
    assert "authentication" in log


def test_duckdb_is_sized_from_the_containers_cgroup(tavana_bin, tmp_path):
    """Without memoryLimit / threads, DuckDB gets the container's memory limit minus the
    reserve and a thread per CPU of its quota (cgroup files as the kernel lays them out, in
    a folder of the test's own); explicit settings win."""
    from tavana_server import running_server
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text("4294967296\n")   # 4 GiB
    (cgroup / "cpu.max").write_text("150000 100000\n")   # 1.5 CPUs
    env = {"TAVANA_CGROUP_ROOT": str(cgroup)}
    with running_server(tavana_bin, env=env, name="cgroup") as s, s.connect() as c:
        memory, threads = c.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads')::INT").fetchone()
        assert (memory, threads) == ("3.0 GiB", 2), (memory, threads)
        assert "container limits" in s.log()
    with running_server(tavana_bin, "--memory-limit", "1GB", "--threads", "1",
                        env={**env, "TAVANA_MEMORY_RESERVE": "2048"}, name="cgroupexplicit") as s, s.connect() as c:
        memory, threads = c.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads')::INT").fetchone()
        assert threads == 1 and memory in ("953.6 MiB", "1.0 GB", "1000.0 MB"), (memory, threads)
    with running_server(tavana_bin, env={**env, "TAVANA_MEMORY_RESERVE": "3072"}, name="cgroupreserve") as s, \
            s.connect() as c:
        # 4 GiB - 3 GiB would leave 1 GiB; half the container (2 GiB) is the floor.
        assert c.execute("SELECT current_setting('memory_limit')").fetchone() == ("2.0 GiB",)


def test_an_http_port_in_use_stops_start_up_with_a_clear_error(tavana_bin, tmp_path):
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAVANA_")}
        done = subprocess.run([tavana_bin, "serve", "--pg-port", "0", "--flight-port", "0", "--http-port", str(port)],
                              capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"cannot serve HTTP (health and metrics) on 127.0.0.1:{port}" in done.stderr
    assert "--http-port" in done.stderr
