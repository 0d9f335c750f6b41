"""psql (/usr/bin/psql, libpq) driven with -c and -f: exact output as PostgreSQL 15 gives it
(PG_ORACLE_PORT=<port> checks the expectations on a real one)."""
import os
import re
import subprocess
import textwrap

import pytest

pytest_plugins = ["tavana_server"]
pytestmark = pytest.mark.timeout(60)

PSQL = "/usr/bin/psql"


def psql(server, *args, script=None, tmp_path=None, env=None, timeout=30):
    cmd = [PSQL, "-X", "-d", server.conninfo(), *args]
    if script is not None:
        path = tmp_path / "script.sql"
        path.write_text(textwrap.dedent(script).lstrip())
        cmd += ["-f", str(path)]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    full_env.update({"PGCONNECT_TIMEOUT": "10", "PAGER": "", "PSQL_PAGER": "", "LC_ALL": "C.UTF-8"})
    full_env.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)


def expect(r, returncode, stdout, stderr=""):
    """Compares a psql run with full texts in the failure message (None: not compared)."""
    got = (r.returncode, r.stdout, r.stderr if stderr is not None else None)
    want = (returncode, stdout, stderr)
    assert got == want, (f"\npsql {r.args[3:]}\n--- exit code: {r.returncode} (want {returncode})\n"
                         f"--- stdout:\n{r.stdout}\n--- want stdout:\n{stdout}\n--- stderr:\n{r.stderr}")


def test_single_value(pg_server):
    r = psql(pg_server, "-At", "-c", "SELECT 1")
    expect(r, 0, "1\n")


def test_multi_statement_string_shows_every_result(pg_server):
    # psql 15 shows the result of each statement of a multi-statement -c string.
    r = psql(pg_server, "-At", "-v", "ON_ERROR_STOP=1", "-c", "SELECT 1 AS a; SELECT 'x' AS b, 2 AS c; SELECT 3")
    expect(r, 0, "1\nx|2\n3\n")


def test_several_c_options(pg_server):
    r = psql(pg_server, "-At", "-v", "ON_ERROR_STOP=1", "-c", "SELECT 'first'", "-c", "SELECT 'second'")
    expect(r, 0, "first\nsecond\n")


@pytest.mark.parametrize("query", ["", ";", "  ", "-- only a comment", "/* block */ ;"])
def test_empty_query(pg_server, query):
    r = psql(pg_server, "-At", "-v", "ON_ERROR_STOP=1", "-c", query, "-c", "SELECT 'after'")
    expect(r, 0, "after\n")


def test_aligned_output_exact(pg_server):
    r = psql(pg_server, "-c", "SELECT 1 AS num, 'text value' AS txt, NULL::int4 AS nul, 2.50::numeric(5,2) AS dec, true AS flag")
    expect(r, 0, (
        " num |    txt     | nul | dec  | flag \n"
        "-----+------------+-----+------+------\n"
        "   1 | text value |     | 2.50 | t\n"
        "(1 row)\n"
        "\n"
    ))


def test_script_output_and_command_tags(pg_server, tmp_path):
    script = """
        CREATE TABLE psql_t (id int4, name text, ok bool, amount numeric(10,2));
        INSERT INTO psql_t VALUES (1, 'one', true, 1.50), (2, NULL, false, -2.25), (3, 'three', NULL, NULL);
        SELECT * FROM psql_t ORDER BY id;
        UPDATE psql_t SET name = 'two' WHERE id = 2;
        SELECT name FROM psql_t WHERE id = 2;
        DELETE FROM psql_t WHERE id = 3;
        SELECT count(*) FROM psql_t;
        BEGIN;
        INSERT INTO psql_t VALUES (9, 'nine', true, 9);
        ROLLBACK;
        SELECT count(*) FROM psql_t;
        DROP TABLE psql_t;
    """
    r = psql(pg_server, "-At", "-v", "ON_ERROR_STOP=1", script=script, tmp_path=tmp_path)
    expect(r, 0, textwrap.dedent("""\
        CREATE TABLE
        INSERT 0 3
        1|one|t|1.50
        2||f|-2.25
        3|three||
        UPDATE 1
        two
        DELETE 1
        2
        BEGIN
        INSERT 0 1
        ROLLBACK
        2
        DROP TABLE
    """))


def test_quiet_script_with_unicode_and_special_values(pg_server, tmp_path):
    script = """
        SELECT 'h\u00e9llo \U0001F600' AS u, E'tab\\there' AS t, '' AS empty, NULL AS n;
        SELECT x FROM generate_series(1, 3) AS s(x) ORDER BY x;
        SELECT 'a|b' AS pipe, 1.5::float8 AS f, '2024-02-29'::date AS d, '2024-02-29 01:02:03.5'::timestamp AS ts;
    """
    r = psql(pg_server, "-qAt", "-v", "ON_ERROR_STOP=1", script=script, tmp_path=tmp_path)
    expect(r, 0, ("h\u00e9llo \U0001F600|tab\there||\n"
                        "1\n2\n3\n"
                        "a|b|1.5|2024-02-29|2024-02-29 01:02:03.5\n"))


ERROR_LINE = re.compile(r"ERROR:  ([0-9A-Z]{5}): ")


