"""Azure Blob and GCS with the credentials their platforms hand a pod, end to end through
real clients: Azure workload identity (the federated token exchanged at Azure AD), a
service principal, a managed identity (IMDS), an account key; GKE workload identity (a token
from the metadata server). Each is checked against read_parquet and delta_scan, and each
token Tavana obtains is refreshed before it expires.

No Azure emulator installs here, so tests/clients/cloud_standins.py stands in: a Blob REST
server that checks every SharedKey signature and bearer token, the token endpoints, and an
HTTPS proxy that ends TLS for *.blob.core.windows.net with a test CA. Tavana and DuckDB thus
use their production URLs (https://ACCOUNT.blob.core.windows.net, which delta_scan's own
Azure client insists on); the CA is trusted through CURL_CA_INFO and SSL_CERT_FILE, and the
proxy is set with HTTPS_PROXY, as an operator behind a proxy would."""
from __future__ import annotations

import base64
import io
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request

import adbc_driver_flightsql.dbapi
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cloud_standins
from tavana_server import HOST, running_server
from test_flight_sql import flight_port
from test_object_storage import free_port, moto_bucket

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(180)

ACCOUNT = "tavanadata"
ACCOUNT_KEY = base64.b64encode(b"tavana-test-account-key-32-bytes").decode()
TENANT = "7f3c1a52-1111-4d2e-9a3b-000000000001"
CLIENT_ID = "2b9d8e10-2222-4c5d-8e7f-000000000002"
CLIENT_SECRET = "sp-s3cr3t-that-must-never-show"
FEDERATED = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGF2YW5hOnRhdmFuYSJ9.ZmVkZXJhdGVk"
GCS_BUCKET = "gcs-data"
DELTA_ROWS = [(1, "ada"), (2, "grace"), (3, "edsger")]


class Clouds:
    """The stand-ins' process, its ports, and a way to read what it has seen."""

    def __init__(self, ports: dict[str, int], ca: str, moto: str):
        self.ports, self.ca, self.moto = ports, ca, moto

    def url(self, service: str, path: str) -> str:
        return f"http://{HOST}:{self.ports[service]}{path}"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url("blob", "/_standin/stats"), timeout=10) as r:
            return json.loads(r.read())

    def set_lifetime(self, seconds: int) -> None:
        urllib.request.urlopen(self.url("blob", f"/_standin/lifetime?seconds={seconds}"), timeout=10).read()

    def env(self, **extra: str) -> dict[str, str]:
        """What a pod behind an HTTPS proxy gets: the proxy, the CA that signs its TLS, and the
        storage account; plus the identity under test."""
        proxy = f"http://{HOST}:{self.ports['proxy']}"
        return {"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "NO_PROXY": "127.0.0.1,localhost",
                "CURL_CA_INFO": self.ca, "SSL_CERT_FILE": self.ca, "AZURE_STORAGE_ACCOUNT": ACCOUNT,
                # The client tests' own AWS and Azure variables stay out.
                "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", **extra}


def upload(clouds: Clouds, name: str, data: bytes) -> None:
    """PUT a blob over plain HTTP (emulator-style path), signed with a service principal's
    token as any client would be."""
    form = (f"grant_type=client_credentials&scope=https%3A%2F%2Fstorage.azure.com%2F.default"
            f"&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}").encode()
    with urllib.request.urlopen(urllib.request.Request(clouds.url("token", f"/{TENANT}/oauth2/v2.0/token"), data=form),
                                timeout=10) as r:
        token = json.loads(r.read())["access_token"]
    request = urllib.request.Request(clouds.url("blob", f"/{ACCOUNT}/data/{name}"), data=data, method="PUT",
                                     headers={"Authorization": f"Bearer {token}", "x-ms-blob-type": "BlockBlob"})
    urllib.request.urlopen(request, timeout=10).read()


