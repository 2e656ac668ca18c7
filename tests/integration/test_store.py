"""The spa's shared store (docs/store.md): `massaged --migrate` and the
store checks of `massaged -n` (the running daemon's link is
test_store_link.py's), against a real PostgreSQL server (pgserver.py:
initdb into a temporary directory, its own port on 127.0.0.1, one server
for the whole run), never a mock.

Every test gets a database of its own, owned by the migrator role
massaged_owner; the table's login is table1, a member of massaged_table,
the role the migrations grant rows to. The -n runs check the demo table
(daemon.py writes it), with the store keys added to its [daemon] section.
"""

import contextlib
import itertools
import os
import subprocess

import pytest

from daemon import Daemon, daemon_binary, free_port, REPO
from pgserver import PgServer, pg_bindir

OWNER_PW = "owner-secret-3141"
TABLE_PW = "table-secret-2718"
# The schema version this build knows: one per file in sql/.
KNOWN = len([f for f in os.listdir(os.path.join(REPO, "sql"))
             if f.endswith(".sql")])

_dbs = itertools.count(1)
# The demo table's controllers need addresses; -n never connects to them.
NO_SIM = [1, 2]


@contextlib.contextmanager
def spa_server(logins=("table1",), tls=False):
    """A throwaway server with the roles of docs/store.md: the migrator
    massaged_owner, the group massaged_table and a login of it for each
    table (all with TABLE_PW); with tls, TCP only over TLS (PgServer).
    Skips without the server package."""
    if pg_bindir() is None:
        pytest.skip("no PostgreSQL server installed (Debian's postgresql "
                    "package; make deps installs it)")
    with PgServer(tls=tls) as server:
        server.psql([
            "CREATE ROLE massaged_owner LOGIN PASSWORD '%s'" % OWNER_PW,
            "CREATE ROLE massaged_table NOLOGIN"] + [
            "CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE massaged_table"
            % (t, TABLE_PW) for t in logins])
        yield server


@pytest.fixture(scope="session")
def pg():
    with spa_server() as server:
        yield server


@pytest.fixture
def spa(pg):
    """A fresh database of the test's, as docs/store.md makes one."""
    db = "spa_%d" % next(_dbs)
    pg.psql(["CREATE DATABASE %s OWNER massaged_owner" % db,
             "REVOKE ALL ON DATABASE %s FROM PUBLIC" % db,
             "GRANT CONNECT ON DATABASE %s TO massaged_table" % db])
    return db


