"""The autoscaler's PromQL, run for real: `tavana serve` processes play the gateway pods, a
Prometheus server (Debian's package, scripts/setup-prometheus.sh) scrapes their /metrics
every second on loopback with the labels a Kubernetes scrape would give them (`namespace`,
`pod`), and the queries the Helm chart hands KEDA or prometheus-adapter are asked over
Prometheus's HTTP API while statements wait for a slot.

The queries come from the chart itself when it can be rendered (`helm template` of
helm/tavana with the Helm binary scripts/fetch-helm.sh provides: the KEDA ScaledObject's
prometheus triggers), else from their definitions in docs/autoscaling.md
(`TAVANA_AUTOSCALING_QUERIES=docs` forces those). What is checked:

- queue depth counts statements waiting for a slot (not the running one), on pods the
  selector matches only, summed over gateway replicas;
- queue wait is the longest wait on any gateway, and grows while a statement waits;
- both read 0 once the queue has drained;
- a gateway whose scrape is lost makes the queries return no sample at all, never 0 (why
  the chart's KEDA triggers set ignoreNullValues "false" and a fallback);
- the rendered chart's triggers say what docs/autoscaling.md says (types and targets), and
  with hpa.provider prometheus-adapter its HPA and adapter rules run the same strings;
- every query of the Grafana dashboard (helm/tavana/dashboards/tavana-overview.json) parses
  and returns series against a real gateway and worker (`tavana gateway` + `tavana worker`).

`--workers 1` gives one slot; a statement that never ends by itself holds it until the test
cancels it. Everything listens on 127.0.0.1. Nothing here is random.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "clients"))
from tavana_server import ServerStartError, TavanaServer  # noqa: E402

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"
PROMETHEUS = os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus")
SCRAPE_SECONDS = 1
LONG_SQL = "SELECT count(*) FROM range(10000000000) t(x) WHERE x % 7 = 3"

# docs/autoscaling.md: the chart's definitions with its defaults (release namespace
# "tavana", hpa.metricSelector empty, queueDepthTarget 5, queueWaitTimeSecondsTarget 30s).
NAMESPACE = "tavana"
DOC_SELECTOR = f'namespace="{NAMESPACE}",pod=~"gateway-.*"'
DOC_QUERIES = {
    "queueDepth": f"sum(tavana_queue_depth{{{DOC_SELECTOR}}})",
    "queueWait": f"max(tavana_queue_oldest_wait_seconds{{{DOC_SELECTOR}}})",
}
DOC_TARGETS = {"queueDepth": ("AverageValue", 5.0), "queueWait": ("Value", 30.0)}
METRIC_OF = {"queueDepth": "tavana_queue_depth", "queueWait": "tavana_queue_oldest_wait_seconds"}


# ---------------------------------------------------------------------------------------
# The chart, when it can be rendered
# ---------------------------------------------------------------------------------------

class RenderedChart:
    def __init__(self, documents: list[dict]):
        self.documents = documents

    def scaled_object_triggers(self) -> dict[str, dict]:
        """The KEDA ScaledObject's prometheus triggers, keyed queueDepth / queueWait by the
        metric their query reads."""
        found: dict[str, dict] = {}
        for doc in self.documents:
            if doc.get("kind") != "ScaledObject":
                continue
            for trigger in doc.get("spec", {}).get("triggers", []) or []:
                if trigger.get("type") != "prometheus":
                    continue
                query = (trigger.get("metadata") or {}).get("query", "")
                for key, metric in METRIC_OF.items():
                    if re.search(rf"\b{metric}\b", query):
                        found[key] = trigger
        return found

    def scaled_object(self) -> dict | None:
        return next((d for d in self.documents if d.get("kind") == "ScaledObject"), None)


def _helm() -> tuple[str | None, str]:
    """The helm binary scripts/fetch-helm.sh provides, or None and why not."""
    if os.environ.get("TAVANA_AUTOSCALING_QUERIES") == "docs":
        return None, "TAVANA_AUTOSCALING_QUERIES=docs"
    chart = ROOT / "helm" / "tavana"
    fetch = ROOT / "scripts" / "fetch-helm.sh"
    if not (chart / "templates").is_dir() or not (chart / "Chart.yaml").exists():
        return None, "helm/tavana/templates is not there"
    if not os.access(fetch, os.X_OK):
        return None, "scripts/fetch-helm.sh is not there"
    try:
        got = subprocess.run([str(fetch)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, "scripts/fetch-helm.sh timed out"
    helm = got.stdout.strip().splitlines()[-1] if got.stdout.strip() else ""
    if got.returncode != 0 or not helm or not os.access(helm, os.X_OK):
        return None, f"scripts/fetch-helm.sh found no helm (exit {got.returncode}): {got.stderr.strip()[-500:]}"
    return helm, f"rendered with {helm}"


def render(helm: str, *args: str) -> RenderedChart:
    """`helm template tavana helm/tavana -n tavana ARGS`, parsed."""
    import yaml

    with tempfile.TemporaryDirectory(prefix="tavana-helm-") as home:
        env = dict(os.environ, HELM_CACHE_HOME=f"{home}/cache", HELM_CONFIG_HOME=f"{home}/config",
                   HELM_DATA_HOME=f"{home}/data")
        cmd = [helm, "template", "tavana", str(ROOT / "helm" / "tavana"), "-n", NAMESPACE, *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    if out.returncode != 0:
        # The chart is there but does not render: that is the chart's failure, not a reason
        # to fall back to the documented strings.
        pytest.fail(f"{' '.join(cmd[1:])} failed:\n{out.stderr}", pytrace=False)
    return RenderedChart([d for d in yaml.safe_load_all(out.stdout) if isinstance(d, dict)])


@pytest.fixture(scope="module")
def helm() -> tuple[str | None, str]:
    return _helm()


@pytest.fixture(scope="module")
def chart(helm) -> tuple[RenderedChart | None, str]:
    """The chart rendered with its defaults (hpa.provider keda), or None and why not."""
    binary, why = helm
    return (render(binary) if binary else None), why


@pytest.fixture(scope="module")
def queries(chart) -> dict[str, str]:
    """The exact query strings the autoscaler runs: the chart's, else the documented ones."""
    rendered, why = chart
    if rendered is None:
        print(f"[autoscaling-promql] using the queries of docs/autoscaling.md: {why}")
        return dict(DOC_QUERIES)
    triggers = rendered.scaled_object_triggers()
    missing = [k for k in METRIC_OF if k not in triggers]
    assert not missing, (f"the rendered chart's KEDA ScaledObject has no prometheus trigger reading "
                         f"{[METRIC_OF[k] for k in missing]} (hpa.provider keda is the default)")
    got = {k: triggers[k]["metadata"]["query"].strip() for k in METRIC_OF}
    print(f"[autoscaling-promql] using the chart's queries ({why}): {got}")
    return got


