"""The daemon's link to the spa's store (docs/store.md, "The daemon's
link" and "The outbox"), against a real PostgreSQL server of this module's
own (pgserver.py; it is paused and killed here, so it is not the one
test_store.py shares), the real daemon and the real simulator.

  two tables      two daemons (two logins, two names) on one database:
                  each one's sessions arrive in massaged.records, once
                  each, as their end lines, with the status and /metrics
                  saying reachable, backlog 0, lines shipped.
  one name        a table whose name another login has claimed is
                  refused (no record shipped) and says why.
  no schema       the daemon never migrates: it says "run massaged
                  --migrate" in its status and creates nothing.
  paused, killed  the server SIGSTOPped, then SIGKILLed during sessions:
                  no tick missed, an e-stop within its bound, the status
                  says unreachable and the backlog grows; once the server
                  is back every record arrives exactly once.
  a day's backlog 10,000 record lines (5,000 sessions, half of them in a
                  rotated file) waiting when the store comes back: all
                  arrive once, across a restart of the daemon midway;
                  the ship rate is noted for docs/store.md.
"""

import contextlib
import json
import os
import re
import time

import pytest

from daemon import Daemon, sim_controllers
from simctl import Sim, monotonic_ns
from test_faults import LEGS, PELVIS, RT_MS, SLACK_S, TICK_MS, note, rig  # noqa: F401,E501
from test_store import OWNER_PW, TABLE_PW, run, secret, spa_server

SLACK_MS = 150
ESTOP_BOUND_MS = TICK_MS + RT_MS + SLACK_MS
MISSED_MAX = 2
QUERY_TIMEOUT_S = 5            # STORE_QUERY_TIMEOUT_S
SHIP_S = 10                    # a line reaches the store within (1 s poll)


@pytest.fixture(scope="module")
def pg():
    """A server of this module's own: it is paused and killed here."""
    with spa_server(("table1", "table2")) as server:
        yield server


_dbs = iter(range(1, 1000))


@pytest.fixture
def spa(pg, tmp_path):
    """A migrated database of the test's own."""
    db = "link_%d" % next(_dbs)
    pg.psql(["CREATE DATABASE %s OWNER massaged_owner" % db,
             "REVOKE ALL ON DATABASE %s FROM PUBLIC" % db,
             "GRANT CONNECT ON DATABASE %s TO massaged_table" % db])
    d = Daemon(tmp_path, [1, 2], start=False, name="migrator", daemon={
        "store": pg.url("massaged_owner", db), "store_password_file":
        secret(tmp_path, "owner.pw", OWNER_PW + "\n")})
    r = run("--migrate", "-f", d.config_path)
    assert r.returncode == 0, r.stderr
    return db


def sub(tmp_path, name):
    p = tmp_path / name
    p.mkdir()
    return p


def keys(tmp_path, pg, db, login="table1", name=None):
    """The [daemon] keys of a table on the store as login (named name;
    the tests' tables are "massaged" by default)."""
    k = {"store": pg.url(login, db), "store_password_file":
         secret(tmp_path, login + ".pw", TABLE_PW + "\n")}
    if name is not None:
        k["name"] = name
    return k


def count(pg, db, sql):
    return int(pg.psql(sql, db=db).stdout.strip())


def metric(d, name):
    r = d.request("GET", "/metrics", token=False)
    assert r.status == 200
    m = re.search(r"^%s (\S+)$" % re.escape(name), r.text, re.M)
    return float(m.group(1)) if m else None


def local_lines(d):
    with open(os.path.join(d.state_dir, "sessions.jsonl")) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def store(d):
    return d.status()["store"]


def wait_error(d, word):
    """The status's store once its error has word."""
    return d.wait_for(lambda: (lambda s: s if s["error"] and word in
                               s["error"] else None)(store(d)),
                      timeout=SHIP_S, what="a store error with " + word)


def outbox_place(d):
    try:
        with open(os.path.join(d.state_dir, "store-outbox")) as f:
            return f.read()
    except FileNotFoundError:
        return None