def secret(tmp_path, name, text, mode=0o600):
    path = os.path.join(str(tmp_path), name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def table(tmp_path, url, password=None, mode=0o600, name="massaged"):
    """The demo table with store = url (and its password file): the
    Daemon (not started) and the line of the store key."""
    keys = {"store": url}
    if password is not None:
        keys["store_password_file"] = secret(tmp_path, name + ".pw",
                                             password + "\n", mode)
    d = Daemon(tmp_path, NO_SIM, daemon=keys, start=False, name=name)
    with open(d.config_path) as f:
        line = [i for i, s in enumerate(f, 1)
                if s.startswith("store = ")][0]
    return d, line


def run(*argv):
    r = subprocess.run([daemon_binary()] + list(argv), capture_output=True,
                       text=True, timeout=60, cwd=REPO)
    # never a crash, whatever the store said
    assert r.returncode in (0, 1, 2), (r.returncode, r.stderr)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, \
        r.stderr
    return r


def migrate(tmp_path, pg, db):
    d, _ = table(tmp_path, pg.url("massaged_owner", db), OWNER_PW,
                 name="migrator")
    return run("--migrate", "-f", d.config_path)


def check(d):
    return run("-n", "-f", d.config_path)


def one_error(r, *parts):
    """r failed with exit 1 and said each part on one line, without a
    password and without "configuration OK"."""
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "configuration OK" not in r.stdout
    lines = [l for l in r.stderr.splitlines() if all(p in l for p in parts)]
    assert lines, "none of these lines has %r:\n%s" % (parts, r.stderr)
    for pw in (OWNER_PW, TABLE_PW):
        assert pw not in r.stdout + r.stderr


def tables(pg, db):
    return pg.psql("SELECT string_agg(tablename, ',' ORDER BY tablename) "
                   "FROM pg_tables WHERE schemaname = 'massaged'",
                   db=db).stdout.strip()


def test_migrate_empty_database_then_up_to_date(tmp_path, pg, spa):
    assert tables(pg, spa) == ""
    r = migrate(tmp_path, pg, spa)
    assert r.returncode == 0, r.stderr
    assert "applied 0001_init.sql (schema version 1)" in r.stdout
    assert len(r.stdout.splitlines()) == KNOWN
    assert tables(pg, spa) == \
        "erasures,profiles,records,schema_version,tables"
    assert pg.psql("SELECT max(version) FROM massaged.schema_version",
                   db=spa).stdout.strip() == str(KNOWN)
    # a second run: nothing to do, and it says so
    r = migrate(tmp_path, pg, spa)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(
        "schema up to date (version %d)" % KNOWN), r.stdout
    assert "applied" not in r.stdout
    assert pg.psql("SELECT count(*) FROM massaged.schema_version",
                   db=spa).stdout.strip() == str(KNOWN)


def test_migrate_as_the_owner_by_overrides_not_as_a_table(tmp_path, pg,
                                                          spa):
    """The table file keeps the table's login; the owner migrates with
    -o. The table's login cannot migrate: it may not create a schema."""
    d, _ = table(tmp_path, pg.url("table1", spa), TABLE_PW)
    one_error(run("--migrate", "-f", d.config_path),
              "migration 0001_init.sql failed, nothing of it applied",
              "permission denied for database")
    assert tables(pg, spa) == ""
    pw = secret(tmp_path, "owner.pw", OWNER_PW + "\n")
    r = run("--migrate", "-f", d.config_path, "-o",
            "store=" + pg.url("massaged_owner", spa), "-o",
            "store_password_file=" + pw)
    assert r.returncode == 0, r.stderr
    assert "store %s: applied 0001_init.sql" % pg.url("massaged_owner",
                                                      spa) in r.stdout
    assert check(d).returncode == 0


def test_check_passes_with_the_right_password(tmp_path, pg, spa):
    assert migrate(tmp_path, pg, spa).returncode == 0
    d, _ = table(tmp_path, pg.url("table1", spa), TABLE_PW)
    r = check(d)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("configuration OK\n"), r.stdout
    assert "store %s: PostgreSQL " % pg.url("table1", spa) in r.stdout
    assert "schema version %d" % KNOWN in r.stdout
    assert TABLE_PW not in r.stdout + r.stderr


def test_schema_too_old_before_migrate(tmp_path, pg, spa):
    d, _ = table(tmp_path, pg.url("table1", spa), TABLE_PW)
    one_error(check(d), pg.url("table1", spa), "no schema (version 0",
              "run massaged --migrate")
    # and once migrated, the same check passes
    assert migrate(tmp_path, pg, spa).returncode == 0
    assert check(d).returncode == 0


def test_schema_too_new(tmp_path, pg, spa):
    assert migrate(tmp_path, pg, spa).returncode == 0
    pg.psql("INSERT INTO massaged.schema_version (version) VALUES (99)",
            db=spa)
    d, _ = table(tmp_path, pg.url("table1", spa), TABLE_PW)
    one_error(check(d), "schema version 99 is newer than this build "
              "knows (%d): upgrade massaged" % KNOWN)
    # --migrate refuses it too, and applies nothing
    r = migrate(tmp_path, pg, spa)
    one_error(r, "schema version 99 is newer", "nothing applied")
    assert pg.psql("SELECT count(*) FROM massaged.schema_version",
                   db=spa).stdout.strip() == str(KNOWN + 1)


def test_wrong_password(tmp_path, pg, spa):
    assert migrate(tmp_path, pg, spa).returncode == 0
    d, _ = table(tmp_path, pg.url("table1", spa), "not-" + TABLE_PW)
    one_error(check(d), "store %s: cannot connect" % pg.url("table1", spa),
              "password authentication failed")
    # and a migrator with a wrong password migrates nothing
    d, _ = table(tmp_path, pg.url("massaged_owner", spa), "wrong",
                 name="m2")
    one_error(run("--migrate", "-f", d.config_path), "cannot connect",
              "password authentication failed")


def test_password_file_must_be_private(tmp_path, pg, spa):
    d, _ = table(tmp_path, pg.url("table1", spa), TABLE_PW, mode=0o644)
    one_error(check(d), "store_password_file", "mode 0644", "chmod 600")


@pytest.mark.parametrize("url,why", [
    ("mysql://table1@127.0.0.1/spa", "not a PostgreSQL URL"),
    ("postgresql://table1@127.0.0.1:99999/spa", "the port \"99999\""),
    ("postgresql://table1:pw@127.0.0.1/spa", "has a password"),
    ("postgresql://table1@127.0.0.1/spa?password=pw", "has a password"),
    ("postgresql://table1@127.0.0.1/spa?sslmode", "not key=value"),
    ("postgresql://table 1@127.0.0.1/spa", "has a space"),
])
def test_bad_url_is_an_error_at_its_line(tmp_path, url, why):
    """Checked as text by the core while the table is read: file:line."""
    d, line = table(tmp_path, url)
    r = check(d)
    one_error(r, "%s:%d" % (d.config_path, line), "store", why)
    assert "cannot connect" not in r.stderr


def test_url_libpq_refuses_is_an_error_at_its_line(tmp_path, pg):
    """What only libpq knows (an unknown parameter): still file:line."""
    d, line = table(tmp_path, pg.url("table1", "spa") + "?colour=blue")
    one_error(check(d), "%s:%d" % (d.config_path, line),
              "invalid URI query parameter", "colour")


def test_unreachable_port(tmp_path, pg, spa):
    url = pg.url("table1", spa, port=free_port())
    d, _ = table(tmp_path, url, TABLE_PW)
    one_error(check(d), "store %s: cannot connect" % url,
              "Connection refused")


def test_table_role_cannot_run_ddl(tmp_path, pg, spa):
    assert migrate(tmp_path, pg, spa).returncode == 0

    def as_table(sql):
        return pg.psql(sql, db=spa, user="table1", password=TABLE_PW,
                       check=False)

    # what the role is for works: the check cannot pass by failing all
    r = as_table("INSERT INTO massaged.records (table_name, session_id, "
                 "line) VALUES ('t1', 1, '{\"id\": 1}'); "
                 "SELECT count(*) FROM massaged.records")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    for sql in ("CREATE TABLE massaged.x (i int)",
                "CREATE TABLE public.x (i int)",
                "CREATE SCHEMA mine",
                "DROP TABLE massaged.records",
                "ALTER TABLE massaged.profiles ADD COLUMN x int",
                "TRUNCATE massaged.records",
                "CREATE INDEX ON massaged.records (received_at)",
                "DELETE FROM massaged.schema_version",
                "UPDATE massaged.erasures SET erased_by = 'x'"):
        r = as_table(sql)
        assert r.returncode != 0, sql
        assert "permission denied" in r.stderr or \
            "must be owner" in r.stderr, (sql, r.stderr)


def test_migrate_without_a_store(tmp_path):
    d = Daemon(tmp_path, NO_SIM, start=False)
    r = run("--migrate", "-f", d.config_path)
    one_error(r, d.config_path, "no store")
    r = run("--migrate", "-n", "-f", d.config_path)
    assert r.returncode == 2


class OldServer:
    """A server that speaks just enough of PostgreSQL's protocol (version
    3) to say it is PostgreSQL 12.17: it refuses SSL and GSS encryption,
    takes any startup as authenticated, reports server_version and waits
    for the client to go. Standard library only; 127.0.0.1; stopped and
    joined by close()."""

    VERSION = "12.17"

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.done = False
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _msg(kind, body):
        import struct
        return kind + struct.pack("!I", len(body) + 4) + body

    def _one(self, c):
        import struct
        c.settimeout(5)
        while True:
            head = c.recv(8, 0x100)          # MSG_WAITALL
            if len(head) < 8:
                return
            n, code = struct.unpack("!II", head)
            rest = c.recv(n - 8, 0x100) if n > 8 else b""
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                c.sendall(b"N")
                continue
            del rest
            break
        out = self._msg(b"R", struct.pack("!I", 0))
        for k, v in (("server_version", self.VERSION),
                     ("server_encoding", "UTF8"),
                     ("client_encoding", "UTF8"),
                     ("standard_conforming_strings", "on")):
            out += self._msg(b"S", k.encode() + b"\0" + v.encode() + b"\0")
        out += self._msg(b"K", struct.pack("!II", 1, 2))
        out += self._msg(b"Z", b"I")
        c.sendall(out)
        while c.recv(4096):
            pass

    def _serve(self):
        import socket
        while not self.done:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            try:
                self._one(c)
            except OSError:
                pass
            finally:
                c.close()

    def close(self):
        self.done = True
        self.thread.join(5)
        self.sock.close()


def test_server_too_old(tmp_path):
    old = OldServer()
    try:
        url = "postgresql://table1@127.0.0.1:%d/spa" % old.port
        d, _ = table(tmp_path, url, TABLE_PW)
        one_error(check(d), "store %s: the server is PostgreSQL 12.17, at "
                  "least 13 is needed" % url)
        one_error(run("--migrate", "-f", d.config_path), "PostgreSQL 12.17")
        assert old.accepted >= 2
    finally:
        old.close()
