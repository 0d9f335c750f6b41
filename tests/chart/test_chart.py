"""The Helm chart helm/tavana, rendered offline by a real Helm 3 (scripts/fetch-helm.sh).

Nothing here needs a cluster: `helm lint --strict` and `helm template` run the chart's
templates and values.schema.json, every rendered object is checked against the Kubernetes
API schemas (kubernetes-validate) and the KEDA / prometheus-operator objects against the
fields those operators define, and each value of the chart's spec is shown to change what
is rendered. Run: .venv/bin/python -m pytest -q tests/chart/test_chart.py
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "tavana"
NS = "tavana"

# The values of the chart's spec (issue 13) with their exact defaults.
SPEC_DEFAULTS = {
    "global.namespace": "tavana",
    "global.imageRegistry": "",
    "global.imagePullPolicy": "IfNotPresent",
    "global.imageTag": "latest",
    "gateway.enabled": True,
    "gateway.replicaCount": 2,
    "gateway.resources.requests.memory": "1Gi",
    "gateway.resources.limits.memory": "4Gi",
    "gateway.service.pgPort": 5432,
    "gateway.flightSql.enabled": True,
    "gateway.flightSql.port": 9091,
    "gateway.loadBalancer.enabled": False,
    "gateway.loadBalancer.externalPort": 5432,
    "gateway.loadBalancer.exposeFlight": False,
    "gateway.loadBalancer.flightExternalPort": 9091,
    "gateway.loadBalancer.annotations": {},
    "worker.enabled": True,
    "worker.replicaCount": 2,
    "worker.minReplicas": 2,
    "worker.maxReplicas": 20,
    "worker.resources.requests.memory": "2Gi",
    "worker.resources.limits.memory": "12Gi",
    "worker.nodeSelector": {},
    "worker.tolerations": [],
    "hpa.enabled": True,
    "hpa.cpuTargetUtilization": 70,
    "hpa.queueDepthTarget": 5,
    "hpa.queueWaitTimeSecondsTarget": "30s",
    "objectStorage.endpoint": "",
    "objectStorage.bucket": "",
    "objectStorage.region": "us-east-1",
    "objectStorage.existingSecret": "",
    "serviceAccount.create": True,
    "serviceAccount.name": "tavana",
    "serviceAccount.annotations": {},
    "networkPolicies.enabled": True,
    "podSecurityContext.runAsNonRoot": True,
}

# What the metric helpers render with the default values (the Prometheus tests and
# docs/autoscaling.md use the same strings).
QUEUE_DEPTH_QUERY = 'sum(tavana_queue_depth{namespace="tavana",pod=~"gateway-.*"})'
QUEUE_WAIT_QUERY = 'max(tavana_queue_oldest_wait_seconds{namespace="tavana",pod=~"gateway-.*"})'

CRD_KINDS = {"ScaledObject", "PodMonitor", "ServiceMonitor"}


# ---------------------------------------------------------------- rendering


@pytest.fixture(scope="session")
def helm() -> str:
    script = ROOT / "scripts" / "fetch-helm.sh"
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"fetch-helm.sh failed:\n{done.stderr}"
    path = done.stdout.strip().splitlines()[-1]
    assert os.access(path, os.X_OK), path
    return path


def nested(flat: dict) -> dict:
    """{"a.b": 1} -> {"a": {"b": 1}}; keys may contain escaped dots as "\\."."""
    out: dict = {}
    for key, value in flat.items():
        parts = [p.replace("\0", ".") for p in key.replace("\\.", "\0").split(".")]
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and v else v
    return out


class Renderer:
    def __init__(self, helm: str, chart: Path, tmp: Path):
        self.helm = helm
        self.chart = chart
        self.tmp = tmp
        self._n = 0

    def run(self, values: dict | None = None, *extra: str, files: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
        args = [self.helm, "template", "tavana", str(self.chart), "-n", NS]
        for f in files:
            args += ["-f", str(f)]
        if values:
            self._n += 1
            # JSON is YAML that Go's parser cannot misread (PyYAML leaves y and n unquoted).
            path = self.tmp / f"values-{self._n}.yaml"
            path.write_text(json.dumps(values))
            args += ["-f", str(path)]
        args += list(extra)
        return subprocess.run(args, capture_output=True, text=True, timeout=60)

    @functools.lru_cache(maxsize=None)
    def _cached(self, key: str, files: tuple[Path, ...]) -> str:
        done = self.run(json.loads(key) or None, files=files)
        assert done.returncode == 0, f"helm template failed for {key}:\n{done.stderr}"
        return done.stdout

    def text(self, values: dict | None = None, files: tuple[Path, ...] = ()) -> str:
        return self._cached(json.dumps(values or {}, sort_keys=True), files)

    def docs(self, values: dict | None = None, files: tuple[Path, ...] = ()) -> list[dict]:
        return [d for d in yaml.safe_load_all(self.text(values, files)) if d]


@pytest.fixture(scope="session")
def chart(helm, tmp_path_factory) -> Renderer:
    return Renderer(helm, CHART, tmp_path_factory.mktemp("values"))


@pytest.fixture(scope="session")
def probe(helm, tmp_path_factory) -> Renderer:
    """A copy of the chart with two extra templates: the metric helpers' raw output and
    NOTES.txt rendered as a ConfigMap (helm template does not print NOTES), and a small
    dashboard JSON in place of the real one."""
    copy = tmp_path_factory.mktemp("probe") / "tavana"
    shutil.copytree(CHART, copy)
    (copy / "templates" / "zz-probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n  namespace: {{ .Values.global.namespace }}\n"
        "data:\n"
        '  selector: {{ include "tavana.promql.selector" . | toJson }}\n'
        '  queueDepth: {{ include "tavana.promql.queueDepth" . | toJson }}\n'
        '  queueWait: {{ include "tavana.promql.queueWait" . | toJson }}\n'
        '  queueWaitSeconds: {{ include "tavana.queueWaitSeconds" . | toJson }}\n'
        '  notes: {{ tpl (.Files.Get "probe-notes.txt") . | toJson }}\n'
    )
    shutil.copy(CHART / "templates" / "NOTES.txt", copy / "probe-notes.txt")
    (copy / "dashboards").mkdir(exist_ok=True)
    (copy / "dashboards" / "tavana-overview.json").write_text(json.dumps({"title": "probe dashboard", "panels": []}))
    return Renderer(helm, copy, tmp_path_factory.mktemp("probe-values"))


def probe_data(probe: Renderer, values: dict | None = None) -> dict:
    return one(probe.docs(values), "ConfigMap", "probe")["data"]


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(docs: list[dict], name: str) -> dict:
    return one(docs, "Deployment", name)["spec"]["template"]["spec"]


def container(docs: list[dict], name: str) -> dict:
    (c,) = pod_spec(docs, name)["containers"]
    return c


def env(docs: list[dict], name: str) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(docs, name).get("env", [])}


def ports(svc: dict) -> dict:
    return {p["name"]: p["port"] for p in svc["spec"]["ports"]}


def cloud_values(name: str) -> Path:
    path = CHART / f"values-{name}.yaml"
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} is not there")
    return path


# ---------------------------------------------------------------- lint and schemas


def test_lint_strict_defaults(helm):
    done = subprocess.run([helm, "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("cloud", ["aws", "azure", "gcp"])
def test_lint_strict_cloud_values(helm, chart, cloud):
    path = cloud_values(cloud)
    done = subprocess.run([helm, "lint", "--strict", str(CHART), "-f", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    docs = chart.docs(files=(path,))
    validate_all(docs, "1.28")
    validate_all(docs, "1.33")


# The fields KEDA 2.17+ and prometheus-operator define for the objects the chart renders
# (no schemas ship for them in kubernetes-validate).
PROM_TRIGGER = {
    "type": "object",
    "required": ["type", "metadata"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["cpu", "prometheus"]},
        "name": {"type": "string", "pattern": "^[a-z0-9-]+$"},
        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
        "authenticationRef": {"type": "object", "required": ["name"]},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
HPA_BEHAVIOR_RULE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
        "policies": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "value", "periodSeconds"],
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["Pods", "Percent"]},
                    "value": {"type": "integer", "minimum": 1},
                    "periodSeconds": {"type": "integer", "minimum": 1, "maximum": 1800},
                },
            },
        },
    },
}
METADATA = {"type": "object", "required": ["name", "namespace"]}
CRD_SCHEMAS = {
    "ScaledObject": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "metadata": METADATA,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"}},
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer"},
                    "fallback": {
                        "type": "object",
                        "required": ["failureThreshold", "replicas"],
                        "additionalProperties": False,
                        "properties": {
                            "failureThreshold": {"type": "integer", "minimum": 1},
                            "replicas": {"type": "integer", "minimum": 1},
                            "behavior": {"enum": ["static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"]},
                        },
                    },
                    "advanced": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "horizontalPodAutoscalerConfig": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string"},
                                    "behavior": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {"scaleUp": HPA_BEHAVIOR_RULE, "scaleDown": HPA_BEHAVIOR_RULE},
                                    },
                                },
                            }
                        },
                    },
                    "triggers": {"type": "array", "minItems": 1, "items": PROM_TRIGGER},
                },
            },
        },
    },
}
for _kind, _endpoints in (("PodMonitor", "podMetricsEndpoints"), ("ServiceMonitor", "endpoints")):
    CRD_SCHEMAS[_kind] = {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "metadata": METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", _endpoints],
                "additionalProperties": False,
                "properties": {
                    "namespaceSelector": {"type": "object", "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}}},
                    "selector": {"type": "object", "additionalProperties": False,
                                 "properties": {"matchLabels": {"type": "object"}, "matchExpressions": {"type": "array"}}},
                    _endpoints: {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port", "path"],
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string"},
                                "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            },
                        },
                    },
                },
            },
        },
    }


def validate_all(docs: list[dict], version: str) -> None:
    assert docs
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            jsonschema.validate(doc, CRD_SCHEMAS[doc["kind"]])
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} is not valid for Kubernetes {version}: {e}")


VALIDATION_CASES = {
    "defaults": {},
    "prometheus-adapter": {"hpa": {"provider": "prometheus-adapter"}},
    "no-hpa": {"hpa": {"enabled": False}},
    "everything-on": {
        "gateway": {"loadBalancer": {"enabled": True, "exposeFlight": True, "annotations": {"a/b": "c"}, "sourceRanges": ["10.0.0.0/8"]},
                    "extraEnv": [{"name": "TAVANA_MAX_QUEUE_WAIT", "value": "60"}]},
        "worker": {"nodeSelector": {"pool": "tavana"}, "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                   "duckdb": {"memoryLimit": "8GB", "threads": 4}, "slots": 8,
                   "extraEnv": [{"name": "AZURE_STORAGE_ACCOUNT", "value": "acct"}]},
        "auth": {"existingSecret": "users", "method": "scram-sha-256"},
        "tls": {"existingSecret": "tls"},
        "objectStorage": {"endpoint": "http://minio:9000", "bucket": "b", "existingSecret": "keys"},
        "catalog": {"ducklake": {"metadata": "postgres:host=pg dbname=lake", "dataPath": "s3://b/lake/"}},
        "serviceAccount": {"annotations": {"azure.workload.identity/client-id": "x", "iam.gke.io/gcp-service-account": "y"}},
        "networkPolicies": {"clientsFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "dnsTo": [{"namespaceSelector": {}}],
                            "ducklakeMetadata": {"to": [{"podSelector": {"matchLabels": {"app": "pg"}}}]},
                            "objectStorageEgress": [{"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"], "ports": [443]}]},
        "monitoring": {"enabled": True, "kind": "podMonitor", "labels": {"release": "kps"}},
    },
    "service-monitor": {"monitoring": {"enabled": True, "kind": "serviceMonitor"}},
    "scrape-annotations": {"monitoring": {"enabled": True, "kind": "annotations"}},
}


@pytest.mark.parametrize("case", sorted(VALIDATION_CASES))
def test_manifests_validate_against_kubernetes_schemas(chart, case):
    docs = chart.docs(VALIDATION_CASES[case])
    validate_all(docs, "1.28")  # the oldest Kubernetes the chart supports (kubeVersion)
    validate_all(docs, "1.33")


def test_sleep_pre_stop_action_validates_on_1_30(chart):
    docs = chart.docs({"global": {"preStopAction": "sleep"}})
    validate_all(docs, "1.30")
    for name in ("gateway", "worker"):
        assert container(docs, name)["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}


def test_every_object_is_in_the_namespace(chart):
    for doc in chart.docs(VALIDATION_CASES["everything-on"]):
        assert doc["metadata"]["namespace"] == NS, doc["metadata"]["name"]


# ---------------------------------------------------------------- the spec's values


def value_at(values: dict, dotted: str):
    node = values
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"{dotted} is missing from values.yaml"
        node = node[part]
    return node


def test_spec_values_have_their_spec_defaults():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for key, expected in SPEC_DEFAULTS.items():
        actual = value_at(values, key)
        assert actual == expected and type(actual) is type(expected), f"{key}: {actual!r}, the spec says {expected!r}"


def test_values_schema_covers_every_value():
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node, sch, path):
        assert sch is not None, f"{path} is not in values.schema.json"
        if isinstance(node, dict) and sch.get("properties") is not None and sch.get("additionalProperties") is False:
            for k, v in node.items():
                walk(v, sch["properties"].get(k), f"{path}.{k}".lstrip("."))
        else:
            assert "type" in sch or "enum" in sch or "const" in sch, f"{path} has no type in values.schema.json"

    walk(values, schema, "")
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(values, schema)


def _deployment_replicas(docs, name):
    return one(docs, "Deployment", name)["spec"].get("replicas")


def _scaled(docs):
    return one(docs, "ScaledObject", "worker")["spec"]


def _trigger(docs, name):
    (t,) = [t for t in _scaled(docs)["triggers"] if t["name"] == name]
    return t


# A load balancer needs users: trust (the default without them) is refused with one.
USERS = {"auth.existingSecret": "tavana-users"}
LB = {"gateway.loadBalancer.enabled": True, **USERS}
LB_FLIGHT = {**LB, "gateway.loadBalancer.exposeFlight": True}
NO_HPA = {"hpa.enabled": False}

# value -> (a different value, values it needs to show, what must then be true)
SPEC_CHANGES = {
    "global.namespace": ("analytics", {}, lambda d: all(x["metadata"]["namespace"] == "analytics" for x in d)
                         and env(d, "gateway")["TAVANA_WORKER_DNS"] == "worker.analytics.svc.cluster.local:9092"),
    "global.imageRegistry": ("registry.example.com", {}, lambda d: container(d, "worker")["image"] == "registry.example.com/tavana/tavana:latest"
                             and container(d, "gateway")["image"] == "registry.example.com/tavana/tavana:latest"),
    "global.imagePullPolicy": ("Always", {}, lambda d: container(d, "gateway")["imagePullPolicy"] == "Always"),
    "global.imageTag": ("0.1.0", {}, lambda d: container(d, "worker")["image"] == "tavana/tavana:0.1.0"),
    "gateway.enabled": (False, {}, lambda d: not find(d, "Deployment", "gateway") and not find(d, "Service", "gateway")),
    "gateway.replicaCount": (3, {}, lambda d: _deployment_replicas(d, "gateway") == 3),
    "gateway.resources.requests.memory": ("2Gi", {}, lambda d: container(d, "gateway")["resources"]["requests"]["memory"] == "2Gi"),
    "gateway.resources.limits.memory": ("8Gi", {}, lambda d: container(d, "gateway")["resources"]["limits"]["memory"] == "8Gi"),
    "gateway.service.pgPort": (6432, {}, lambda d: ports(one(d, "Service", "gateway"))["postgres"] == 6432
                               and env(d, "gateway")["TAVANA_PG_PORT"] == "6432"
                               and env(d, "gateway")["TAVANA_GATEWAY_PEER_DNS"] == "gateway-peers.tavana.svc.cluster.local:6432"),
    "gateway.flightSql.enabled": (False, {}, lambda d: "flight" not in ports(one(d, "Service", "gateway"))),
    "gateway.flightSql.port": (9191, {}, lambda d: ports(one(d, "Service", "gateway"))["flight"] == 9191
                               and env(d, "gateway")["TAVANA_FLIGHT_PORT"] == "9191"),
    "gateway.loadBalancer.enabled": (True, USERS, lambda d: one(d, "Service", "gateway-lb")["spec"]["type"] == "LoadBalancer"),
    "gateway.loadBalancer.externalPort": (15432, LB, lambda d: ports(one(d, "Service", "gateway-lb")) == {"postgres": 15432}),
    "gateway.loadBalancer.exposeFlight": (True, LB, lambda d: ports(one(d, "Service", "gateway-lb")) == {"postgres": 5432, "flight": 9091}),
    "gateway.loadBalancer.flightExternalPort": (19091, LB_FLIGHT, lambda d: ports(one(d, "Service", "gateway-lb"))["flight"] == 19091),
    "gateway.loadBalancer.annotations": ({"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}, LB,
                                         lambda d: one(d, "Service", "gateway-lb")["metadata"]["annotations"]
                                         == {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}),
    "worker.enabled": (False, {}, lambda d: not find(d, "Deployment", "worker") and not find(d, "ScaledObject")),
    "worker.replicaCount": (5, NO_HPA, lambda d: _deployment_replicas(d, "worker") == 5),
    "worker.minReplicas": (3, {}, lambda d: _scaled(d)["minReplicaCount"] == 3),
    "worker.maxReplicas": (50, {}, lambda d: _scaled(d)["maxReplicaCount"] == 50),
    "worker.resources.requests.memory": ("4Gi", {}, lambda d: container(d, "worker")["resources"]["requests"]["memory"] == "4Gi"),
    "worker.resources.limits.memory": ("16Gi", {}, lambda d: container(d, "worker")["resources"]["limits"]["memory"] == "16Gi"),
    "worker.nodeSelector": ({"nodepool": "tavana"}, {}, lambda d: pod_spec(d, "worker")["nodeSelector"] == {"nodepool": "tavana"}
                            and "nodeSelector" not in pod_spec(d, "gateway")),
    "worker.tolerations": ([{"key": "workload", "operator": "Equal", "value": "tavana", "effect": "NoSchedule"}], {},
                           lambda d: pod_spec(d, "worker")["tolerations"]
                           == [{"key": "workload", "operator": "Equal", "value": "tavana", "effect": "NoSchedule"}]),
    "hpa.enabled": (False, {}, lambda d: not find(d, "ScaledObject") and not find(d, "HorizontalPodAutoscaler")
                    and _deployment_replicas(d, "worker") == 2),
    "hpa.cpuTargetUtilization": (80, {}, lambda d: _trigger(d, "cpu")["metadata"]["value"] == "80"),
    "hpa.queueDepthTarget": (10, {}, lambda d: _trigger(d, "queue-depth")["metadata"]["threshold"] == "10"),
    "hpa.queueWaitTimeSecondsTarget": ("2m", {}, lambda d: _trigger(d, "queue-wait")["metadata"]["threshold"] == "120"),
    "objectStorage.endpoint": ("http://minio:9000", {}, lambda d: env(d, "worker")["TAVANA_OBJECT_STORAGE_ENDPOINT"] == "http://minio:9000"),
    "objectStorage.bucket": ("data", {}, lambda d: env(d, "worker")["TAVANA_OBJECT_STORAGE_BUCKET"] == "data"),
    "objectStorage.region": ("eu-west-1", {}, lambda d: env(d, "worker")["TAVANA_OBJECT_STORAGE_REGION"] == "eu-west-1"),
    "objectStorage.existingSecret": ("s3-keys", {}, lambda d: container(d, "worker")["envFrom"] == [{"secretRef": {"name": "s3-keys"}}]
                                     and "envFrom" not in container(d, "gateway")),
    "serviceAccount.create": (False, {}, lambda d: not find(d, "ServiceAccount") and pod_spec(d, "worker")["serviceAccountName"] == "tavana"),
    "serviceAccount.name": ("analytics", {}, lambda d: one(d, "ServiceAccount", "analytics") is not None
                            and pod_spec(d, "worker")["serviceAccountName"] == "analytics"
                            and pod_spec(d, "gateway")["serviceAccountName"] == "analytics"),
    "serviceAccount.annotations": ({"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/tavana"}, {},
                                   lambda d: one(d, "ServiceAccount", "tavana")["metadata"]["annotations"]
                                   == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/tavana"}),
    "networkPolicies.enabled": (False, {}, lambda d: not find(d, "NetworkPolicy")),
    "podSecurityContext.runAsNonRoot": (False, {}, lambda d: pod_spec(d, "worker")["securityContext"]["runAsNonRoot"] is False
                                        and pod_spec(d, "gateway")["securityContext"]["runAsNonRoot"] is False),
}


def test_every_spec_value_has_a_change_case():
    assert set(SPEC_CHANGES) == set(SPEC_DEFAULTS)


@pytest.mark.parametrize("key", list(SPEC_CHANGES))
def test_spec_value_changes_the_manifests(chart, key):
    new, context, check = SPEC_CHANGES[key]
    assert new != SPEC_DEFAULTS[key]
    base = nested(context)
    before = chart.text(base)
    changed = deep_merge(base, nested({key: new}))
    after = chart.text(changed)
    assert before != after, f"setting {key} changes nothing"
    assert check(chart.docs(changed)), f"{key}={new!r} did not have its effect"


def test_set_flags_reach_the_manifests(chart):
    done = chart.run(None, "--set", "worker.replicaCount=7,hpa.enabled=false", "--set-string", "global.imageTag=1.2.3")
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert _deployment_replicas(docs, "worker") == 7
    assert container(docs, "gateway")["image"] == "tavana/tavana:1.2.3"


# ---------------------------------------------------------------- autoscaling


@pytest.mark.parametrize("provider", ["keda", "prometheus-adapter"])
def test_exactly_one_autoscaler_kind(chart, provider):
    docs = chart.docs({"hpa": {"provider": provider}})
    keda, hpas = find(docs, "ScaledObject"), find(docs, "HorizontalPodAutoscaler")
    if provider == "keda":
        assert len(keda) == 1 and not hpas
        assert not find(docs, "ConfigMap", "tavana-prometheus-adapter-rules")
    else:
        assert len(hpas) == 1 and not keda
        assert hpas[0]["metadata"]["name"] == "worker"
    # With an autoscaler the Deployment leaves replicas to it.
    assert "replicas" not in one(docs, "Deployment", "worker")["spec"]


def test_no_autoscaler_when_disabled(chart):
    docs = chart.docs({"hpa": {"enabled": False, "provider": "prometheus-adapter"}})
    assert not find(docs, "ScaledObject") and not find(docs, "HorizontalPodAutoscaler")
    assert not find(docs, "ConfigMap", "tavana-prometheus-adapter-rules")


def test_metric_helpers_render_the_documented_promql(probe):
    data = probe_data(probe)
    assert data["selector"] == 'namespace="tavana",pod=~"gateway-.*"'
    assert data["queueDepth"] == QUEUE_DEPTH_QUERY
    assert data["queueWait"] == QUEUE_WAIT_QUERY
    assert data["queueWaitSeconds"] == "30"
    custom = probe_data(probe, {"hpa": {"metricSelector": 'job="tavana-gateways"'}, "global": {"namespace": "olap"}})
    assert custom["queueDepth"] == 'sum(tavana_queue_depth{job="tavana-gateways"})'
    assert probe_data(probe, {"global": {"namespace": "olap"}})["queueWait"] == \
        'max(tavana_queue_oldest_wait_seconds{namespace="olap",pod=~"gateway-.*"})'


@pytest.mark.parametrize("raw,seconds", [("30s", "30"), ("2m", "120"), ("1h", "3600"), (45, "45")])
def test_queue_wait_target_durations(probe, raw, seconds):
    assert probe_data(probe, {"hpa": {"queueWaitTimeSecondsTarget": raw}})["queueWaitSeconds"] == seconds


def test_keda_scaled_object(probe):
    docs = probe.docs()
    helpers = probe_data(probe)
    spec = _scaled(docs)
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 20)
    assert spec["fallback"] == {"failureThreshold": 3, "replicas": 2, "behavior": "currentReplicasIfHigher"}
    triggers = {t["name"]: t for t in spec["triggers"]}
    assert set(triggers) == {"cpu", "queue-depth", "queue-wait"}
    assert triggers["cpu"]["type"] == "cpu" and triggers["cpu"]["metricType"] == "Utilization"
    assert triggers["cpu"]["metadata"]["value"] == "70"
    depth, wait = triggers["queue-depth"], triggers["queue-wait"]
    assert depth["metricType"] == "AverageValue" and wait["metricType"] == "Value"
    for t in (depth, wait):
        assert t["type"] == "prometheus"
        assert t["metadata"]["serverAddress"] == "http://prometheus-operated.monitoring.svc:9090"
        assert t["metadata"]["ignoreNullValues"] == "false"
    assert depth["metadata"]["query"] == helpers["queueDepth"] == QUEUE_DEPTH_QUERY
    assert wait["metadata"]["query"] == helpers["queueWait"] == QUEUE_WAIT_QUERY
    assert depth["metadata"]["threshold"] == "5" and wait["metadata"]["threshold"] == "30"
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert_drain_friendly(behavior)


def test_keda_fallback_replicas(chart):
    assert _scaled(chart.docs({"worker": {"replicaCount": 6}}))["fallback"]["replicas"] == 6
    assert _scaled(chart.docs({"hpa": {"keda": {"fallbackReplicas": 9}}}))["fallback"]["replicas"] == 9
    address = "http://prometheus.example:9090"
    docs = chart.docs({"hpa": {"keda": {"prometheusAddress": address, "authenticationRef": {"name": "prom-auth"}}}})
    for name in ("queue-depth", "queue-wait"):
        assert _trigger(docs, name)["metadata"]["serverAddress"] == address
        assert _trigger(docs, name)["authenticationRef"] == {"name": "prom-auth"}


def assert_drain_friendly(behavior: dict) -> None:
    up, down = behavior["scaleUp"], behavior["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0 and up["selectPolicy"] == "Max"
    assert {"type": "Pods", "value": 4, "periodSeconds": 15} in up["policies"]
    assert {"type": "Percent", "value": 100, "periodSeconds": 15} in up["policies"]
    assert down["stabilizationWindowSeconds"] == 300
    assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]


def test_prometheus_adapter_hpa_and_rules(probe):
    values = {"hpa": {"provider": "prometheus-adapter", "queueWaitTimeSecondsTarget": "2m", "queueDepthTarget": 3},
              "worker": {"minReplicas": 4, "maxReplicas": 12}}
    docs = probe.docs(values)
    helpers = probe_data(probe, values)
    hpa = one(docs, "HorizontalPodAutoscaler", "worker")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (4, 12)
    metrics = spec["metrics"]
    assert {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}} in metrics
    external = {m["external"]["metric"]["name"]: m["external"]["target"] for m in metrics if m["type"] == "External"}
    assert external == {
        "tavana_queue_depth_total": {"type": "AverageValue", "averageValue": "3"},
        "tavana_queue_oldest_wait_seconds_max": {"type": "Value", "value": "120"},
    }
    assert_drain_friendly(spec["behavior"])
    rules = yaml.safe_load(one(docs, "ConfigMap", "tavana-prometheus-adapter-rules")["data"]["externalRules.yaml"])["externalRules"]
    by_name = {r["name"]["as"]: r for r in rules}
    assert set(by_name) == set(external)
    assert by_name["tavana_queue_depth_total"]["metricsQuery"] == helpers["queueDepth"] == QUEUE_DEPTH_QUERY
    assert by_name["tavana_queue_oldest_wait_seconds_max"]["metricsQuery"] == helpers["queueWait"] == QUEUE_WAIT_QUERY
    for rule in rules:
        assert rule["resources"] == {"namespaced": False}
        assert helpers["selector"] in rule["seriesQuery"]
        assert re.fullmatch(rule["name"]["matches"], rule["seriesQuery"].split('"')[1])


def test_metric_queries_are_written_once():
    """Each PromQL expression lives in _helpers.tpl only; templates include it."""
    for path in (CHART / "templates").glob("*"):
        if path.name == "_helpers.tpl":
            continue
        text = path.read_text()
        assert "tavana_queue_depth{" not in text and "tavana_queue_oldest_wait_seconds{" not in text, path.name


# ---------------------------------------------------------------- pods


def test_security_contexts(chart):
    docs = chart.docs()
    for name in ("gateway", "worker"):
        pod = pod_spec(docs, name)
        assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                                          "seccompProfile": {"type": "RuntimeDefault"}}
        sc = container(docs, name)["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"]: m["name"] for m in container(docs, name)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]
        assert pod["automountServiceAccountToken"] is False


def test_probes_and_ports(chart):
    docs = chart.docs()
    for name in ("gateway", "worker"):
        c = container(docs, name)
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert {p["name"]: p["containerPort"] for p in c["ports"]}["http"] == 8080
    assert container(docs, "gateway")["command"] == ["tavana", "gateway"]
    assert container(docs, "worker")["command"] == ["tavana", "worker"]


def test_drain_hooks_and_grace_periods(chart):
    docs = chart.docs()
    gw, wk = env(docs, "gateway"), env(docs, "worker")
    for name, grace in (("gateway", int(gw["TAVANA_SHUTDOWN_GRACE_PERIOD"])), ("worker", int(wk["TAVANA_WORKER_DRAIN_GRACE_PERIOD"]))):
        assert grace == 25
        c = container(docs, name)
        command = c["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep"
        pause = int(command[1])
        assert 0 < pause <= 15
        assert pod_spec(docs, name)["terminationGracePeriodSeconds"] == 60 > pause + grace
        assert "controller.kubernetes.io/pod-deletion-cost" not in one(docs, "Deployment", name)["spec"]["template"]["metadata"].get("annotations", {})
    done = chart.run({"worker": {"drainGracePeriodSeconds": 120}})
    assert done.returncode != 0 and "terminationGracePeriodSeconds" in done.stderr
    ok = chart.docs({"worker": {"drainGracePeriodSeconds": 120, "terminationGracePeriodSeconds": 150}})
    assert env(ok, "worker")["TAVANA_WORKER_DRAIN_GRACE_PERIOD"] == "120"


def test_gateway_environment(chart):
    docs = chart.docs()
    gw = env(docs, "gateway")
    assert gw["TAVANA_HOST"] == "0.0.0.0"
    assert gw["TAVANA_PG_PORT"] == "5432" and gw["TAVANA_FLIGHT_PORT"] == "9091" and gw["TAVANA_HTTP_PORT"] == "8080"
    assert gw["TAVANA_WORKER_DNS"] == "worker.tavana.svc.cluster.local:9092"
    assert gw["TAVANA_GATEWAY_PEER_DNS"] == "gateway-peers.tavana.svc.cluster.local:5432"
    assert gw["TAVANA_GATEWAY_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert gw["MALLOC_ARENA_MAX"] == "2"
    assert "TAVANA_USERS" not in gw and gw["TAVANA_AUTH_METHOD"] == "trust" and "TAVANA_TLS_CERT" not in gw


def test_users_from_a_secret_and_tls(chart):
    docs = chart.docs({"auth": {"existingSecret": "tavana-users"}, "tls": {"existingSecret": "tavana-tls"}})
    gw = env(docs, "gateway")
    assert gw["TAVANA_USERS"] == {"secretKeyRef": {"name": "tavana-users", "key": "users"}}
    assert gw["TAVANA_SCRAM_SALT_KEY"] == {"secretKeyRef": {"name": "tavana-users", "key": "scramSaltKey", "optional": True}}
    assert gw["TAVANA_TLS_CERT"] == "/etc/tavana/tls/tls.crt" and gw["TAVANA_TLS_KEY"] == "/etc/tavana/tls/tls.key"
    mounts = {m["name"]: m for m in container(docs, "gateway")["volumeMounts"]}
    assert mounts["tls"]["mountPath"] == "/etc/tavana/tls" and mounts["tls"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod_spec(docs, "gateway")["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "tavana-tls"
    assert env(chart.docs({"auth": {"method": "trust"}}), "gateway")["TAVANA_AUTH_METHOD"] == "trust"


def test_worker_environment(chart):
    docs = chart.docs()
    wk = env(docs, "worker")
    assert wk["TAVANA_HOST"] == "0.0.0.0" and wk["TAVANA_WORKER_PORT"] == "9092" and wk["TAVANA_HTTP_PORT"] == "8080"
    assert wk["TAVANA_WORKER_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert wk["TAVANA_TEMP_DIRECTORY"] == "/tmp/tavana-spill"
    assert wk["TAVANA_MEMORY_RESERVE"] == "1024"
    assert wk["MALLOC_ARENA_MAX"] == "2"
    # DuckDB sized from the cgroup by default: no explicit limit or thread count.
    for name in ("TAVANA_MEMORY_LIMIT", "TAVANA_THREADS", "TAVANA_WORKER_SLOTS", "TAVANA_DUCKLAKE_METADATA",
                 "TAVANA_DUCKLAKE_DATA_PATH", "TAVANA_GCS_WORKLOAD_IDENTITY", "TAVANA_OBJECT_STORAGE_ENDPOINT",
                 "TAVANA_OBJECT_STORAGE_BUCKET"):
        assert name not in wk
    mounts = {m["mountPath"]: m["name"] for m in container(docs, "worker")["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(docs, "worker")["volumes"]}
    assert volumes[mounts["/tmp/tavana-spill"]]["emptyDir"] == {"sizeLimit": "20Gi"}
    sized = env(chart.docs({"worker": {"duckdb": {"memoryLimit": "8GB", "threads": 3, "memoryReserve": 2048}, "slots": 6,
                                       "spill": {"sizeLimit": "50Gi"}},
                            "catalog": {"ducklake": {"metadata": "postgres:host=pg port=5432 dbname=lake", "dataPath": "s3://b/lake/"}}}),
                "worker")
    assert (sized["TAVANA_MEMORY_LIMIT"], sized["TAVANA_THREADS"], sized["TAVANA_MEMORY_RESERVE"]) == ("8GB", "3", "2048")
    assert sized["TAVANA_WORKER_SLOTS"] == "6"
    assert sized["TAVANA_DUCKLAKE_METADATA"] == "postgres:host=pg port=5432 dbname=lake"
    assert sized["TAVANA_DUCKLAKE_DATA_PATH"] == "s3://b/lake/"


def test_extra_env(chart):
    docs = chart.docs({"worker": {"extraEnv": [{"name": "AZURE_STORAGE_ACCOUNT", "value": "acct"}]},
                       "gateway": {"extraEnv": [{"name": "TAVANA_MAX_QUEUE_WAIT", "value": "60"}]}})
    assert env(docs, "worker")["AZURE_STORAGE_ACCOUNT"] == "acct"
    assert env(docs, "gateway")["TAVANA_MAX_QUEUE_WAIT"] == "60"


def test_cloud_workload_identities(chart):
    docs = chart.docs()
    for name in ("gateway", "worker"):
        assert "azure.workload.identity/use" not in one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
    azure = chart.docs({"serviceAccount": {"annotations": {"azure.workload.identity/client-id": "00000000-0000-0000-0000-000000000000"}}})
    for name in ("gateway", "worker"):
        assert one(azure, "Deployment", name)["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    gke = chart.docs({"serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": "tavana@p.iam.gserviceaccount.com"}}})
    assert env(gke, "worker")["TAVANA_GCS_WORKLOAD_IDENTITY"] == "true"
    assert one(gke, "ServiceAccount", "tavana")["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": "tavana@p.iam.gserviceaccount.com"}


@pytest.mark.parametrize("cloud,check", [
    ("aws", lambda d: "eks.amazonaws.com/role-arn" in one(d, "ServiceAccount", "tavana")["metadata"].get("annotations", {})),
    ("azure", lambda d: one(d, "Deployment", "worker")["spec"]["template"]["metadata"]["labels"].get("azure.workload.identity/use") == "true"),
    ("gcp", lambda d: env(d, "worker").get("TAVANA_GCS_WORKLOAD_IDENTITY") == "true"),
])
def test_cloud_values_files(chart, cloud, check):
    assert check(chart.docs(files=(cloud_values(cloud),)))


# ---------------------------------------------------------------- services and policies


def test_services(chart):
    docs = chart.docs()
    gw = one(docs, "Service", "gateway")
    assert gw["spec"]["type"] == "ClusterIP"
    assert ports(gw) == {"postgres": 5432, "flight": 9091, "http": 8080}
    selector = {"app.kubernetes.io/name": "tavana", "app.kubernetes.io/instance": "tavana"}
    assert gw["spec"]["selector"] == {**selector, "app.kubernetes.io/component": "gateway"}
    peers = one(docs, "Service", "gateway-peers")
    assert peers["spec"]["clusterIP"] == "None" and ports(peers) == {"postgres": 5432}
    worker = one(docs, "Service", "worker")
    assert worker["spec"]["clusterIP"] == "None"
    assert worker["spec"]["publishNotReadyAddresses"] is False
    assert ports(worker) == {"grpc": 9092, "http": 8080}
    assert worker["spec"]["selector"] == {**selector, "app.kubernetes.io/component": "worker"}
    assert not find(docs, "Service", "gateway-lb")
    for name in ("gateway", "worker"):
        labels = one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert {**selector, "app.kubernetes.io/component": name}.items() <= labels.items()


def test_network_policies(chart):
    # With users set (without them trust confines clients to the namespace: tested below).
    docs = chart.docs({"auth": {"existingSecret": "tavana-users"}})
    gw, wk = one(docs, "NetworkPolicy", "gateway")["spec"], one(docs, "NetworkPolicy", "worker")["spec"]
    gw_sel = {"app.kubernetes.io/name": "tavana", "app.kubernetes.io/instance": "tavana", "app.kubernetes.io/component": "gateway"}
    prometheus = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}, "podSelector": {}}]

    def rule_ports(rule):
        return {(p["port"], p.get("protocol", "TCP")) for p in rule["ports"]}

    # Gateways: clients from anywhere on 5432/9091, Prometheus on 8080.
    client_rule = [r for r in gw["ingress"] if (5432, "TCP") in rule_ports(r) and "from" not in r]
    assert client_rule and rule_ports(client_rule[0]) == {(5432, "TCP"), (9091, "TCP")}
    assert [r for r in gw["ingress"] if rule_ports(r) == {(8080, "TCP")}][0]["from"] == prometheus
    gw_egress = {frozenset(rule_ports(r)): r.get("to") for r in gw["egress"]}
    assert gw_egress[frozenset({(9092, "TCP")})][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    assert gw_egress[frozenset({(5432, "TCP")})][0]["podSelector"]["matchLabels"] == gw_sel
    assert frozenset({(53, "UDP"), (53, "TCP")}) in gw_egress
    # Workers: only gateways on 9092, Prometheus on 8080.
    assert len(wk["ingress"]) == 2
    grpc = [r for r in wk["ingress"] if rule_ports(r) == {(9092, "TCP")}][0]
    assert grpc["from"] == [{"podSelector": {"matchLabels": gw_sel}}]
    assert [r for r in wk["ingress"] if rule_ports(r) == {(8080, "TCP")}][0]["from"] == prometheus
    wk_egress = {frozenset(rule_ports(r)): r.get("to") for r in wk["egress"]}
    assert frozenset({(53, "UDP"), (53, "TCP")}) in wk_egress
    assert wk_egress[frozenset({(443, "TCP"), (80, "TCP")})] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    assert frozenset({(5432, "TCP")}) in wk_egress
    for spec in (gw, wk):
        assert spec["policyTypes"] == ["Ingress", "Egress"]
    # Without Flight SQL its port is closed too.
    no_flight = one(chart.docs({"gateway": {"flightSql": {"enabled": False}}}), "NetworkPolicy", "gateway")["spec"]
    assert all((9091, "TCP") not in rule_ports(r) for r in no_flight["ingress"])


def test_pod_disruption_budgets(chart):
    docs = chart.docs()
    for name in ("gateway", "worker"):
        pdb = one(docs, "PodDisruptionBudget", name)["spec"]
        assert pdb["maxUnavailable"] == 1
        assert pdb["selector"]["matchLabels"]["app.kubernetes.io/component"] == name


def test_load_balancer(chart):
    docs = chart.docs({"auth": {"existingSecret": "tavana-users"},
                       "gateway": {"loadBalancer": {"enabled": True, "exposeFlight": True, "flightExternalPort": 443,
                                                    "annotations": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}}}})
    lb = one(docs, "Service", "gateway-lb")
    assert lb["spec"]["type"] == "LoadBalancer"
    assert {p["name"]: (p["port"], p["targetPort"]) for p in lb["spec"]["ports"]} == {"postgres": (5432, "postgres"), "flight": (443, "flight")}
    assert lb["metadata"]["annotations"] == {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}


# ---------------------------------------------------------------- monitoring and notes


def test_monitoring_off_by_default(chart):
    docs = chart.docs()
    assert not find(docs, "PodMonitor") and not find(docs, "ServiceMonitor")
    assert not find(docs, "ConfigMap", "tavana-grafana-dashboard")
    assert "prometheus.io/scrape" not in (one(docs, "Deployment", "worker")["spec"]["template"]["metadata"].get("annotations") or {})


@pytest.mark.parametrize("kind", ["podMonitor", "serviceMonitor", "annotations"])
def test_monitoring_kinds(chart, kind):
    docs = chart.docs({"monitoring": {"enabled": True, "kind": kind, "labels": {"release": "kps"}}})
    pm, sm = find(docs, "PodMonitor"), find(docs, "ServiceMonitor")
    if kind == "podMonitor":
        assert len(pm) == 1 and not sm
        assert pm[0]["spec"]["podMetricsEndpoints"][0] == {"port": "http", "path": "/metrics", "interval": "15s"}
        assert pm[0]["metadata"]["labels"]["release"] == "kps"
    elif kind == "serviceMonitor":
        assert len(sm) == 1 and not pm
        assert sm[0]["spec"]["endpoints"][0]["port"] == "http" and sm[0]["spec"]["endpoints"][0]["path"] == "/metrics"
    else:
        assert not pm and not sm
        for name in ("gateway", "worker"):
            ann = one(docs, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
            assert ann == {"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}


def test_grafana_dashboard_config_map(probe, chart):
    docs = probe.docs({"monitoring": {"enabled": True}})
    cm = one(docs, "ConfigMap", "tavana-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["tavana-overview.json"]) == {"title": "probe dashboard", "panels": []}
    assert not find(probe.docs({"monitoring": {"enabled": True, "grafanaDashboard": {"enabled": False}}}), "ConfigMap", "tavana-grafana-dashboard")
    real = CHART / "dashboards" / "tavana-overview.json"
    real_docs = chart.docs({"monitoring": {"enabled": True}})
    if real.exists():
        assert json.loads(one(real_docs, "ConfigMap", "tavana-grafana-dashboard")["data"]["tavana-overview.json"]) == json.loads(real.read_text())
    else:  # the chart renders without the file
        assert not find(real_docs, "ConfigMap", "tavana-grafana-dashboard")


def test_notes(probe):
    notes = probe_data(probe)["notes"]
    assert "kubectl port-forward svc/gateway -n tavana 5432:5432 9091:9091" in notes
    assert "psql " in notes and "adbc_driver_flightsql" in notes and "pyarrow.flight" in notes
    assert "jdbc:arrow-flight-sql://127.0.0.1:9091/?useEncryption=false" in notes
    assert "NO USERS: TRUST AUTHENTICATION" in notes and "kubectl create secret generic tavana-users" in notes
    assert QUEUE_DEPTH_QUERY in notes
    configured = probe_data(probe, {"auth": {"existingSecret": "users"}, "tls": {"existingSecret": "tls"}})["notes"]
    assert "NO USERS" not in configured
    assert "grpc+tls://127.0.0.1:9091" in configured and "sslmode=require" in configured
    assert "NO USERS" not in probe_data(probe, {"auth": {"existingSecret": "users", "method": "md5"}})["notes"]


# ---------------------------------------------------------------- values.schema.json


@pytest.mark.parametrize("flag", [
    "hpa.provider=foo",
    "hpa.queueWaitTimeSecondsTarget=abc",
    "monitoring.kind=grafana",
    "global.imagePullPolicy=Sometimes",
    "gateway.service.pgPort=70000",
    "gateway.replicas=3",  # not a value of the chart: a typo must not pass silently
    "hpa.cpuTargetUtilization=0",
])
def test_schema_rejects_bad_values(chart, flag):
    done = chart.run(None, "--set", flag)
    assert done.returncode != 0, f"--set {flag} was accepted"
    assert "values don't meet the specifications of the schema" in done.stderr or "schema" in done.stderr.lower(), done.stderr


def test_schema_rejects_a_string_replica_count(chart):
    done = chart.run({"worker": {"replicaCount": "two"}})
    assert done.returncode != 0


# ---------------------------------------------------------------- the chart's README


def leaf_values(node, prefix=""):
    """Dotted names of values.yaml's settings: maps are walked, lists and empty maps are leaves."""
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from leaf_values(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix


def readme_rows() -> dict[str, str]:
    rows = {}
    for line in (CHART / "README.md").read_text().splitlines():
        m = re.match(r"^\| `([A-Za-z0-9_.]+)` \|", line)
        if m:
            rows[m.group(1)] = line
    return rows


def test_readme_documents_every_value():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    rows = readme_rows()
    for key in leaf_values(values):
        parts = key.split(".")
        documented = [".".join(parts[:n]) for n in range(len(parts), 1, -1) if ".".join(parts[:n]) in rows]
        assert documented, f"{key} is not in README.md's tables"


def test_readme_shows_the_spec_defaults():
    def shown(v):
        if v is True or v is False:
            return str(v).lower()
        if v == "":
            return '""'
        if v == {} or v == []:
            return json.dumps(v)
        return str(v)

    rows = readme_rows()
    for key, default in SPEC_DEFAULTS.items():
        assert key in rows, f"{key} has no row in README.md"
        assert rows[key].rstrip().split("|")[-2].strip().startswith(f"`{shown(default)}`"), rows[key]


def test_without_users_the_gateways_trust_clients_of_their_own_namespace_only(chart):
    """The spec's clients connect with no password (`psql -h tavana-gateway -U user`,
    `grpc://tavana-gateway:9091`): without users the chart sets trust, and confines it to
    pods of the release's namespace and to no load balancer."""
    docs = chart.docs()
    assert env(docs, "gateway")["TAVANA_AUTH_METHOD"] == "trust"
    policy = one(docs, "NetworkPolicy", "gateway")
    client_rule = next(r for r in policy["spec"]["ingress"] if {"port": 5432, "protocol": "TCP"} in r["ports"]
                       and {"port": 9091, "protocol": "TCP"} in r["ports"])
    assert client_rule["from"] == [{"podSelector": {}}], client_rule
    # With users: Tavana's own default (SCRAM), and clients from anywhere the policy allows.
    with_users = chart.docs({"auth": {"existingSecret": "tavana-users"}})
    assert "TAVANA_AUTH_METHOD" not in env(with_users, "gateway")
    assert env(with_users, "gateway")["TAVANA_USERS"] == {"secretKeyRef": {"name": "tavana-users", "key": "users"}}
    open_rule = next(r for r in one(with_users, "NetworkPolicy", "gateway")["spec"]["ingress"]
                     if {"port": 9091, "protocol": "TCP"} in r["ports"])
    assert "from" not in open_rule
    refused = chart.run({"gateway": {"loadBalancer": {"enabled": True}}})
    assert refused.returncode != 0 and "auth.existingSecret" in refused.stderr, refused.stderr


def test_the_spec_host_name_tavana_gateway_is_a_service_too(chart):
    docs = chart.docs()
    named = one(docs, "Service", "tavana-gateway")
    assert named["spec"]["type"] == "ClusterIP"
    assert ports(named) == {"postgres": 5432, "flight": 9091}
    assert named["spec"]["selector"] == one(docs, "Service", "gateway")["spec"]["selector"]


def test_tls_between_gateways_and_workers(chart):
    assert not any(e.startswith("TAVANA_TLS") for e in env(chart.docs(), "worker")), "plaintext by default"
    docs = chart.docs({"tls": {"workerSecret": "tavana-internal-tls"}})
    worker, gateway = env(docs, "worker"), env(docs, "gateway")
    assert worker["TAVANA_TLS_CERT"] == "/etc/tavana/worker-tls/tls.crt"
    assert worker["TAVANA_TLS_KEY"] == "/etc/tavana/worker-tls/tls.key"
    assert gateway["TAVANA_WORKER_TLS_CA"] == "/etc/tavana/worker-tls/ca.crt"
    assert "TAVANA_TLS_CERT" not in gateway, "the front doors' TLS is tls.existingSecret's"
    for name in ("worker", "gateway"):
        mounts = {m["name"]: m for m in container(docs, name)["volumeMounts"]}
        assert mounts["worker-tls"]["mountPath"] == "/etc/tavana/worker-tls" and mounts["worker-tls"]["readOnly"]
        volumes = {v["name"]: v for v in pod_spec(docs, name)["volumes"]}
        assert volumes["worker-tls"]["secret"]["secretName"] == "tavana-internal-tls"
    # The gateways get the CA only, never the workers' key.
    gateway_volume = {v["name"]: v for v in pod_spec(docs, "gateway")["volumes"]}["worker-tls"]
    assert gateway_volume["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    assert "items" not in {v["name"]: v for v in pod_spec(docs, "worker")["volumes"]}["worker-tls"]["secret"]
    validate_all(docs, "1.28")