# ---------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tavana_bin() -> str:
    path = os.environ.get("TAVANA_BIN")
    if not path:
        path = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip() + "/tavana"
    if not os.path.exists(path):
        pytest.fail(f"tavana binary not found at {path}; run `swift build` first", pytrace=False)
    return path


@pytest.fixture(scope="module")
def prometheus_bin() -> str:
    if not os.access(PROMETHEUS, os.X_OK):
        got = subprocess.run([str(ROOT / "scripts" / "setup-prometheus.sh")], capture_output=True, text=True,
                             timeout=600)
        if got.returncode != 0 or not os.access(PROMETHEUS, os.X_OK):
            pytest.fail(f"no Prometheus at {PROMETHEUS} and scripts/setup-prometheus.sh could not install it:\n"
                        f"{got.stderr}", pytrace=False)
    return PROMETHEUS


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_port(server: TavanaServer, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.log().splitlines():
            if "http listening" in line:
                m = re.search(r"port=(\d+)", line)
                if m:
                    return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError(f"no 'http listening' line:\n{server.log()}")


def start_gateway(binary: str, name: str) -> TavanaServer:
    """One `tavana serve` with a single slot, standing in for a gateway pod."""
    server = TavanaServer(binary, ["--threads", "1"], workers=1, name=name, cluster=False)
    try:
        server.start()
    except ServerStartError as e:
        server.cleanup()
        pytest.fail(str(e), pytrace=False)
    server.http_port = http_port(server)
    # One statement first, so that the histograms' series exist before the load (a rate
    # over a series that appears mid-window reads nothing).
    with server.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    return server


class Prometheus:
    """A throwaway Prometheus on loopback: its own config, data folder and port."""

    def __init__(self, binary: str, targets: list[tuple[int, dict[str, str]]]):
        self.dir = tempfile.TemporaryDirectory(prefix="tavana-prometheus-")
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        config = {
            "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "scrape_timeout": f"{SCRAPE_SECONDS}s",
                       "evaluation_interval": f"{SCRAPE_SECONDS}s"},
            "scrape_configs": [{
                "job_name": "tavana",
                "metrics_path": "/metrics",
                # One entry per (address, labels): the same process may be scraped twice
                # under different pod labels, as a decoy the selector must leave out.
                "static_configs": [{"targets": [f"{HOST}:{port}"], "labels": labels} for port, labels in targets],
            }],
        }
        self.expected_targets = len(targets)
        config_path = os.path.join(self.dir.name, "prometheus.yml")
        with open(config_path, "w") as f:
            json.dump(config, f)  # JSON is YAML
        self.log_path = os.path.join(self.dir.name, "prometheus.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config_path}", f"--storage.tsdb.path={self.dir.name}/data",
             f"--web.listen-address={HOST}:{self.port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, cwd=self.dir.name)

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def get(self, path: str, **params: str):
        url = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())

    def query(self, promql: str) -> list[dict]:
        """An instant query's result vector."""
        body = self.get("/api/v1/query", query=promql)
        assert body["status"] == "success", body
        assert body["data"]["resultType"] == "vector", body
        return body["data"]["result"]

    def value(self, promql: str) -> float | None:
        """The one sample of an aggregation, or None when the result is empty."""
        result = self.query(promql)
        assert len(result) <= 1, f"{promql} returned {len(result)} samples: {result}"
        return float(result[0]["value"][1]) if result else None

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        else:
            raise AssertionError(f"prometheus not ready within {timeout}s:\n{self.log()}")
        # Every target scraped successfully at least once.
        wait_for(lambda: self.value('count(up{job="tavana"} == 1)') == self.expected_targets,
                 timeout, "every scrape target up", lambda: self.query('up{job="tavana"}'))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        self.dir.cleanup()