@pytest.fixture(scope="module")
def clouds(tmp_path_factory):
    """The stand-ins, with container `data`: Parquet, hive-partitioned CSV, JSON lines and a
    Delta table written by deltalake; and moto holding the GCS bucket behind the GCS front."""
    from deltalake import write_deltalake
    directory = tmp_path_factory.mktemp("clouds")
    certs = cloud_standins.make_certificates(str(directory))
    with moto_bucket(GCS_BUCKET, "gcs-upstream-key", "gcs-upstream-secret") as (moto_endpoint, s3):
        config = {"accounts": {ACCOUNT: ACCOUNT_KEY}, "tenant": TENANT, "client_id": CLIENT_ID,
                  "federated_token": FEDERATED, "client_secret": CLIENT_SECRET, "token_lifetime": 3600,
                  "tls_cert": certs["cert"], "tls_key": certs["key"], "gcs_upstream": moto_endpoint,
                  "gcs_upstream_key": "gcs-upstream-key"}
        (directory / "standins.json").write_text(json.dumps(config))
        proc = subprocess.Popen([sys.executable, cloud_standins.__file__, "--config", str(directory / "standins.json")],
                                stdout=subprocess.PIPE, text=True)
        try:
            clouds = Clouds(json.loads(proc.stdout.readline()), certs["ca"], moto_endpoint)
            buf = io.BytesIO()
            pq.write_table(pa.table({"id": pa.array(range(100), pa.int64()), "name": [f"n{i}" for i in range(100)]}), buf)
            upload(clouds, "tables/items.parquet", buf.getvalue())
            s3.put_object(Bucket=GCS_BUCKET, Key="tables/items.parquet", Body=buf.getvalue())
            write_deltalake(f"s3://{GCS_BUCKET}/table", pa.table({"id": pa.array([r[0] for r in DELTA_ROWS], pa.int64()),
                                                                   "name": [r[1] for r in DELTA_ROWS]}),
                            storage_options={"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ALLOW_HTTP": "true",
                                             "AWS_S3_ALLOW_UNSAFE_RENAME": "true", "AWS_REGION": "us-east-1",
                                             "AWS_ACCESS_KEY_ID": "gcs-upstream-key",
                                             "AWS_SECRET_ACCESS_KEY": "gcs-upstream-secret"})
            for part in range(2):
                upload(clouds, f"csv/part={part}/data.csv", ("k,v\n" + "".join(f"{part},{i}\n" for i in range(5))).encode())
            upload(clouds, "json/scores.jsonl", "".join(json.dumps({"u": i, "score": i * 2}) + "\n" for i in range(10)).encode())
            delta = directory / "delta"
            write_deltalake(str(delta), pa.table({"id": pa.array([r[0] for r in DELTA_ROWS], pa.int64()),
                                                  "name": [r[1] for r in DELTA_ROWS]}))
            for root, _, files in os.walk(delta):
                for f in files:
                    full = os.path.join(root, f)
                    with open(full, "rb") as fh:
                        upload(clouds, "table/" + os.path.relpath(full, delta), fh.read())
            yield clouds
        finally:
            proc.kill()
            proc.wait(10)


def all_logs(server) -> str:
    return server.log() + "".join(open(w.log_path, errors="replace").read() for w in server.worker_procs)


def adbc_rows(server, sql: str) -> list[tuple]:
    uri = f"grpc://{server.host}:{flight_port(server)}"
    with adbc_driver_flightsql.dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]


def grew(before: dict[str, int], after: dict[str, int], key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


def reads_everything(server) -> None:
    """The formats over every Azure scheme, through psycopg and ADBC."""
    with server.connect() as c:
        assert c.execute("SELECT count(*), max(id) FROM read_parquet('az://data/tables/items.parquet')").fetchone() == (100, 99)
        assert c.execute("SELECT count(*) FROM 'azure://data/tables/items.parquet'").fetchone() == (100,)
        rows = c.execute("SELECT part, count(*) FROM read_csv('az://data/csv/*/*.csv', hive_partitioning=true) "
                         "GROUP BY part ORDER BY part").fetchall()
        assert rows == [(0, 5), (1, 5)]
        assert c.execute("SELECT sum(score) FROM read_json('az://data/json/scores.jsonl')").fetchone() == (90,)
        assert sorted(c.execute("SELECT * FROM delta_scan('az://data/table')").fetchall()) == DELTA_ROWS
        abfss = f"abfss://data@{ACCOUNT}.dfs.core.windows.net"
        assert sorted(c.execute(f"SELECT * FROM delta_scan('{abfss}/table')").fetchall()) == DELTA_ROWS
        assert c.execute(f"SELECT count(*) FROM read_csv('{abfss}/csv/*/*.csv')").fetchone() == (10,)
    assert sorted(adbc_rows(server, "SELECT * FROM delta_scan('az://data/table')")) == DELTA_ROWS


def azure_secret(server) -> str:
    with server.connect() as c:
        return c.execute("SELECT secret_string FROM duckdb_secrets() WHERE name = 'tavana_azure'").fetchone()[0]


def test_azure_workload_identity_reads_every_format_and_scheme(tavana_bin, clouds, tmp_path):
    """AKS workload identity as its webhook sets it up: tenant, client and a projected token
    file. Tavana exchanges the token at Azure AD for a storage token; the Blob server sees
    only that bearer token (no key exists in the pod)."""
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(FEDERATED + "\n")
    env = clouds.env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE=str(token_file),
                     AZURE_AUTHORITY_HOST=clouds.url("token", "/"))
    before = clouds.stats()
    with running_server(tavana_bin, name="azure-wi", env=env, default_extensions=True, shared_catalog=False) as s:
        reads_everything(s)
        after = clouds.stats()
        assert grew(before, after, "issued:workload_identity") >= 1
        assert grew(before, after, "blob:workload_identity") > 0
        assert grew(before, after, "blob:shared_key") == 0 and grew(before, after, "blob:refused") == 0
        secret = azure_secret(s)
        assert "provider=access_token" in secret and "access_token=redacted" in secret, secret
        logs = all_logs(s)
        assert "azure workload_identity" in logs and f"account: {ACCOUNT}" in logs
        assert FEDERATED not in logs and "eyJ" not in logs.replace(FEDERATED, ""), "no token reaches the logs"


