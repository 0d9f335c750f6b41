"""Small loopback stand-ins for the cloud services Tavana's object storage talks to, where no
real server can run here (no Azure emulator installs without npm; there is no GKE here):

- an Azure Blob REST server: the calls DuckDB's azure extension makes (blob properties, ranged
  reads, listing, block uploads), checking every request's SharedKey signature or bearer token;
- an Azure AD token endpoint (client credentials: a federated token from a file, as workload
  identity does, or a client secret, as a service principal does) and the IMDS managed-identity
  endpoint, both handing out bearer tokens the Blob server then accepts until they expire;
- the GKE metadata server's token endpoint, EC2's instance metadata service (an instance
  profile's keys), and a GCS front that accepts only the bearer tokens
  it handed out and forwards the request to an S3 API (moto) holding the data.

Run as a process: `python cloud_standins.py --config FILE` prints one JSON line with the ports
and serves until killed. `/_standin/stats` on any port answers what each service has seen, so a
test can tell that Tavana really used (and refreshed) the credentials it should have."""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import http.client
import json
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree
from xml.sax.saxutils import escape


# Host names the proxy ends TLS for (the test CA's certificate covers them).
TLS_SUFFIXES = (".blob.core.windows.net", ".dfs.core.windows.net")


def make_certificates(directory: str) -> dict[str, str]:
    """A throw-away CA and a server certificate for the Azure storage host names, written to
    `directory`: {"ca": path, "cert": path, "key": path}. Clients trust the CA through
    CURL_CA_INFO (azure extension) and SSL_CERT_FILE (delta)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import os

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tavana test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("*" + suffix) for suffix in TLS_SUFFIXES]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*.blob.core.windows.net")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: os.path.join(directory, f"{name}.pem") for name in ("ca", "cert", "key")}
    with open(paths["ca"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key"], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


class State:
    """Everything the stand-ins share: blobs, the tokens issued and what was seen."""

    def __init__(self, config: dict):
        self.lock = threading.Lock()
        self.accounts: dict[str, str] = config.get("accounts", {})  # account -> base64 key
        self.tenant = config.get("tenant", "")
        self.client_id = config.get("client_id", "")
        self.federated_token = config.get("federated_token", "")
        self.client_secret = config.get("client_secret", "")
        self.lifetime = int(config.get("token_lifetime", 3600))
        self.gcs_upstream = config.get("gcs_upstream", "")
        self.gcs_upstream_key = config.get("gcs_upstream_key", "upstream")
        self.instance_key_id = config.get("instance_key_id", "ASIAINSTANCEPROFILE1")
        self.tls: ssl.SSLContext | None = None
        if config.get("tls_cert"):
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(config["tls_cert"], config["tls_key"])
        self.blobs: dict[tuple[str, str, str], tuple[bytes, str, str]] = {}
        self.blocks: dict[tuple[str, str, str], dict[str, bytes]] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (kind, expiry)
        self.stats: dict[str, int] = {}

    def count(self, name: str) -> None:
        with self.lock:
            self.stats[name] = self.stats.get(name, 0) + 1

    def issue(self, kind: str) -> tuple[str, int]:
        """A bearer token shaped like the JWTs real token services issue (clients read its
        `exp`); its signature is random, as nothing but this process checks it."""
        claims = {"kind": kind, "exp": int(time.time()) + self.lifetime, "jti": secrets.token_hex(8)}
        part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()  # noqa: E731
        token = f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(32)}"
        with self.lock:
            self.tokens[token] = (kind, time.time() + self.lifetime)
        self.count(f"issued:{kind}")
        return token, self.lifetime

    def token_kind(self, token: str) -> str | None:
        with self.lock:
            entry = self.tokens.get(token)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State
    service: str
    # The cloud host name a request came for through the proxy's TLS tunnel; "" on plain HTTP.
    tls_host = ""

    def log_message(self, *args) -> None:  # quiet: tests read /_standin/stats instead
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/xml") -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-ms-request-id", secrets.token_hex(8))
        self.send_header("x-ms-version", "2023-11-03")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def json_reply(self, status: int, value: dict) -> None:
        self.reply(status, json.dumps(value).encode(), content_type="application/json")

    def storage_error(self, status: int, code: str, message: str) -> None:
        if self.command == "HEAD":
            # As the real service: a HEAD's error is in its status and x-ms-error-code only.
            self.send_response(status)
            self.send_header("x-ms-error-code", code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>'
        self.reply(status, body.encode(), {"x-ms-error-code": code})

    def dispatch(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_standin/stats":
            with self.state.lock:
                self.json_reply(200, dict(self.state.stats))
            return
        if path == "/_standin/lifetime":
            # Tests shorten the tokens' lifetime to watch Tavana refresh them.
            seconds = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["seconds"][0]
            with self.state.lock:
                self.state.lifetime = int(seconds)
            self.json_reply(200, {"token_lifetime": self.state.lifetime})
            return
        if self.service == "proxy":
            return self.storage_error(405, "ProxyOnly", "this port only tunnels (CONNECT)")
        getattr(self, f"serve_{self.service}")()

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = dispatch

    def do_CONNECT(self) -> None:
        """An HTTPS proxy for the cloud's own host names: the tunnel ends here, in TLS with a
        certificate from the test's own CA, and the Blob service answers inside it. Clients
        thus use their production URLs (https://ACCOUNT.blob.core.windows.net), which is the
        only way to reach delta_scan's Azure client, and bearer tokens, which need TLS."""
        host = self.path.rsplit(":", 1)[0]
        if self.service != "proxy" or not host.endswith(TLS_SUFFIXES) or self.state.tls is None:
            self.state.count("proxy:refused")
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.state.count("proxy:tunnel")
        self.send_response(200, "Connection established")
        self.end_headers()
        try:
            tunnel = self.state.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.state.count("proxy:handshake-failed")
            self.close_connection = True
            return
        inner = type("TunnelHandler", (Handler,), {"state": self.state, "service": "blob", "tls_host": host})
        inner(tunnel, self.client_address, self.server)
        self.close_connection = True

    # -- Azure AD token endpoint and IMDS ---------------------------------------------------
    def serve_token(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/metadata/identity/oauth2/token":
            return self.managed_identity(urllib.parse.parse_qs(url.query))
        if self.command != "POST" or url.path != f"/{self.state.tenant}/oauth2/v2.0/token":
            self.state.count("token:unknown-path")
            return self.json_reply(400, {"error": "invalid_request", "error_description": f"AADSTS90002: no tenant at {url.path}"})
        form = urllib.parse.parse_qs(self.body().decode())
        one = lambda name: (form.get(name) or [""])[0]  # noqa: E731
        if one("grant_type") != "client_credentials" or one("scope") != "https://storage.azure.com/.default":
            self.state.count("token:bad-request")
            return self.json_reply(400, {"error": "invalid_scope", "error_description": "AADSTS70011: bad grant or scope"})
        if one("client_id") != self.state.client_id:
            self.state.count("token:bad-client")
            return self.json_reply(400, {"error": "unauthorized_client", "error_description": "AADSTS700016: unknown client"})
        if one("client_assertion"):
            ok = (one("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                  and self.state.federated_token and one("client_assertion") == self.state.federated_token)
            kind = "workload_identity"
        else:
            ok = bool(self.state.client_secret) and one("client_secret") == self.state.client_secret
            kind = "service_principal"
        if not ok:
            self.state.count(f"token:refused:{kind}")
            return self.json_reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215: bad credentials"})
        token, lifetime = self.state.issue(kind)
        self.json_reply(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                              "access_token": token})

    def managed_identity(self, query: dict) -> None:
        if self.headers.get("Metadata") != "true" or (query.get("resource") or [""])[0] != "https://storage.azure.com/":
            self.state.count("token:imds-refused")
            return self.json_reply(400, {"error": "invalid_request", "error_description": "Metadata header or resource missing"})
        token, lifetime = self.state.issue("managed_identity")
        # IMDS writes its numbers as strings.
        self.json_reply(200, {"access_token": token, "expires_in": str(lifetime),
                              "expires_on": str(int(time.time()) + lifetime), "resource": "https://storage.azure.com/",
                              "token_type": "Bearer"})

    # -- GKE metadata server and the GCS front ----------------------------------------------
    def serve_metadata(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/latest/"):
            return self.ec2_metadata(path)
        if path != "/computeMetadata/v1/instance/service-accounts/default/token":
            return self.json_reply(404, {"error": "not found"})
        if self.headers.get("Metadata-Flavor") != "Google":
            self.state.count("metadata:refused")
            return self.json_reply(403, {"error": "Missing Metadata-Flavor:Google header"})
        token, lifetime = self.state.issue("gke_metadata")
        self.json_reply(200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})

    def ec2_metadata(self, path: str) -> None:
        """EC2's instance metadata service (IMDSv2), as an instance profile's keys come from
        it: a session token first, then the role's name, then its temporary keys."""
        if path == "/latest/api/token" and self.command == "PUT":
            token = secrets.token_urlsafe(24)
            with self.state.lock:
                self.state.tokens[token] = ("imds-session", time.time() + 21600)
            return self.reply(200, token.encode(), content_type="text/plain")
        session = self.headers.get("X-aws-ec2-metadata-token", "")
        if self.state.token_kind(session) != "imds-session":
            self.state.count("imds:refused")
            return self.reply(401, b"", content_type="text/plain")
        role = "tavana-node-role"
        if path.rstrip("/") == "/latest/meta-data/iam/security-credentials":
            return self.reply(200, role.encode(), content_type="text/plain")
        if path == f"/latest/meta-data/iam/security-credentials/{role}":
            self.state.count("issued:instance_profile")
            expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.state.lifetime)
            return self.json_reply(200, {
                "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": self.state.instance_key_id,
                "SecretAccessKey": "instance-profile-s3cr3t", "Token": "instance-profile-session-token",
                "LastUpdated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})
        self.reply(404, b"", content_type="text/plain")

    def serve_gcs(self) -> None:
        auth = self.headers.get("Authorization", "")
        kind = self.state.token_kind(auth[7:]) if auth.startswith("Bearer ") else None
        if kind is None:
            self.state.count("gcs:refused")
            self.state.count(f"gcs:refused:{auth.split(' ')[0] or 'anonymous'}")
            return self.storage_error(401, "AuthenticationRequired", "a valid bearer token is required")
        self.state.count(f"gcs:{kind}")
        upstream = urllib.parse.urlsplit(self.state.gcs_upstream)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "host", "connection")}
        # moto does not check signatures, but refuses anonymous requests to a private bucket:
        # the bearer token is swapped for an S3-shaped header naming the upstream's key.
        day = time.strftime("%Y%m%d", time.gmtime())
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.state.gcs_upstream_key}/{day}/us-east-1/s3/aws4_request, "
                                    "SignedHeaders=host, Signature=0")
        conn.request(self.command, self.path, body=self.body() or None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        passed = {k: v for k, v in response.getheaders()
                  if k.lower() not in ("content-length", "connection", "transfer-encoding", "content-type", "server", "date")}
        self.reply(response.status, data, passed, response.getheader("Content-Type") or "application/xml")
        conn.close()

    # -- Azure Blob -------------------------------------------------------------------------
    def serve_blob(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = {k.lower(): v for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        if self.tls_host:
            # Reached as https://ACCOUNT.blob.core.windows.net/container/blob through the proxy.
            parts = [self.tls_host.split(".")[0]] + url.path.lstrip("/").split("/", 1)
        else:
            # Emulator style: http://127.0.0.1:PORT/ACCOUNT/container/blob.
            parts = url.path.lstrip("/").split("/", 2)
        if len(parts) < 2 or parts[0] not in self.state.accounts:
            return self.storage_error(400, "InvalidUri", "expected /account/container[/blob]")
        account = parts[0]
        container = urllib.parse.unquote(parts[1])
        blob = urllib.parse.unquote(parts[2]) if len(parts) > 2 else ""
        self.state.count("blob:https" if self.tls_host else "blob:http")
        body = self.body()
        who = self.authenticate(account, url, query)
        if who is None:
            self.state.count("blob:refused")
            return self.storage_error(403, "AuthenticationFailed", "signature or token not accepted")
        self.state.count(f"blob:{who}")
        if not blob:
            if query.get("resource") == ["filesystem"] and ".dfs." in self.tls_host:
                return self.list_paths(account, container, query)
            if query.get("comp") == ["list"]:
                return self.list_blobs(account, container, query)
            if self.command in ("GET", "HEAD") and query.get("restype") == ["container"]:
                return self.reply(200, headers=self.common_headers("container"))
            if self.command == "PUT" and query.get("restype") == ["container"]:
                return self.reply(201, headers=self.common_headers("container"))
            return self.storage_error(400, "UnsupportedOperation", f"{self.command} on a container")
        key = (account, container, blob)
        if self.command == "PUT":
            return self.put(key, query, body)
        if self.command == "DELETE":
            with self.state.lock:
                found = self.state.blobs.pop(key, None)
            return self.reply(202) if found else self.storage_error(404, "BlobNotFound", blob)
        with self.state.lock:
            found = self.state.blobs.get(key)
        if found is None:
            return self.storage_error(404, "BlobNotFound", "The specified blob does not exist.")
        data, etag, modified = found
        headers = self.common_headers(etag, modified) | {
            "x-ms-blob-type": "BlockBlob", "x-ms-creation-time": modified, "x-ms-lease-status": "unlocked",
            "x-ms-lease-state": "available", "x-ms-server-encrypted": "true", "Accept-Ranges": "bytes",
            "x-ms-access-tier": "Hot", "x-ms-access-tier-inferred": "true",
        }
        if self.command == "HEAD":
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return
        ranged = self.headers.get("x-ms-range") or self.headers.get("Range")
        if ranged and ranged.startswith("bytes="):
            start_text, _, end_text = ranged[6:].partition("-")
            start = int(start_text)
            end = min(int(end_text) if end_text else len(data) - 1, len(data) - 1)
            if start >= len(data):
                return self.storage_error(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self.reply(206, data[start:end + 1], headers, "application/octet-stream")
        self.reply(200, data, headers, "application/octet-stream")

    def common_headers(self, etag: str, modified: str | None = None) -> dict[str, str]:
        return {"ETag": f'"{etag}"', "Last-Modified": modified or email.utils.formatdate(usegmt=True),
                "Date": email.utils.formatdate(usegmt=True), "x-ms-request-server-encrypted": "true",
                "x-ms-version-id": modified or email.utils.formatdate(usegmt=True)}

    def put(self, key: tuple[str, str, str], query: dict, body: bytes) -> None:
        comp = (query.get("comp") or [""])[0]
        if comp == "block":
            with self.state.lock:
                self.state.blocks.setdefault(key, {})[query["blockid"][0]] = body
            return self.reply(201, headers=self.common_headers("block"))
        if comp == "blocklist":
            # <BlockList><Latest>id</Latest>...</BlockList>: the blob is the blocks in list order.
            ids = [element.text or "" for element in ElementTree.fromstring(body)]
            with self.state.lock:
                staged = self.state.blocks.pop(key, {})
                data = b"".join(staged[block_id] for block_id in ids)
            self.store(key, data)
            return self.reply(201, headers=self.common_headers(self.state.blobs[key][1]))
        if comp:
            return self.storage_error(400, "UnsupportedOperation", f"comp={comp}")
        self.store(key, body)
        self.reply(201, headers=self.common_headers(self.state.blobs[key][1]))

    def store(self, key: tuple[str, str, str], data: bytes) -> None:
        with self.state.lock:
            self.state.blobs[key] = (data, hashlib.md5(data).hexdigest(), email.utils.formatdate(usegmt=True))

    def list_blobs(self, account: str, container: str, query: dict) -> None:
        prefix = (query.get("prefix") or [""])[0]
        delimiter = (query.get("delimiter") or [""])[0]
        marker = (query.get("marker") or [""])[0]
        limit = int((query.get("maxresults") or ["5000"])[0])
        with self.state.lock:
            names = sorted(name for (a, c, name) in self.state.blobs if a == account and c == container
                           and name.startswith(prefix) and name > marker)
            entries = {name: self.state.blobs[(account, container, name)] for name in names}
        items, prefixes, next_marker = [], [], ""
        for name in names:
            rest = name[len(prefix):]
            if delimiter and delimiter in rest:
                common = prefix + rest.split(delimiter)[0] + delimiter
                if common not in prefixes:
                    prefixes.append(common)
                continue
            if len(items) >= limit:
                next_marker = items[-1]
                break
            items.append(name)
        xml = ['<?xml version="1.0" encoding="utf-8"?>',
               f'<EnumerationResults ServiceEndpoint="http://{self.headers.get("Host")}/{account}/" ContainerName="{escape(container)}">',
               f"<Prefix>{escape(prefix)}</Prefix><Blobs>"]
        for name in items:
            data, etag, modified = entries[name]
            xml.append(f"<Blob><Name>{escape(name)}</Name><Properties><Creation-Time>{modified}</Creation-Time>"
                       f"<Last-Modified>{modified}</Last-Modified><Etag>\"{etag}\"</Etag>"
                       f"<Content-Length>{len(data)}</Content-Length><Content-Type>application/octet-stream</Content-Type>"
                       "<BlobType>BlockBlob</BlobType><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
                       "<ServerEncrypted>true</ServerEncrypted></Properties></Blob>")
        for common in prefixes:
            xml.append(f"<BlobPrefix><Name>{escape(common)}</Name></BlobPrefix>")
        xml.append(f"</Blobs><NextMarker>{escape(next_marker)}</NextMarker></EnumerationResults>")
        self.reply(200, "".join(xml).encode())

    def list_paths(self, account: str, container: str, query: dict) -> None:
        """Data Lake's List Paths (what abfss:// globs use): JSON, directories included."""
        directory = (query.get("directory") or [""])[0].strip("/")
        recursive = (query.get("recursive") or ["false"])[0] == "true"
        prefix = directory + "/" if directory else ""
        with self.state.lock:
            names = sorted(name for (a, c, name) in self.state.blobs if a == account and c == container
                           and name.startswith(prefix))
            entries = {name: self.state.blobs[(account, container, name)] for name in names}
        paths, directories = [], set()
        for name in names:
            rest = name[len(prefix):]
            if not recursive and "/" in rest:
                directories.add(prefix + rest.split("/")[0])
                continue
            if recursive:
                parts = rest.split("/")[:-1]
                for depth in range(1, len(parts) + 1):
                    directories.add(prefix + "/".join(parts[:depth]))
            data, etag, modified = entries[name]
            paths.append(self.path_entry(name, len(data), etag, modified, False))
        for name in sorted(directories):
            paths.append(self.path_entry(name, 0, "dir", email.utils.formatdate(usegmt=True), True))
        self.reply(200, json.dumps({"paths": paths}).encode(), content_type="application/json")

    @staticmethod
    def path_entry(name: str, length: int, etag: str, modified: str, directory: bool) -> dict[str, str]:
        # Every field a string, as the service writes them.
        return {"name": name, "contentLength": str(length), "etag": etag, "lastModified": modified,
                "isDirectory": "true" if directory else "false", "owner": "$superuser", "group": "$superuser",
                "permissions": "rwxr-x---", "creationTime": "133000000000000000", "expiryTime": "0"}

    # -- Blob authentication ----------------------------------------------------------------
    def authenticate(self, account: str, url: urllib.parse.SplitResult, query: dict) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return self.state.token_kind(auth[7:])
        if auth.startswith(f"SharedKey {account}:"):
            given = auth.split(":", 1)[1]
            # With the account in the URL's path (emulator style, as a BlobEndpoint of
            # http://host:port/account gives), clients sign the path as it is, account and all.
            paths = [url.path] if self.tls_host else [url.path, url.path[len(account) + 1:]]
            for resource_path in paths:
                if hmac.compare_digest(given, self.shared_key_signature(account, resource_path, query)):
                    return "shared_key"
        return None

    def shared_key_signature(self, account: str, path: str, query: dict) -> str:
        """The SharedKey signature (Blob service, version 2015-02-21 and later)."""
        h = lambda name: self.headers.get(name, "")  # noqa: E731
        length = h("Content-Length")
        lines = [self.command, h("Content-Encoding"), h("Content-Language"), "" if length == "0" else length,
                 h("Content-MD5"), h("Content-Type"), h("Date"), h("If-Modified-Since"), h("If-Match"),
                 h("If-None-Match"), h("If-Unmodified-Since"), h("Range")]
        ms = sorted((k.lower(), " ".join(v.split())) for k, v in self.headers.items() if k.lower().startswith("x-ms-"))
        canonical_headers = "".join(f"{k}:{v}\n" for k, v in ms)
        resource = f"/{account}{path}"
        for name in sorted(query):
            resource += f"\n{name}:{','.join(sorted(query[name]))}"
        to_sign = "\n".join(lines) + "\n" + canonical_headers + resource
        key = base64.b64decode(self.state.accounts[account])
        return base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest()).decode()


def serve(service: str, state: State, port: int = 0) -> ThreadingHTTPServer:
    handler = type(f"{service}Handler", (Handler,), {"state": state, "service": service})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON: accounts, tenant, client_id, federated_token, ...")
    args = parser.parse_args()
    with open(args.config) as f:
        state = State(json.load(f))
    servers = {name: serve(name, state) for name in ("blob", "token", "metadata", "gcs", "proxy")}
    print(json.dumps({name: s.server_address[1] for name, s in servers.items()}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