@pytest.mark.parametrize("sql, code", [
    ("SELEC 1;", "42601"),
    ("SELECT * FROM no_such_table;", "42P01"),
    ("SELECT no_such_column FROM (SELECT 1 AS a) AS t;", "42703"),
    ("SELECT no_such_function(1);", "42883"),
    ("SELECT 'abc'::int4;", "22P02"),
])
def test_script_error_stops_with_sqlstate(pg_server, tmp_path, sql, code):
    script = f"""
        \\set VERBOSITY verbose
        SELECT 'before';
        {sql}
        SELECT 'after';
    """
    r = psql(pg_server, "-At", "-v", "ON_ERROR_STOP=1", script=script, tmp_path=tmp_path)
    expect(r, 3, "before\n", None)
    m = ERROR_LINE.search(r.stderr)
    assert m, r.stderr
    assert m.group(1) == code, r.stderr
    # psql prefixes script errors with file and line: "psql:/path/script.sql:3: ERROR: ..."
    assert re.search(r"script\.sql:3: ERROR:  ", r.stderr), r.stderr


def test_error_without_on_error_stop_continues(pg_server, tmp_path):
    script = """
        SELECT 'one';
        SELECT * FROM no_such_table;
        SELECT 'two';
    """
    r = psql(pg_server, "-At", script=script, tmp_path=tmp_path)
    expect(r, 0, "one\ntwo\n", None)
    assert "ERROR:" in r.stderr


def test_c_error_with_on_error_stop(pg_server):
    r = psql(pg_server, "-At", "-v", "ON_ERROR_STOP=1", "-c", "SELECT 'a'", "-c", "SELEC", "-c", "SELECT 'b'")
    expect(r, 1, "a\n", None)
    assert r.stderr.startswith("ERROR:  ")


def test_multi_statement_string_is_one_implicit_transaction(pg_server):
    """The statements of one simple Query run in one implicit transaction: an error rolls
    back the statements before it in the same string (PostgreSQL docs, "Multiple
    Statements in a Simple Query")."""
    r = psql(pg_server, "-At", "-c", "CREATE TABLE psql_implicit (v int4)")
    expect(r, 0, "CREATE TABLE\n")
    r = psql(pg_server, "-At", "-c",
             "INSERT INTO psql_implicit VALUES (1); SELECT * FROM no_such_table; INSERT INTO psql_implicit VALUES (2)")
    expect(r, 1, "INSERT 0 1\n", None)
    r = psql(pg_server, "-At", "-c", "SELECT count(*) FROM psql_implicit", "-c", "DROP TABLE psql_implicit")
    expect(r, 0, "0\nDROP TABLE\n")


def test_failed_transaction_block_in_script(pg_server, tmp_path):
    script = """
        \\set VERBOSITY verbose
        CREATE TABLE psql_ft (v int4);
        BEGIN;
        INSERT INTO psql_ft VALUES (1);
        SELECT * FROM no_such_table;
        SELECT 'ignored';
        COMMIT;
        SELECT count(*) FROM psql_ft;
        DROP TABLE psql_ft;
    """
    r = psql(pg_server, "-At", script=script, tmp_path=tmp_path)
    expect(r, 0, "CREATE TABLE\nBEGIN\nINSERT 0 1\nROLLBACK\n0\nDROP TABLE\n", None)
    codes = ERROR_LINE.findall(r.stderr)
    assert codes == ["42P01", "25P02"], r.stderr


def test_variables_and_gexec_style_meta_commands(pg_server, tmp_path):
    script = """
        \\set n 5
        SELECT :n * 2 AS doubled \\gset
        \\echo doubled=:doubled
        SELECT 'x' AS a, 'y' AS b \\gx
    """
    r = psql(pg_server, "-q", "-v", "ON_ERROR_STOP=1", script=script, tmp_path=tmp_path)
    expect(r, 0, "doubled=10\n-[ RECORD 1 ]\na | x\nb | y\n\n")


def test_copy_to_stdout(pg_server):
    r = psql(pg_server, "-v", "ON_ERROR_STOP=1", "-c",
             "COPY (SELECT x, 'v' || x AS v FROM generate_series(1, 3) AS t(x) ORDER BY x) TO STDOUT")
    expect(r, 0, "1\tv1\n2\tv2\n3\tv3\n")


def test_copy_from_stdin(pg_server, tmp_path):
    script = "CREATE TABLE psql_cin (a int4, b text);\n" \
             "COPY psql_cin FROM STDIN;\n1\tone\n2\t\\N\n\\.\n" \
             "SELECT a, coalesce(b, 'null') FROM psql_cin ORDER BY a;\nDROP TABLE psql_cin;\n"
    path = tmp_path / "copy.sql"
    path.write_text(script)
    r = psql(pg_server, "-At", "-v", "ON_ERROR_STOP=1", "-f", str(path))
    expect(r, 0, "CREATE TABLE\nCOPY 2\n1|one\n2|null\nDROP TABLE\n")


def test_connection_reports_server(pg_server):
    r = psql(pg_server, "-At", "-c", "SHOW server_version", "-c", "SELECT current_setting('server_version_num')")
    assert r.returncode == 0, r.stderr
    version, num = r.stdout.split("\n")[:2]
    assert version.startswith("15.")
    assert num.startswith("150")
