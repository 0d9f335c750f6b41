"""Password authentication (cleartext, md5, SCRAM-SHA-256) and TLS, with dedicated servers.
A wrong password is FATAL 28P01 "password authentication failed for user ..." as in
PostgreSQL; psycopg (libpq) does not expose the SQLSTATE of a failed connection, so the
code is checked with pg8000 and on a raw socket, the message with psycopg and psql."""
import base64
import hashlib
import hmac
import os
import ssl
import struct
import subprocess

import pg8000.native
import psycopg
import pytest

from tavana_server import cstr, error_fields, md5_secret, read_message, read_until, running_server, startup_packet

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(60)

PASSWORD = "s3cret pass"  # a space, to catch quoting mistakes
AUTH_CODES = {"password": 3, "md5": 5, "scram-sha-256": 10}


def scram_verifier(password: str, salt: bytes = b"tavana-test-salt", iterations: int = 4096) -> str:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


# alice and jo: secret given in plain text; bob: stored as a hash (md5 or SCRAM verifier).
USERS = {
    "password": {"alice": PASSWORD, "bob": PASSWORD, "jo": PASSWORD},
    "md5": {"alice": PASSWORD, "bob": md5_secret("bob", PASSWORD), "jo": PASSWORD},
    "scram-sha-256": {"alice": PASSWORD, "bob": scram_verifier(PASSWORD), "jo": PASSWORD},
}
USER_NAMES = ["alice", "bob", "jo"]


@pytest.fixture(scope="module", params=list(USERS))
def auth_server(request, tavana_bin):
    method = request.param
    with running_server(tavana_bin, "--auth-method", method, config={"users": USERS[method]},
                        name=f"auth-{method}") as server:
        server.method = method
        yield server


def psql(server, user, password, sql="SELECT 1", **conn):
    info = server.conninfo(user=user, **conn)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"})
    return subprocess.run(["/usr/bin/psql", "-X", "-At", "-d", info, "-c", sql], capture_output=True, text=True,
                          timeout=30, env=env)


@pytest.mark.parametrize("user", USER_NAMES)
def test_right_password_psycopg(auth_server, user):
    with psycopg.connect(auth_server.conninfo(user=user, password=PASSWORD)) as c:
        assert c.execute("SELECT 'in'").fetchone() == ("in",)


@pytest.mark.parametrize("user", USER_NAMES)
def test_wrong_password_psycopg(auth_server, user):
    with pytest.raises(psycopg.OperationalError) as e:
        psycopg.connect(auth_server.conninfo(user=user, password="wrong"))
    assert f'password authentication failed for user "{user}"' in str(e.value)


@pytest.mark.parametrize("user", USER_NAMES)
def test_right_and_wrong_password_pg8000(auth_server, user):
    c = pg8000.native.Connection(user=user, password=PASSWORD, host=auth_server.host, port=auth_server.port,
                                 database="tavana", timeout=10)
    assert c.run("SELECT 2") == [[2]]
    c.close()
    with pytest.raises(pg8000.native.DatabaseError) as e:
        pg8000.native.Connection(user=user, password=PASSWORD + "x", host=auth_server.host, port=auth_server.port,
                                 database="tavana", timeout=10)
    fields = e.value.args[0]
    assert (fields["S"], fields["C"]) == ("FATAL", "28P01"), fields
    assert fields["M"] == f'password authentication failed for user "{user}"'


def test_unknown_user_is_28P01(auth_server):
    with pytest.raises(pg8000.native.DatabaseError) as e:
        pg8000.native.Connection(user="mallory", password=PASSWORD, host=auth_server.host, port=auth_server.port,
                                 database="tavana", timeout=10)
    assert e.value.args[0]["C"] == "28P01", e.value.args


def test_psql_with_pgpassword(auth_server):
    r = psql(auth_server, "alice", PASSWORD)
    assert (r.returncode, r.stdout, r.stderr) == (0, "1\n", "")
    r = psql(auth_server, "alice", "nope")
    assert r.returncode == 2
    assert 'password authentication failed for user "alice"' in r.stderr


def test_authentication_request_kind(auth_server):
    """The server asks for the configured method: AuthenticationCleartextPassword (3),
    MD5Password (5) or SASL (10) offering SCRAM-SHA-256."""
    with auth_server.socket() as s:
        s.sendall(startup_packet("alice"))
        kind, body = read_message(s)
        assert kind == b"R", (kind, body)
        code = struct.unpack("!i", body[:4])[0]
        assert code == AUTH_CODES[auth_server.method]
        if code == 10:
            mechanisms = [m for m in body[4:].split(b"\0") if m]
            assert b"SCRAM-SHA-256" in mechanisms
        if code == 5:
            assert len(body) == 8  # 4-byte salt


def test_empty_password_is_refused(auth_server):
    """An empty password never authenticates (PostgreSQL refuses it before checking)."""
    with auth_server.socket() as s:
        s.sendall(startup_packet("alice"))
        kind, body = read_message(s)
        code = struct.unpack("!i", body[:4])[0]
        if code != 3:
            return  # only the cleartext exchange can carry an empty password
        s.sendall(b"p" + struct.pack("!i", 5) + b"\0")
        kind, body = read_message(s)
        assert kind == b"E"
        assert error_fields(body)["C"] == "28P01"