def test_azure_tokens_are_refreshed_before_they_expire(tavana_bin, clouds, tmp_path):
    """Azure AD decides a token's lifetime: here 6 s, and the stand-in refuses a token once it
    has expired, so reads that go on working prove the refreshed tokens are in use."""
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(FEDERATED)
    env = clouds.env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE=str(token_file),
                     AZURE_AUTHORITY_HOST=clouds.url("token", "/"))
    clouds.set_lifetime(6)
    try:
        before = clouds.stats()
        with running_server(tavana_bin, name="azure-refresh", env=env, default_extensions=True, shared_catalog=False) as s:
            with s.connect() as c:
                for _ in range(5):
                    time.sleep(3)
                    assert sorted(c.execute("SELECT * FROM delta_scan('az://data/table')").fetchall()) == DELTA_ROWS
                    assert c.execute("SELECT count(*) FROM read_parquet('az://data/tables/items.parquet')").fetchone() == (100,)
            issued = grew(before, clouds.stats(), "issued:workload_identity")
            workers = max(1, len(s.worker_procs))
            # 15 s of 6-s tokens, each replaced at half its life: at least 4 per worker.
            assert issued >= 4 * workers, issued
            assert "object storage credentials refreshed" in all_logs(s)
    finally:
        clouds.set_lifetime(3600)


def test_azure_service_principal(tavana_bin, clouds):
    env = clouds.env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT_ID, AZURE_CLIENT_SECRET=CLIENT_SECRET,
                     AZURE_AUTHORITY_HOST=clouds.url("token", "/"))
    before = clouds.stats()
    with running_server(tavana_bin, name="azure-sp", env=env, default_extensions=True, shared_catalog=False) as s:
        with s.connect() as c:
            assert c.execute("SELECT count(*) FROM read_parquet('az://data/tables/items.parquet')").fetchone() == (100,)
            assert sorted(c.execute("SELECT * FROM delta_scan('az://data/table')").fetchall()) == DELTA_ROWS
        assert grew(before, clouds.stats(), "blob:service_principal") > 0
        assert CLIENT_SECRET not in all_logs(s)
        assert CLIENT_SECRET not in azure_secret(s)


def test_azure_managed_identity(tavana_bin, clouds):
    env = clouds.env(TAVANA_AZURE_MANAGED_IDENTITY="true", AZURE_POD_IDENTITY_AUTHORITY_HOST=clouds.url("token", ""))
    before = clouds.stats()
    with running_server(tavana_bin, name="azure-mi", env=env, default_extensions=True, shared_catalog=False) as s:
        with s.connect() as c:
            assert c.execute("SELECT count(*) FROM read_parquet('az://data/tables/items.parquet')").fetchone() == (100,)
            assert sorted(c.execute("SELECT * FROM delta_scan('az://data/table')").fetchall()) == DELTA_ROWS
        after = clouds.stats()
        assert grew(before, after, "issued:managed_identity") >= 1 and grew(before, after, "blob:managed_identity") > 0


def test_azure_account_key_signs_every_request(tavana_bin, clouds):
    """A static account key (what `existingSecret` may hold): every request is SharedKey-signed,
    and the stand-in checks each signature against the key."""
    env = clouds.env(AZURE_STORAGE_KEY=ACCOUNT_KEY)
    before = clouds.stats()
    with running_server(tavana_bin, name="azure-key", env=env, default_extensions=True, shared_catalog=False) as s:
        reads_everything(s)
        after = clouds.stats()
        assert grew(before, after, "blob:shared_key") > 0 and grew(before, after, "blob:refused") == 0
        logs = all_logs(s)
        assert ACCOUNT_KEY not in logs and ACCOUNT_KEY not in azure_secret(s)


def test_copy_to_azure_when_writes_are_allowed(tavana_bin, clouds, tmp_path):
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(FEDERATED)
    env = clouds.env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE=str(token_file),
                     AZURE_AUTHORITY_HOST=clouds.url("token", "/"), TAVANA_OBJECT_STORAGE_WRITES="true")
    with running_server(tavana_bin, name="azure-write", env=env, default_extensions=True, shared_catalog=False) as s:
        with s.connect() as c:
            c.execute("COPY (SELECT range AS n FROM range(7)) TO 'az://data/out/n.parquet'")
            assert c.execute("SELECT sum(n) FROM read_parquet('az://data/out/n.parquet')").fetchone() == (21,)


