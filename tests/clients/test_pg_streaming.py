"""Large results stream with backpressure: a reader slower than DuckDB must not make the
server buffer the result (RSS stays flat); plus SQLAlchemy and pandas smoke tests."""
import socket
import struct
import threading
import time

import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa

from tavana_server import cstr, message, running_server, serve_only, startup_packet, read_until, error_fields

pytest_plugins = ["tavana_server"]

BIG_SQL = "SELECT * FROM range(100000000) t(x)"  # 100 million rows, ~1.9 GB on the wire
READ_SECONDS = 25
WARMUP_SECONDS = 5
MAX_GROWTH_MB = 200


@pytest.fixture(scope="module")
def server(tavana_bin):
    with running_server(tavana_bin, "--threads", "2", workers=2, name="streaming") as s:
        yield s


class RssSampler:
    """Samples the server's VmRSS every `interval` seconds in a thread."""

    def __init__(self, server, interval=0.25):
        self.server, self.interval = server, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        t0 = time.monotonic()
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic() - t0, self.server.rss_kb()))
            except (FileNotFoundError, ProcessLookupError):
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def growth_mb(self, after: float) -> tuple[float, list]:
        window = [kb for t, kb in self.samples if t >= after]
        assert len(window) >= 10, f"too few RSS samples: {self.samples}"
        return (max(window) - min(window)) / 1024, [(round(t, 1), kb // 1024) for t, kb in self.samples[::8]]


def check_healthy(server):
    with psycopg.connect(server.conninfo(), autocommit=True) as c:
        assert c.execute("SELECT 'healthy'").fetchone() == ("healthy",)


@pytest.mark.timeout(90)
def test_slow_raw_reader_keeps_memory_flat(server):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.settimeout(20)
    s.connect((server.host, server.port))
    try:
        s.sendall(startup_packet())
        msgs = read_until(s, b"ZE")
        assert msgs[-1][0] == b"Z", error_fields(msgs[-1][1])
        s.sendall(message(b"Q", cstr(BIG_SQL)))
        buf = bytearray()
        expected = 0
        saw_description = False
        with RssSampler(server) as rss:
            t0 = time.monotonic()
            while time.monotonic() - t0 < READ_SECONDS:
                chunk = s.recv(64 * 1024)
                assert chunk, "the server closed the connection mid-result"
                buf += chunk
                # Parse the complete messages in the buffer: every row must be the next number.
                pos = 0
                while len(buf) - pos >= 5:
                    kind = buf[pos:pos + 1]
                    length = struct.unpack_from("!i", buf, pos + 1)[0]
                    if len(buf) - pos < 1 + length:
                        break
                    body = bytes(buf[pos + 5:pos + 1 + length])
                    if kind == b"T":
                        saw_description = True
                        assert struct.unpack_from("!h", body)[0] == 1
                        name_end = body.index(b"\0", 2)
                        assert struct.unpack_from("!I", body, name_end + 7)[0] == 20  # int8
                    elif kind == b"D":
                        n = struct.unpack_from("!h", body)[0]
                        vlen = struct.unpack_from("!i", body, 2)[0]
                        assert n == 1 and int(body[6:6 + vlen]) == expected, (body, expected)
                        expected += 1
                    else:
                        pytest.fail(f"unexpected message {kind!r} {error_fields(body) if kind == b'E' else body!r}")
                    pos += 1 + length
                del buf[:pos]
                time.sleep(0.02)  # a slow reader: at most ~3 MB/s
        assert saw_description
        assert expected > 100_000, f"only {expected} rows arrived in {READ_SECONDS}s"
        assert expected < 100_000_000
        growth, trace = rss.growth_mb(after=WARMUP_SECONDS)
        assert growth < MAX_GROWTH_MB, (
            f"server RSS grew {growth:.0f} MB while a client read {expected} rows slowly; (t, MB): {trace}")
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    check_healthy(server)


@pytest.mark.timeout(90)
def test_portal_suspended_fetches_keep_memory_flat(server):
    """Extended protocol with a row limit (what JDBC's fetchSize does): Execute(1000) returns
    1000 rows and PortalSuspended, again and again, on one portal."""
    s = server.socket(timeout=20)
    try:
        s.sendall(startup_packet())
        read_until(s, b"Z")
        s.sendall(message(b"P", cstr("") + cstr(BIG_SQL) + struct.pack("!h", 0))
                  + message(b"B", cstr("") + cstr("") + struct.pack("!hhh", 0, 0, 0))
                  + message(b"H"))
        msgs = read_until(s, b"2E")
        assert [k for k, _ in msgs] == [b"1", b"2"], msgs
        expected = 0
        with RssSampler(server) as rss:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 15:
                s.sendall(message(b"E", cstr("") + struct.pack("!i", 1000)) + message(b"H"))
                msgs = read_until(s, b"sCE", limit=2000)
                assert msgs[-1][0] == b"s", msgs[-1]
                rows = [b for k, b in msgs if k == b"D"]
                assert len(rows) == 1000
                assert int(rows[0][6:]) == expected and int(rows[-1][6:]) == expected + 999
                expected += 1000
                time.sleep(0.05)
        growth, trace = rss.growth_mb(after=3)
        assert growth < MAX_GROWTH_MB, f"server RSS grew {growth:.0f} MB; (t, MB): {trace}"
        s.sendall(message(b"S"))
        assert read_until(s, b"Z")[-1] == (b"Z", b"I")
    finally:
        s.close()
    check_healthy(server)


@pytest.mark.timeout(90)
def test_server_side_cursor_on_huge_result(server):
    """psycopg's named cursor (DECLARE / FETCH FORWARD n) over 100 million rows: DECLARE
    must return at once and FETCH must stream, not materialize the result."""
    with psycopg.connect(server.conninfo(), autocommit=False) as conn:
        result = {}

        def declare_and_first_fetch(cur):
            try:
                cur.execute(BIG_SQL)
                result["first"] = cur.fetchmany(5000)
            except Exception as e:  # noqa: BLE001
                result["error"] = e

        with RssSampler(server) as rss, conn.cursor(name="huge") as cur:
            cur.itersize = 5000
            t = threading.Thread(target=declare_and_first_fetch, args=(cur,), daemon=True)
            t.start()
            t.join(20)
            if t.is_alive():
                conn.cancel_safe(timeout=10)
                t.join(20)
                pytest.fail("DECLARE + first FETCH of 5000 rows took more than 20 s: the result is being materialized")
            assert "error" not in result, result.get("error")
            assert [r[0] for r in result["first"]] == list(range(5000))
            got = 5000
            t0 = time.monotonic()
            while time.monotonic() - t0 < 10:
                rows = cur.fetchmany(5000)
                assert rows[0][0] == got and rows[-1][0] == got + 4999
                got += 5000
                time.sleep(0.02)
        growth, trace = rss.growth_mb(after=3)
        assert growth < MAX_GROWTH_MB, f"server RSS grew {growth:.0f} MB; (t, MB): {trace}"
        conn.rollback()
    check_healthy(server)


# ---------------------------------------------------------------------------------------
# SQLAlchemy and pandas
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine(pg_server):
    e = sa.create_engine(pg_server.url(), pool_pre_ping=True)
    yield e
    e.dispose()


@pytest.mark.timeout(60)
@serve_only("DuckLake, cluster mode's shared catalog, has no PRIMARY KEY, UNIQUE or FOREIGN KEY constraints")
def test_sqlalchemy_core(engine):
    meta = sa.MetaData()
    table = sa.Table("sa_items", meta,
                     sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                     sa.Column("name", sa.String(50), nullable=False),
                     sa.Column("price", sa.Numeric(10, 2)),
                     sa.Column("created", sa.DateTime))
    meta.drop_all(engine)
    meta.create_all(engine)
    try:
        assert sa.inspect(engine).has_table("sa_items")
        with engine.begin() as c:
            c.execute(table.insert(), [{"id": i, "name": f"n{i}", "price": i * 1.5, "created": None} for i in range(10)])
        with engine.connect() as c:
            rows = c.execute(sa.select(table.c.id, table.c.name).where(table.c.id >= 7).order_by(table.c.id)).all()
            assert [tuple(r) for r in rows] == [(7, "n7"), (8, "n8"), (9, "n9")]
            total = c.execute(sa.select(sa.func.sum(table.c.price))).scalar()
            assert float(total) == sum(i * 1.5 for i in range(10))
            assert c.execute(sa.text("SELECT CAST(:x AS INTEGER) + 1"), {"x": 41}).scalar() == 42
        with engine.connect() as c:
            with pytest.raises(sa.exc.ProgrammingError):
                c.execute(sa.text("SELECT * FROM sa_no_such_table"))
            c.rollback()
            assert c.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        meta.drop_all(engine)


@pytest.mark.timeout(60)
@serve_only("DuckLake, cluster mode's shared catalog, has no PRIMARY KEY, UNIQUE or FOREIGN KEY constraints")
def test_sqlalchemy_orm_session(engine):
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

    class Base(DeclarativeBase):
        pass

    class Thing(Base):
        __tablename__ = "sa_things"
        id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
        label: Mapped[str] = mapped_column(sa.String(20))

    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            session.add_all([Thing(id=1, label="one"), Thing(id=2, label="two")])
            session.commit()
            assert session.get(Thing, 2).label == "two"
            session.query(Thing).filter(Thing.id == 1).update({"label": "uno"})
            session.commit()
            assert [t.label for t in session.query(Thing).order_by(Thing.id)] == ["uno", "two"]
    finally:
        Base.metadata.drop_all(engine)


@pytest.mark.timeout(60)
def test_pandas_read_sql(engine, pg_server):
    # A plain psycopg connection (pandas warns that it is not SQLAlchemy).
    with psycopg.connect(pg_server.conninfo()) as conn:
        with pytest.warns(UserWarning):
            df2 = pd.read_sql("SELECT 1 AS a, 'b' AS b, 2.5::float8 AS c", conn)
    assert df2.to_dict("records") == [{"a": 1, "b": "b", "c": 2.5}]
    df = pd.read_sql(sa.text("SELECT x AS id, x * 0.5 AS half, 'r' || x AS label, DATE '2024-01-01' + x::INTEGER AS day "
                             "FROM generate_series(1, 1000) AS t(x) ORDER BY x"), engine)
    assert df.shape == (1000, 4)
    assert list(df.columns) == ["id", "half", "label", "day"]
    assert df["id"].sum() == 500500
    assert df["label"].iloc[-1] == "r1000"


@pytest.mark.timeout(60)
def test_pandas_to_sql_roundtrip(engine):
    df = pd.DataFrame({"k": range(50), "v": [f"v{i}" for i in range(50)], "f": [i / 3 for i in range(50)]})
    try:
        df.to_sql("pd_roundtrip", engine, index=False, if_exists="replace")
        back = pd.read_sql(sa.text("SELECT * FROM pd_roundtrip ORDER BY k"), engine)
        pd.testing.assert_frame_equal(back, df, check_dtype=False)
    finally:
        with engine.begin() as c:
            c.execute(sa.text("DROP TABLE IF EXISTS pd_roundtrip"))