def wait_for(predicate, timeout: float, what: str, show=lambda: None):
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {show()}")
        time.sleep(0.2)


class Statement:
    """One statement on its own connection, in a thread."""

    def __init__(self, server: TavanaServer, sql: str):
        self.conn = server.connect()
        self.sql = sql
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.result = self.conn.execute(self.sql).fetchall()
        except Exception as e:  # noqa: BLE001
            self.error = e

    def cancel(self):
        self.conn.cancel_safe(timeout=10)

    def finish(self, timeout: float = 20.0):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"{self.sql!r} did not finish"
        self.conn.close()


def hold_slot_and_queue(server: TavanaServer, waiting: int) -> tuple[Statement, list[Statement]]:
    """Occupies the server's one slot with a statement that never ends by itself, then queues
    `waiting` statements behind it."""
    long = Statement(server, LONG_SQL)
    # The long statement holds the slot before the others arrive.
    deadline = time.monotonic() + 10
    while _gauge(server, "tavana_queries_running") < 1:
        assert time.monotonic() < deadline, f"the long statement never started:\n{server.log()}"
        assert long.thread.is_alive(), f"the long statement ended: {long.error}"
        time.sleep(0.05)
    queued = [Statement(server, f"SELECT {40 + i}") for i in range(waiting)]
    return long, queued


def release(long: Statement, queued: list[Statement]) -> None:
    long.cancel()
    long.finish()
    for i, s in enumerate(queued):
        s.finish()
        assert s.error is None and s.result == [(40 + i,)], f"a waiting statement got {s.error or s.result}"