def wait_shipped(d, timeout=SHIP_S):
    """Until the outbox's place is the last local line's, and the status
    says nothing waits."""
    def shipped():
        last = [x for x in local_lines(d) if x["id"] is not None][-1]
        s = store(d)
        return s if s["reachable"] and s["outbox"]["backlog"] == 0 and \
            outbox_place(d) == "%d %d\n" % (
                last["id"], 2 if last["phase"] == "end" else 1) else None
    return d.wait_for(shipped, timeout=timeout, interval=0.1,
                      what="every local line shipped")


def one_session(d, program="api_test"):
    r = d.request("POST", "/api/v1/session",
                  {"program": program, "profile": "standard"})
    assert r.status == 201, r.text
    sid = r.json()["session_id"]
    time.sleep(0.5)
    r = d.request("POST", "/api/v1/session/stop")
    assert r.status == 200, r.text
    d.wait_state("idle", timeout=10)
    return sid


@contextlib.contextmanager
def two_tables(tmp_path, pg, spa, reachable=False):
    """Two tables, "Table 1" as login table1 and "Table 2" as table2, each
    on a simulator of its own, on the database spa; with reachable, ready
    and connected to it."""
    with Sim(tmp_path, controllers=sim_controllers()) as s1, \
            Sim(sub(tmp_path, "b"), controllers=sim_controllers()) as s2, \
            Daemon(tmp_path, s1, name="t1", daemon=keys(
                tmp_path, pg, spa, "table1", "Table 1")) as d1, \
            Daemon(tmp_path, s2, name="t2", daemon=keys(
                tmp_path, pg, spa, "table2", "Table 2")) as d2:
        for d in (d1, d2) if reachable else ():
            d.wait_ready()
            d.wait_for(lambda: store(d)["reachable"], timeout=SHIP_S,
                       what="the store reachable")
        yield d1, d2


def test_two_tables_ship_their_records(tmp_path, pg, spa):
    with two_tables(tmp_path, pg, spa, reachable=True) as (d1, d2):
        a = [one_session(d1), one_session(d1)]
        b = [one_session(d2)]
        for d in (d1, d2):
            st = wait_shipped(d)
            assert st["error"] is None and st["configured"], st
            assert st["url"] == pg.url("table" + d.tmpdir[-1], spa), st
        got = pg.psql("SELECT table_name || '#' || session_id || '#' || "
                      "(line->>'phase') || '#' || (line->>'table') || '#' "
                      "|| profile_id FROM massaged.records ORDER BY 1",
                      db=spa).stdout.split("\n")
        assert [g for g in got if g] == sorted(
            ["Table 1#%d#end#Table 1#standard" % i for i in a] +
            ["Table 2#%d#end#Table 2#standard" % i for i in b])
        # the line in the store is the local end line, as written
        end = [x for x in local_lines(d1) if x["phase"] == "end"][-1]
        line = json.loads(pg.psql(
            "SELECT line FROM massaged.records WHERE table_name = "
            "'Table 1' AND session_id = %d" % end["id"], db=spa).stdout)
        assert line == end
        assert metric(d1, "massaged_store_up") == 1
        assert metric(d1, "massaged_store_outbox_backlog_lines") == 0
        assert metric(d1, "massaged_store_outbox_shipped_total") == 4
        assert metric(d2, "massaged_store_outbox_shipped_total") == 2
        assert metric(d1, "massaged_store_outbox_shipped_timestamp_"
                      "seconds") > time.time() - 60
        # the names are claimed by their logins
        assert pg.psql("SELECT string_agg(name || ':' || login, ',' "
                       "ORDER BY name) FROM massaged.tables",
                       db=spa).stdout.strip() == \
            "Table 1:table1,Table 2:table2"
        # a restart ships nothing again (the place is kept)
        d1.restart()
        d1.wait_ready()
        wait_shipped(d1)
        time.sleep(1.5)
        assert metric(d1, "massaged_store_outbox_shipped_total") == 0
        with open(os.path.join(d1.state_dir, "store-outbox")) as f:
            assert f.read() == "%d 2\n" % a[-1]
        assert os.stat(os.path.join(d1.state_dir, "store-outbox")
                       ).st_mode & 0o777 == 0o600