def test_cleartext_password_wire(auth_server):
    if auth_server.method != "password":
        return
    for password, ok in ((PASSWORD, True), ("bad", False)):
        with auth_server.socket() as s:
            s.sendall(startup_packet("alice"))
            read_message(s)
            body = cstr(password)
            s.sendall(b"p" + struct.pack("!i", len(body) + 4) + body)
            msgs = read_until(s, b"ZE")
            if ok:
                assert msgs[0] == (b"R", struct.pack("!i", 0)) and msgs[-1][0] == b"Z", msgs
            else:
                assert msgs[-1][0] == b"E"
                fields = error_fields(msgs[-1][1])
                assert (fields["S"], fields["C"]) == ("FATAL", "28P01"), fields


# ---------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate and its key, as PEM files named cert.pem and key.pem."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-days", "1", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def test_tls_files_named_like_postgresql(tavana_bin, certificate, tmp_path):
    """PostgreSQL's own names for the PEM files are server.crt and server.key; the content
    decides, not the file name."""
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    cert.write_bytes(open(certificate[0], "rb").read())
    key.write_bytes(open(certificate[1], "rb").read())
    with running_server(tavana_bin, "--tls-cert", str(cert), "--tls-key", str(key), name="tls-names") as server:
        with psycopg.connect(server.conninfo(sslmode="require")) as c:
            assert c.pgconn.ssl_in_use


@pytest.fixture(scope="module")
def tls_server(tavana_bin, certificate):
    cert, key = certificate
    with running_server(tavana_bin, "--tls-cert", cert, "--tls-key", key, "--auth-method", "scram-sha-256",
                        env={"TAVANA_USERS": f"alice:{PASSWORD}"}, name="tls") as server:
        server.cert = cert
        yield server


def test_tls_required_psycopg(tls_server):
    with psycopg.connect(tls_server.conninfo(user="alice", password=PASSWORD, sslmode="require")) as c:
        assert c.pgconn.ssl_in_use
        assert c.execute("SELECT 'over tls'").fetchone() == ("over tls",)


def test_tls_verify_full(tls_server):
    info = tls_server.conninfo(user="alice", password=PASSWORD, sslmode="verify-full", sslrootcert=tls_server.cert)
    info = info.replace("host='127.0.0.1'", "host='localhost' hostaddr='127.0.0.1'")
    with psycopg.connect(info) as c:
        assert c.pgconn.ssl_in_use
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_tls_wrong_password(tls_server):
    with pytest.raises(psycopg.OperationalError) as e:
        psycopg.connect(tls_server.conninfo(user="alice", password="wrong", sslmode="require"))
    assert 'password authentication failed for user "alice"' in str(e.value)


def test_tls_large_result(tls_server):
    with psycopg.connect(tls_server.conninfo(user="alice", password=PASSWORD, sslmode="require")) as c:
        rows = c.execute("SELECT x, repeat('y', 50) FROM generate_series(1, 200000) AS t(x)").fetchall()
        assert len(rows) == 200000
        assert sum(r[0] for r in rows) == 200000 * 200001 // 2


def test_tls_psql(tls_server):
    r = psql(tls_server, "alice", PASSWORD, "SELECT 'psql tls'", sslmode="require")
    assert (r.returncode, r.stdout, r.stderr) == (0, "psql tls\n", "")


def test_tls_optional_plain_connection_still_works(tls_server):
    with psycopg.connect(tls_server.conninfo(user="alice", password=PASSWORD, sslmode="disable")) as c:
        assert not c.pgconn.ssl_in_use
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_tls_scram_channel_binding(tls_server):
    """SCRAM-SHA-256-PLUS (channel binding) is not offered yet: channel_binding=require is
    refused by the client, channel_binding=prefer falls back to plain SCRAM over TLS."""
    info = tls_server.conninfo(user="alice", password=PASSWORD, sslmode="require", channel_binding="require")
    with pytest.raises(psycopg.OperationalError, match="channel binding"):
        psycopg.connect(info)
    info = tls_server.conninfo(user="alice", password=PASSWORD, sslmode="require", channel_binding="prefer")
    with psycopg.connect(info) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
        assert c.pgconn.ssl_in_use


def test_raw_gssenc_then_ssl_request(tls_server):
    with tls_server.socket() as s:
        s.sendall(struct.pack("!ii", 8, 80877104))  # GSSENCRequest
        assert s.recv(1) == b"N"
        s.sendall(struct.pack("!ii", 8, 80877103))  # SSLRequest
        assert s.recv(1) == b"S"
        ctx = ssl.create_default_context(cafile=tls_server.cert)
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            t.sendall(startup_packet("alice"))
            kind, body = read_message(t)
            assert kind == b"R" and struct.unpack("!i", body[:4])[0] == 10


def test_no_certificate_sslmode_require_fails(pg_server):
    with pytest.raises(psycopg.OperationalError) as e:
        psycopg.connect(pg_server.conninfo(sslmode="require"))
    assert "server does not support SSL" in str(e.value)


def test_no_certificate_sslmode_prefer_works(pg_server):
    with psycopg.connect(pg_server.conninfo(sslmode="prefer")) as c:
        assert not c.pgconn.ssl_in_use
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_no_certificate_ssl_request_answered_n(pg_server):
    with pg_server.socket() as s:
        s.sendall(struct.pack("!ii", 8, 80877103))
        assert s.recv(1) == b"N"
        s.sendall(startup_packet())
        msgs = read_until(s, b"ZE")
        assert msgs[-1][0] == b"Z"
