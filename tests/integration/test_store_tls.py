"""TLS to the spa's store (docs/store.md, "TLS"): sslmode=verify-full
against a server of this module's own (pgserver.py with tls: a local CA,
a certificate for localhost and 127.0.0.1, and pg_hba taking TCP only
over TLS), the real daemon and the real simulator.

  verify-full     -n (and --migrate) with the CA pass, to localhost and
                  to 127.0.0.1 (both in the certificate).
  wrong CA        another CA: exit 1, one line naming the URL and
                  libpq's "certificate verify failed"; no CA file: "root
                  certificate file ... does not exist".
  wrong name      a name the certificate does not have (db.spa.example,
                  reached by hostaddr=127.0.0.1): "does not match host
                  name"; the same URL with verify-ca (the CA only) passes,
                  so it is the name that fails.
  no TLS          sslmode=disable is refused by the server (hostssl).
  passphrase      sslpassword in the URL: refused at its file:line.
  the link        the running daemon's link connects over TLS (the
                  server's pg_stat_ssl says so) and ships a session; with
                  the wrong CA it stays down saying why.
"""

import json
import shutil

import pytest

from daemon import Daemon, sim_controllers
from simctl import Sim
from test_store import (KNOWN, OWNER_PW, TABLE_PW, check, one_error, run,
                        secret, spa_server, table)
from test_store_link import SHIP_S, one_session, store, wait_error, \
    wait_shipped


@pytest.fixture(scope="module")
def pg():
    """A TLS server of this module's own (test_store.py's is plain)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command (Debian's openssl package; make "
                    "deps installs it)")
    with spa_server(tls=True) as server:
        yield server


_dbs = iter(range(1, 1000))


def tls_url(pg, login, db, host="localhost", mode="verify-full", ca=None,
            extra=""):
    return pg.url(login, db, host=host, query="sslmode=%s&sslrootcert=%s%s"
                  % (mode, ca or pg.ca_path, extra))


@pytest.fixture
def spa(pg, tmp_path):
    """A database of the test's own, migrated by the owner over TLS with
    verify-full."""
    db = "tls_%d" % next(_dbs)
    pg.psql(["CREATE DATABASE %s OWNER massaged_owner" % db,
             "REVOKE ALL ON DATABASE %s FROM PUBLIC" % db,
             "GRANT CONNECT ON DATABASE %s TO massaged_table" % db])
    d, _ = table(tmp_path, tls_url(pg, "massaged_owner", db), OWNER_PW,
                 name="migrator")
    r = run("--migrate", "-f", d.config_path)
    assert r.returncode == 0, r.stderr
    assert "applied 0001_init.sql" in r.stdout, r.stdout
    return db


def passes(tmp_path, url, name="massaged"):
    d, _ = table(tmp_path, url, TABLE_PW, name=name)
    r = check(d)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("configuration OK\n"), r.stdout
    assert "store %s: PostgreSQL " % url in r.stdout, r.stdout
    assert "schema version %d" % KNOWN in r.stdout, r.stdout
    assert TABLE_PW not in r.stdout + r.stderr


def fails(tmp_path, url, *parts):
    """-n fails with exit 1 and one line naming the URL and parts."""
    d, _ = table(tmp_path, url, TABLE_PW)
    r = check(d)
    one_error(r, "store %s: cannot connect" % url, *parts)
    assert len([ln for ln in r.stderr.splitlines()
                if "cannot connect" in ln]) == 1, r.stderr


def test_verify_full_with_the_ca_passes(tmp_path, pg, spa):
    passes(tmp_path, tls_url(pg, "table1", spa))
    # the certificate has the address too (libpq 14 and newer check it)
    passes(tmp_path, tls_url(pg, "table1", spa, host="127.0.0.1"), "ip")


def test_wrong_ca_is_refused(tmp_path, pg, spa):
    fails(tmp_path, tls_url(pg, "table1", spa, ca=pg.other_ca_path),
          "certificate verify failed")
    # and a CA file that is not there
    ca = str(tmp_path / "store-ca.pem")
    fails(tmp_path, tls_url(pg, "table1", spa, ca=ca),
          'root certificate file "%s" does not exist' % ca)


def test_host_name_not_in_the_certificate(tmp_path, pg, spa):
    """db.spa.example, reached at 127.0.0.1 without a name server: the
    certificate is the server's, signed by the right CA, for another
    name."""
    name, addr = "db.spa.example", "&hostaddr=127.0.0.1"
    fails(tmp_path, tls_url(pg, "table1", spa, host=name, extra=addr),
          'does not match host name "db.spa.example"')
    # verify-ca checks the CA, not the name: the same URL passes
    passes(tmp_path, tls_url(pg, "table1", spa, host=name,
                             mode="verify-ca", extra=addr), "ca")


def test_plain_connection_is_refused_by_the_server(tmp_path, pg, spa):
    fails(tmp_path, pg.url("table1", spa, host="localhost",
                           query="sslmode=disable"),
          "no pg_hba.conf entry", "no encryption")


@pytest.mark.parametrize("key", ["sslpassword", "ssl%70assword"])
def test_key_passphrase_is_an_error_at_its_line(tmp_path, key):
    """A client key's passphrase in the URL would be in every message:
    refused by the core while the table is read, never repeated."""
    d, line = table(tmp_path, "postgresql://table1@localhost/spa?"
                    "sslmode=verify-full&sslcert=/x.crt&sslkey=/x.key&"
                    "%s=%s" % (key, TABLE_PW))
    r = check(d)
    one_error(r, "%s:%d" % (d.config_path, line), "store",
              "passphrase (sslpassword)")
    assert "cannot connect" not in r.stderr


def tls_backends(pg, db):
    """ssl of every backend of the daemon (application massaged) on db."""
    return pg.psql("SELECT ssl FROM pg_stat_ssl JOIN pg_stat_activity "
                   "USING (pid) WHERE application_name = 'massaged' AND "
                   "datname = '%s'" % db).stdout.split()


def link_keys(tmp_path, url):
    return {"store": url, "store_password_file":
            secret(tmp_path, "table1.pw", TABLE_PW + "\n")}


def test_daemon_link_over_tls(tmp_path, pg, spa):
    url = tls_url(pg, "table1", spa)
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, daemon=link_keys(tmp_path, url)) as d:
        d.wait_ready()
        st = d.wait_for(lambda: (lambda s: s if s["reachable"] else None)(
            store(d)), timeout=SHIP_S, what="the store reachable")
        assert st["error"] is None and st["url"] == url, st
        # the server says the link's connection is TLS
        assert tls_backends(pg, spa) == ["t"]
        sid = one_session(d)
        wait_shipped(d)
        assert pg.psql("SELECT session_id || ':' || (line->>'phase') FROM "
                       "massaged.records", db=spa).stdout.strip() == \
            "%d:end" % sid
        assert TABLE_PW not in json.dumps(d.status()) + d.logs()


def test_daemon_link_with_the_wrong_ca_stays_down(tmp_path, pg, spa):
    url = tls_url(pg, "table1", spa, ca=pg.other_ca_path)
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, daemon=link_keys(tmp_path, url)) as d:
        d.wait_ready()
        st = wait_error(d, "certificate verify failed")
        assert st["reachable"] is False, st
        one_session(d)      # sessions run without the store
        assert tls_backends(pg, spa) == []
        assert pg.psql("SELECT count(*) FROM massaged.records",
                       db=spa).stdout.strip() == "0"