def test_a_name_claimed_by_another_login_is_refused(tmp_path, pg, spa):
    pg.psql("INSERT INTO massaged.tables (name, login) VALUES "
            "('massaged', 'table2')", db=spa)
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, daemon=keys(tmp_path, pg, spa)) as d:
        d.wait_ready()
        st = wait_error(d, "belongs")
        assert st["reachable"] is False
        assert 'the table name "massaged" belongs to the login table2' \
            in st["error"], st
        assert TABLE_PW not in json.dumps(st)
        one_session(d)      # sessions run without the store
        # its lines wait, counted while the link is down
        d.wait_for(lambda: store(d)["outbox"]["backlog"] == 2,
                   timeout=SHIP_S, what="a backlog of 2 lines")
        assert count(pg, spa, "SELECT count(*) FROM massaged.records") == 0
        assert metric(d, "massaged_store_up") == 0
        assert "belongs to the login table2" in d.logs()


def test_the_daemon_never_migrates(tmp_path, pg):
    db = "link_bare"
    pg.psql(["CREATE DATABASE %s OWNER massaged_owner" % db,
             "GRANT CONNECT ON DATABASE %s TO massaged_table" % db])
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, daemon=keys(tmp_path, pg, db)) as d:
        d.wait_ready()
        st = wait_error(d, "schema")
        assert "no schema (version 0" in st["error"], st
        assert "run massaged --migrate" in st["error"], st
        one_session(d)
        assert pg.psql("SELECT count(*) FROM pg_namespace WHERE nspname "
                       "= 'massaged'", db=db).stdout.strip() == "0"
    with Sim(sub(tmp_path, "n"), controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, name="nostore") as d:
        d.wait_ready()
        assert store(d) == {"configured": False}
        assert metric(d, "massaged_store_up") is None


def outage(r, pg, spa, what):
    """A session on rig r while the server is made unusable by what()
    (pause or kill): the loop ticks on, an e-stop is within its bound,
    the status says unreachable with the session's lines waiting."""
    d = r.d
    missed0 = metric(d, "massaged_missed_ticks_total")
    r.start_session()
    r.wait_pressure(2.0, timeout=SLACK_S + 5)
    what()
    t0 = time.monotonic()
    time.sleep(QUERY_TIMEOUT_S + 2)     # past the query's deadline
    st = d.status()
    assert st["state"] == "running", st
    t = monotonic_ns()
    rr = d.request("POST", "/api/v1/estop")
    assert rr.status == 200, rr.text
    for c in (PELVIS, LEGS):
        v = r.wait_vent(c, t, timeout=SLACK_S)
        assert (v.ns - t) / 1e6 <= ESTOP_BOUND_MS, (c, (v.ns - t) / 1e6)
    # the link has given up on the server, the lines wait
    s = d.wait_for(lambda: (lambda s: s if not s["reachable"] and
                            s["outbox"]["backlog"] >= 1 else None)(
        store(d)), timeout=QUERY_TIMEOUT_S + SLACK_S * 3,
        what="the store unreachable, the lines waiting")
    assert s["error"], s
    assert metric(d, "massaged_missed_ticks_total") - missed0 <= MISSED_MAX
    note(outage=what.__name__, seen_down_s=round(time.monotonic() - t0, 1),
         error=s["error"][-80:])
    r.d.request("POST", "/api/v1/reset")
    return r.session_id