def _gauge(server: TavanaServer, name: str) -> float:
    """A label-less gauge straight from the server's /metrics (not through Prometheus)."""
    with urllib.request.urlopen(f"http://{HOST}:{server.http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


@pytest.fixture
def cleanup():
    """Stops whatever a test started, in reverse order, whatever happened."""
    stack: list = []
    yield stack
    for stop in reversed(stack):
        try:
            stop()
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------

def test_queue_depth_and_wait_follow_waiting_statements(tavana_bin, prometheus_bin, queries, cleanup):
    gateway = start_gateway(tavana_bin, "gateway-test-0")
    cleanup.append(gateway.cleanup)
    port = gateway.http_port
    prom = Prometheus(prometheus_bin, [
        (port, {"namespace": NAMESPACE, "pod": "gateway-test-0"}),
        # The same numbers under labels the selector must not match.
        (port, {"namespace": "other", "pod": "gateway-test-0"}),
        (port, {"namespace": NAMESPACE, "pod": "worker-test-0"}),
    ])
    cleanup.append(prom.stop)
    prom.wait_ready()
    depth_q, wait_q = queries["queueDepth"], queries["queueWait"]

    assert prom.value(depth_q) == 0, "idle: nothing waits"
    assert prom.value(wait_q) == 0, "idle: nobody has waited"

    waiting = 6
    long, queued = hold_slot_and_queue(gateway, waiting)
    try:
        # Queue depth counts the waiting statements only, once (the decoys are left out).
        depth = wait_for(lambda: prom.value(depth_q) == waiting and waiting, 15,
                         f"{depth_q} == {waiting}", lambda: prom.query(depth_q))
        assert depth >= 1
        # The HPA's proposal for an AverageValue target of 5: ceil(6 / 5) = 2 workers.
        assert math.ceil(prom.value(depth_q) / DOC_TARGETS["queueDepth"][1]) == 2
        running = prom.value(f"sum(tavana_queries_running{{{DOC_SELECTOR}}})")
        assert running == 1, "the statement holding the slot is running, not waiting"

        # Queue wait: above 0 while they wait, and it grows.
        first = wait_for(lambda: (v := prom.value(wait_q)) and v > 0 and v, 10, f"{wait_q} > 0",
                         lambda: prom.query(wait_q))
        time.sleep(2.5)
        later = prom.value(wait_q)
        assert later is not None and later >= first + 1.5, f"queue wait did not grow: {first} then {later}"
        # The HPA's proposal for a Value target of 30 s with 2 workers: ceil(2 * wait / 30).
        assert math.ceil(2 * later / DOC_TARGETS["queueWait"][1]) >= 1
    finally:
        release(long, queued)

    wait_for(lambda: prom.value(depth_q) == 0, 10, f"{depth_q} back to 0", lambda: prom.query(depth_q))
    wait_for(lambda: prom.value(wait_q) == 0, 10, f"{wait_q} back to 0", lambda: prom.query(wait_q))
    # The dashboard's p99 of queue wait saw those waits (several seconds each).
    p99 = prom.value("histogram_quantile(0.99, sum by (le) "
                     f"(rate(tavana_queue_wait_seconds_bucket{{{DOC_SELECTOR}}}[1m])))")
    assert p99 is not None and p99 > 1.0, f"p99 queue wait {p99}"


def test_two_gateways_are_summed_and_the_longest_wait_wins(tavana_bin, prometheus_bin, queries, cleanup):
    gateways = {}
    for name in ("gateway-a", "gateway-b"):
        gateways[name] = start_gateway(tavana_bin, name)
        cleanup.append(gateways[name].cleanup)
    prom = Prometheus(prometheus_bin, [(g.http_port, {"namespace": NAMESPACE, "pod": name})
                                       for name, g in gateways.items()])
    cleanup.append(prom.stop)
    prom.wait_ready()
    depth_q, wait_q = queries["queueDepth"], queries["queueWait"]
    assert prom.value(depth_q) == 0

    # gateway-a gets its waiters first, so its oldest waiter is the longest-waiting one.
    held_a = hold_slot_and_queue(gateways["gateway-a"], 2)
    time.sleep(1.5)
    held_b = hold_slot_and_queue(gateways["gateway-b"], 3)
    try:
        wait_for(lambda: prom.value(depth_q) == 5, 15, f"{depth_q} == 2 + 3", lambda: prom.query(depth_q))
        by_pod = {r["metric"]["pod"]: float(r["value"][1])
                  for r in prom.query(f"sum by (pod) (tavana_queue_depth{{{DOC_SELECTOR}}})")}
        assert by_pod == {"gateway-a": 2, "gateway-b": 3}
        # ceil(5 / 5) = 1 worker wanted for depth, whichever gateway the statements wait on.
        assert math.ceil(prom.value(depth_q) / DOC_TARGETS["queueDepth"][1]) == 1

        def waits():
            rows = prom.query(f"tavana_queue_oldest_wait_seconds{{{DOC_SELECTOR}}}")
            return {r["metric"]["pod"]: float(r["value"][1]) for r in rows}

        wait_for(lambda: all(v > 0 for v in waits().values()) and len(waits()) == 2, 10,
                 "both gateways report a wait", waits)
        per_pod = waits()
        longest = prom.value(wait_q)
        assert longest >= max(per_pod.values()) - SCRAPE_SECONDS, (longest, per_pod)
        assert longest >= per_pod["gateway-b"], "max() is the longest wait, here gateway-a's"
        assert per_pod["gateway-a"] > per_pod["gateway-b"], per_pod
    finally:
        release(*held_a)
        release(*held_b)

    wait_for(lambda: prom.value(depth_q) == 0, 10, f"{depth_q} back to 0", lambda: prom.query(depth_q))
    wait_for(lambda: prom.value(wait_q) == 0, 10, f"{wait_q} back to 0", lambda: prom.query(wait_q))


def test_a_lost_scrape_reads_as_no_data_never_as_zero(tavana_bin, prometheus_bin, queries, cleanup):
    """When no gateway can be scraped, the queries return an empty vector. KEDA's prometheus
    trigger would take that as 0 ("no load") unless ignoreNullValues is "false"; with it, the
    trigger errs and the ScaledObject's fallback applies."""
    gateway = start_gateway(tavana_bin, "gateway-lost")
    cleanup.append(gateway.cleanup)
    prom = Prometheus(prometheus_bin, [(gateway.http_port, {"namespace": NAMESPACE, "pod": "gateway-lost-0"})])
    cleanup.append(prom.stop)
    prom.wait_ready()
    depth_q, wait_q = queries["queueDepth"], queries["queueWait"]
    assert prom.value(depth_q) == 0 and prom.value(wait_q) == 0

    gateway.proc.send_signal(signal.SIGKILL)
    gateway.proc.wait(10)
    # The failed scrape marks the gateway's series stale at once.
    wait_for(lambda: prom.query(depth_q) == [] and prom.query(wait_q) == [], 10,
             "empty results once the gateway is gone", lambda: (prom.query(depth_q), prom.query(wait_q)))
    assert prom.value('up{pod="gateway-lost-0"}') == 0


def test_rendered_triggers_match_the_documented_definitions(chart):
    """docs/autoscaling.md and the chart say the same: the queries, their target types and
    targets, ignoreNullValues "false" and a fallback, CPU at 70 %, scale-down stabilized."""
    rendered, why = chart
    if rendered is None:
        (pytest.skip if os.environ.get("TAVANA_AUTOSCALING_QUERIES") == "docs" else pytest.fail)(f"chart not rendered: {why}")
    triggers = rendered.scaled_object_triggers()
    squash = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
    for key, (metric_type, target) in DOC_TARGETS.items():
        assert key in triggers, f"no trigger reads {METRIC_OF[key]}"
        trigger = triggers[key]
        meta = trigger["metadata"]
        assert squash(meta["query"]) == squash(DOC_QUERIES[key]), (key, meta["query"])
        assert trigger.get("metricType") == metric_type, (key, trigger)
        assert float(meta["threshold"]) == target, (key, meta)
        assert str(meta.get("ignoreNullValues")).lower() == "false", (key, meta)
    so = rendered.scaled_object()
    spec = so["spec"]
    fallback = spec.get("fallback") or {}
    assert int(fallback.get("failureThreshold", 0)) >= 1 and int(fallback.get("replicas", 0)) >= 1, spec
    cpu = [t for t in spec["triggers"] if t.get("type") == "cpu"]
    assert len(cpu) == 1 and cpu[0].get("metricType") == "Utilization" and str(cpu[0]["metadata"]["value"]) == "70", cpu
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300, behavior
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0, behavior
    # One autoscaler: KEDA makes the HPA, so the chart renders no HPA of its own beside it.
    assert not [d for d in rendered.documents if d.get("kind") == "HorizontalPodAutoscaler"]


def test_prometheus_adapter_rules_run_the_same_queries(helm):
    """hpa.provider prometheus-adapter: a plain HPA on External metrics (no ScaledObject),
    and adapter rules whose metricsQuery strings are the ones KEDA runs above."""
    binary, why = helm
    if binary is None:
        (pytest.skip if os.environ.get("TAVANA_AUTOSCALING_QUERIES") == "docs" else pytest.fail)(f"chart not rendered: {why}")
    import yaml

    rendered = render(binary, "--set", "hpa.provider=prometheus-adapter")
    kinds = [d.get("kind") for d in rendered.documents]
    assert "ScaledObject" not in kinds, "never both autoscalers"
    hpas = [d for d in rendered.documents if d.get("kind") == "HorizontalPodAutoscaler"]
    assert len(hpas) == 1, kinds
    metrics = hpas[0]["spec"]["metrics"]
    external = {m["external"]["metric"]["name"]: m["external"]["target"] for m in metrics if m["type"] == "External"}
    types = sorted(t["type"] for t in external.values())
    assert types == ["AverageValue", "Value"], external
    for target in external.values():
        want = DOC_TARGETS["queueDepth" if target["type"] == "AverageValue" else "queueWait"][1]
        assert float(target.get("averageValue") or target.get("value")) == want, target
    cpu = [m for m in metrics if m["type"] == "Resource"]
    assert cpu and cpu[0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}, cpu
    configmaps = [d for d in rendered.documents if d.get("kind") == "ConfigMap"
                  and any("externalRules" in str(v) for v in (d.get("data") or {}).values())]
    assert len(configmaps) == 1, "the adapter rules ConfigMap"
    rules_text = next(v for v in configmaps[0]["data"].values() if "externalRules" in v)
    rules = yaml.safe_load(rules_text)["externalRules"]
    served = {r["name"]["as"]: r["metricsQuery"] for r in rules}
    assert set(served) == set(external), (served, external)
    squash = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
    assert sorted(map(squash, served.values())) == sorted(map(squash, DOC_QUERIES.values())), served


DASHBOARD = ROOT / "helm" / "tavana" / "dashboards" / "tavana-overview.json"


def dashboard_targets(dashboard: dict) -> list[tuple[str, str]]:
    out = []
    for panel in dashboard["panels"]:
        for panel_or_child in [panel] + panel.get("panels", []):
            for target in panel_or_child.get("targets", []):
                out.append((panel_or_child["title"], target["expr"]))
    return out


def test_dashboard_queries_return_series_from_a_gateway_and_a_worker(tavana_bin, prometheus_bin, cleanup):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["type"] == "query"
    targets = dashboard_targets(dashboard)
    assert targets
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]

    # A real cluster: one gateway in front of one worker (no shared catalog needed here).
    gateway = TavanaServer(tavana_bin, ["--threads", "1"], workers=1, name="gateway-dash", cluster=True,
                           shared_catalog=False)
    cleanup.append(gateway.cleanup)
    try:
        gateway.start()
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    gateway.http_port = http_port(gateway)
    worker = gateway.worker_procs[0]
    worker.http_port = http_port(worker)
    with gateway.connect() as c:
        assert len(c.execute("SELECT * FROM range(1000)").fetchall()) == 1000
        with pytest.raises(Exception):
            c.execute("SELECT * FROM no_such_table")  # an error class for the errors panel

    prom = Prometheus(prometheus_bin, [
        (gateway.http_port, {"namespace": NAMESPACE, "pod": "gateway-dash-0"}),
        (worker.http_port, {"namespace": NAMESPACE, "pod": "worker-dash-0"}),
    ])
    cleanup.append(prom.stop)
    prom.wait_ready()
    # Two scrapes after the statements, so that rate() has two samples.
    time.sleep(2.5 * SCRAPE_SECONDS)
    with gateway.connect() as c:
        c.execute("SELECT 1").fetchall()
    time.sleep(1.5 * SCRAPE_SECONDS)

    empty = []
    for title, expr in targets:
        promql = (expr.replace("$namespace", NAMESPACE).replace("$gateway", "gateway-.*")
                  .replace("$__rate_interval", "1m"))
        result = prom.query(promql)  # asserts the query parses and runs
        if not result:
            empty.append((title, promql))
    assert not empty, f"dashboard queries with no series: {empty}"