def test_a_federated_token_azure_ad_refuses_stops_the_server_with_its_reason(tavana_bin, clouds, tmp_path):
    token_file = tmp_path / "wrong-token"
    token_file.write_text("not-the-token-azure-ad-trusts")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "TAVANA_"))},
           **clouds.env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE=str(token_file),
                        AZURE_AUTHORITY_HOST=clouds.url("token", "/"))}
    r = subprocess.run([tavana_bin, "serve", "--host", HOST, "--pg-port", str(free_port()), "--flight-port", str(free_port()),
                        "--http-port", str(free_port())], capture_output=True, text=True, timeout=90, env=env)
    assert r.returncode not in (0, -6, -11, 134, 139), r.stderr
    assert "azure workload_identity" in r.stderr and "invalid_client" in r.stderr, r.stderr[-2000:]
    assert "not-the-token-azure-ad-trusts" not in r.stderr


def test_gcs_workload_identity_token_from_the_metadata_server(tavana_bin, clouds):
    """GKE workload identity: the metadata server hands out a token; the GCS front accepts
    only tokens it issued (and forwards to moto, which holds the bucket)."""
    env = clouds.env(TAVANA_GCS_WORKLOAD_IDENTITY="true", GCE_METADATA_HOST=f"{HOST}:{clouds.ports['metadata']}",
                     TAVANA_GCS_ENDPOINT=clouds.url("gcs", ""))
    before = clouds.stats()
    with running_server(tavana_bin, name="gcs-wi", env=env, default_extensions=True, shared_catalog=False) as s:
        with s.connect() as c:
            assert c.execute(f"SELECT count(*) FROM read_parquet('gs://{GCS_BUCKET}/tables/items.parquet')").fetchone() == (100,)
            assert c.execute(f"SELECT count(*) FROM read_parquet('gcs://{GCS_BUCKET}/tables/*.parquet')").fetchone() == (100,)
            # DuckDB 1.5.5's delta extension does not hand a GCS bearer token to its own
            # client: it reads gs:// unsigned, the server refuses, and the query fails (the
            # server goes on). docs/object-storage.md says so; HMAC keys serve Delta on GCS.
            with pytest.raises(psycopg.Error, match="authentication credentials"):
                c.execute(f"SELECT * FROM delta_scan('gs://{GCS_BUCKET}/table')")
            secret = c.execute("SELECT secret_string FROM duckdb_secrets() WHERE name = 'tavana_gcs'").fetchone()[0]
            assert "bearer_token=redacted" in secret, secret
        assert adbc_rows(s, f"SELECT count(*) FROM read_parquet('gs://{GCS_BUCKET}/tables/items.parquet')") == [(100,)]
        after = clouds.stats()
        assert grew(before, after, "issued:gke_metadata") >= 1 and grew(before, after, "gcs:gke_metadata") > 0
        assert grew(before, after, "gcs:refused:Bearer") == 0, json.dumps(after)  # no token was ever refused
        assert "gcs=workload_identity" in all_logs(s)


def test_aws_instance_profile_through_the_aws_extensions_chain(tavana_bin, clouds, tmp_path):
    """No keys, no web identity, no profile file: the tavana_s3 secret's credential_chain goes
    on to the instance profile, whose keys come from EC2's metadata service (IMDSv2, the
    stand-in at AWS_EC2_METADATA_SERVICE_ENDPOINT). The bucket is moto's."""
    env = {"TAVANA_OBJECT_STORAGE_ENDPOINT": clouds.moto, "TAVANA_OBJECT_STORAGE_BUCKET": GCS_BUCKET,
           "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_REGION": "us-east-1",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_EC2_METADATA_SERVICE_ENDPOINT": clouds.url("metadata", "/"), "AWS_EC2_METADATA_DISABLED": "false"}
    before = clouds.stats()
    with running_server(tavana_bin, name="aws-instance", env=env, default_extensions=True, shared_catalog=False) as s:
        with s.connect() as c:
            secret = c.execute("SELECT secret_string FROM duckdb_secrets() WHERE name = 'tavana_s3'").fetchone()[0]
            assert "provider=credential_chain" in secret and "key_id=ASIAINSTANCEPROFILE1" in secret, secret
            assert "instance-profile-s3cr3t" not in secret
            assert c.execute(f"SELECT count(*) FROM read_parquet('s3://{GCS_BUCKET}/tables/items.parquet')").fetchone() == (100,)
            assert sorted(c.execute(f"SELECT * FROM delta_scan('s3://{GCS_BUCKET}/table')").fetchall()) == DELTA_ROWS
        assert grew(before, clouds.stats(), "issued:instance_profile") >= 1
        assert "instance-profile-s3cr3t" not in all_logs(s)