def test_database_paused_then_killed_during_sessions(rig, tmp_path, pg,
                                                     spa):
    r = rig(daemon=keys(tmp_path, pg, spa))
    d = r.d
    d.wait_ready()
    d.wait_for(lambda: store(d)["reachable"], timeout=SHIP_S,
               what="the store reachable")
    sid1 = outage(r, pg, spa, pg.pause)
    pg.resume()
    wait_shipped(d, timeout=SHIP_S + QUERY_TIMEOUT_S + 30)
    assert pg.psql("SELECT string_agg(table_name || ':' || session_id || "
                   "':' || (line->>'phase'), ',') FROM massaged.records",
                   db=spa).stdout.strip() == "massaged:%d:end" % sid1
    sid2 = outage(r, pg, spa, pg.kill)
    pg.restart()
    wait_shipped(d, timeout=SHIP_S + QUERY_TIMEOUT_S + 30)
    assert count(pg, spa, "SELECT count(*) FROM massaged.records") == 2
    assert pg.psql("SELECT string_agg(session_id || ':' || (line->>'phase')"
                   " || ':' || (line->>'end_reason'), ',' ORDER BY "
                   "session_id) FROM massaged.records",
                   db=spa).stdout.strip() == \
        "%d:end:estop,%d:end:estop" % (sid1, sid2)
    assert store(d)["error"] is None
    assert metric(d, "massaged_store_failures_total") >= 2
    # every local line is there, as before
    assert [(x["id"], x["phase"]) for x in local_lines(d)] == \
        [(sid1, "start"), (sid1, "end"), (sid2, "start"), (sid2, "end")]


def clone(line, sid, when):
    x = dict(line, id=sid)
    x["start"] = when
    return json.dumps(x, separators=(",", ":")) + "\n"


def test_a_days_backlog_arrives_once_across_a_restart(tmp_path, pg, spa):
    """10,000 lines (5,000 sessions) written while the store was away
    (here: a table without the key), half rotated to sessions.jsonl.1."""
    sessions = 5000
    with Sim(tmp_path, controllers=sim_controllers()) as sim:
        d = Daemon(tmp_path, sim)
        try:
            d.wait_ready()
            one_session(d)
        finally:
            d.stop()
        start, end = local_lines(d)
        state = d.state_dir
        old = os.path.join(state, "sessions.jsonl.1")
        os.rename(os.path.join(state, "sessions.jsonl"), old)
        with open(old, "a") as f:
            for i in range(2, sessions // 2 + 1):
                f.write(clone(start, i, start["start"]))
                f.write(clone(end, i, start["start"]))
        with open(os.path.join(state, "sessions.jsonl"), "w") as f:
            for i in range(sessions // 2 + 1, sessions + 1):
                f.write(clone(start, i, start["start"]))
                f.write(clone(end, i, start["start"]))
        d.daemon_keys.update(keys(tmp_path, pg, spa))
        d.write_config()
        t0 = time.monotonic()
        d.start()
        try:
            d.wait_ready()
            d.wait_for(lambda: 0 < count(pg, spa, "SELECT count(*) FROM "
                                         "massaged.records") < sessions,
                       timeout=60, interval=0.05, what="a part shipped")
            d.restart()
            d.wait_ready()
            wait_shipped(d, timeout=300)
            took = time.monotonic() - t0
            assert count(pg, spa, "SELECT count(*) FROM massaged.records "
                         "WHERE line->>'phase' = 'end'") == sessions
            assert count(pg, spa, "SELECT count(DISTINCT session_id) FROM "
                         "massaged.records") == sessions
            assert count(pg, spa, "SELECT max(session_id) FROM "
                         "massaged.records") == sessions
            note(lines=2 * sessions, ship_s=round(took, 1),
                 lines_per_s=round(2 * sessions / took))
            # the table goes on: its next session is 5001 and is shipped
            assert one_session(d) == sessions + 1
            wait_shipped(d)
            assert count(pg, spa, "SELECT count(*) FROM massaged.records") \
                == sessions + 1
        finally:
            d.stop()


def sessions(d, query=""):
    r = d.request("GET", "/api/v1/sessions" + query)
    assert r.status == 200, r.text
    return r.json()


def test_history_reads_across_tables(tmp_path, pg, spa):
    """With a store, GET /api/v1/sessions (and the client's history, and
    massagectl sessions) is the spa's: every table's sessions, newest
    first, each saying its table, paged with the same cursors; ?scope=table
    and a store that does not answer give the table's own."""
    with two_tables(tmp_path, pg, spa) as (d1, d2):
        for d in (d1, d2):
            d.wait_ready()
        ran = []
        for d, t in ((d1, "Table 1"), (d2, "Table 2"), (d1, "Table 1"),
                     (d2, "Table 2"), (d2, "Table 2")):
            ran.append((t, one_session(d)))
        for d in (d1, d2):
            wait_shipped(d)
        want = list(reversed(ran))          # newest first
        for d in (d1, d2):
            doc = sessions(d)
            assert doc["source"] == "store", doc
            assert [(x["table"], x["id"]) for x in doc["sessions"]] == want
            assert all(x["phase"] == "end" for x in doc["sessions"])
            # page by page, one at a time, the same list
            got, cursor = [], None
            while True:
                doc = sessions(d, "?limit=2" + (
                    "&cursor=" + cursor if cursor else ""))
                got += [(x["table"], x["id"]) for x in doc["sessions"]]
                cursor = doc["next_cursor"]
                if cursor is None:
                    break
            assert got == want
        # this table's own: its lines only, refusals included
        local = sessions(d2, "?scope=table")
        assert local["source"] == "table"
        assert [x["id"] for x in local["sessions"]] == \
            [i for t, i in want if t == "Table 2"]
        r = d2.request("GET", "/api/v1/sessions?scope=room")
        assert r.status == 400 and "scope" in r.json()["message"], r.text
        # the client's history is the spa's too
        r = d1.request("GET", "/api/v1/profiles/standard/sessions")
        assert r.status == 200, r.text
        assert len(r.json()["sessions"]) == 5
        # massagectl sessions says which table ran each session
        out = d2.run_ctl("sessions")
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0].split()[:2] == ["TABLE", "ID"], lines
        assert [(ln[:16].strip(), int(ln[17:].split()[0]))
                for ln in lines[1:]] == want
        csv = d1.run_ctl("sessions", "--csv")
        assert csv.returncode == 0, csv.stderr
        assert sorted(ln.split(",")[2] for ln in
                      csv.stdout.splitlines()[1:]) == sorted(
            t for t, _ in want)
        # the store paused: the history is the table's own, saying so
        pg.pause()
        try:
            d2.wait_for(lambda: not store(d2)["reachable"],
                        timeout=QUERY_TIMEOUT_S + 10,
                        what="the store unreachable")
            doc = sessions(d2)
            assert doc["source"] == "table", doc
            assert [x["id"] for x in doc["sessions"]] == \
                [i for t, i in want if t == "Table 2"]
        finally:
            pg.resume()


@pytest.mark.parametrize("case", ["password", "schema_new", "old_server"])
def test_each_refusal_is_said_in_the_status(tmp_path, pg, spa, case):
    """A wrong password, a schema newer than this build, a server too
    old: the link stays down saying why (as -n does), sessions run, the
    daemon never crashes."""
    from test_store import OldServer
    old = OldServer() if case == "old_server" else None
    k = keys(tmp_path, pg, spa)
    if case == "password":
        k["store_password_file"] = secret(tmp_path, "bad.pw", "wrong\n")
        want = "password authentication failed"
    elif case == "schema_new":
        pg.psql("INSERT INTO massaged.schema_version (version) VALUES (99)",
                db=spa)
        want = "schema version 99 is newer than this build knows"
    else:
        k["store"] = "postgresql://table1@127.0.0.1:%d/spa" % old.port
        want = "the server is PostgreSQL 12.17, at least 13 is needed"
    try:
        with Sim(tmp_path, controllers=sim_controllers()) as sim, \
                Daemon(tmp_path, sim, daemon=k) as d:
            d.wait_ready()
            st = wait_error(d, want.split()[0])
            assert want in st["error"], st
            assert st["reachable"] is False
            assert TABLE_PW not in json.dumps(d.status())
            one_session(d)
            assert metric(d, "massaged_store_up") == 0
    finally:
        if old is not None:
            old.close()
