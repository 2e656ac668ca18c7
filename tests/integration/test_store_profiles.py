"""Client profiles shared by the tables of a spa (docs/store.md, "Profiles
across tables"): two real daemons on one real PostgreSQL database (a
server of this module's own: it is paused here), each on a simulator.

  intake      a client taken in on table 1 appears on table 2 (its list,
              its copy, 0600) and a session starts there with the
              client's limits; the time it took is noted.
  409         both tables edit revision 1 at once: one 200, one 409, and
              both end at the winner's revision 2.
  offline     the server paused: intake, edits and erasure refused with
              503 client_list_offline saying since when; a session starts
              from the copy; once back, writes work again.
  erasure     a client erased on table 1 while table 2 is off: gone from
              the store (a tombstone without the name, the shipped records
              scrubbed); table 2 applies it when it starts (its list, its
              copy, its own records) and keeps the place.
"""

import json
import os
import threading
import time

from daemon import Daemon, sim_controllers
from simctl import Sim
from test_faults import note
from test_store_link import (QUERY_TIMEOUT_S, SHIP_S, count, keys, local_lines,
                             one_session, pg, spa, store, sub, two_tables,
                             wait_shipped)  # noqa: F401 (fixtures)

NAME = "Zelda Quistgaard-Spa"
VARICOSE = {"name": NAME, "conditions": ["varicose_veins"],
            "pressure": "medium", "ramp": "gentle",
            "zones": {"cap": ["piriformis_left"], "avoid": ["lumbar_left"]},
            "note": "Left side first"}


def create(d, body=VARICOSE):
    r = d.request("POST", "/api/v1/profiles", body)
    assert r.status == 201, r.text
    return r.json()


def profile(d, pid):
    r = d.request("GET", "/api/v1/profiles/" + pid)
    return r.json() if r.status == 200 else None


def wait_profile(d, pid, revision=1, timeout=10):
    return d.wait_for(lambda: (lambda p: p if p and p["revision"] >= revision
                               else None)(profile(d, pid)),
                      timeout=timeout, interval=0.01,
                      what="profile %s revision %d" % (pid, revision))


def test_intake_on_one_table_is_startable_on_the_other(tmp_path, pg, spa):
    with two_tables(tmp_path, pg, spa, reachable=True) as (d1, d2):
        t0 = time.monotonic()
        pid = create(d1)["id"]
        got = wait_profile(d2, pid)
        note(intake_to_other_table_ms=round((time.monotonic() - t0) * 1000))
        assert got["name"] == NAME and got["revision"] == 1, got
        assert [c["name"] for c in got["conditions"]] == \
            ["varicose_veins"], got
        path = os.path.join(d2.state_dir, "profiles", pid + ".ini")
        assert os.stat(path).st_mode & 0o777 == 0o600
        # in the store once, as the intake's answers
        assert pg.psql("SELECT name || '|' || revision || '|' || "
                       "array_to_string(conditions, ',') || '|' || "
                       "written_by FROM massaged.profiles WHERE id = '%s'"
                       % pid, db=spa).stdout.strip() == \
            "%s|1|varicose_veins|Table 1" % NAME
        # a session on table 2 with the client's limits
        r = d2.request("POST", "/api/v1/session",
                       {"program": "api_test", "profile": pid})
        assert r.status == 201, r.text
        want = d1.request("POST", "/api/v1/intake/preview",
                          VARICOSE).json()
        lim = {z["name"]: z["limit_kpa"] for z in r.json()["zones"]}
        assert lim["lumbar_left"] == 0, lim         # avoided
        assert got["cap_kpa"] == want["cap_kpa"], (got, want)
        st = d2.status()
        assert (st["profile_revision"], st["profile_newer_revision"]) == \
            (1, None), st
        assert st["store"]["notified_at"] is not None, st["store"]
        # edited on table 1 while the session runs on table 2: the
        # session keeps its limits, the status says a newer one exists
        r = d1.request("PUT", "/api/v1/profiles/" + pid,
                       dict(VARICOSE, pressure="light"),
                       headers={"If-Match": '"1"'})
        assert r.status == 200, r.text
        assert r.json()["cap_kpa"] < got["cap_kpa"], r.text
        st = d2.wait_for(lambda: (lambda st: st if st[
            "profile_newer_revision"] == 2 else None)(d2.status()),
            what="the newer revision seen")
        assert st["state"] == "running" and st["profile_revision"] == 1
        assert {z["name"]: z["limit_kpa"] for z in st["zones"]} == lim
        d2.request("POST", "/api/v1/session/stop")
        d2.wait_state("idle")
        # the list of table 2 has it, found by name
        r = d2.request("GET", "/api/v1/profiles?q=quistgaard")
        assert pid in [p["id"] for p in r.json()["profiles"]], r.text


def test_concurrent_edits_of_one_revision_give_one_409(tmp_path, pg, spa):
    with two_tables(tmp_path, pg, spa) as (d1, d2):
        for d in (d1, d2):
            d.wait_ready()
        pid = create(d1)["id"]
        wait_profile(d2, pid)
        res = {}

        def edit(d, name):
            res[name] = d.request("PUT", "/api/v1/profiles/" + pid,
                                  dict(VARICOSE, name=name),
                                  headers={"If-Match": '"1"'})
        th = [threading.Thread(target=edit, args=(d, n))
              for d, n in ((d1, "From table one"), (d2, "From table two"))]
        for t in th:
            t.start()
        for t in th:
            t.join(30)
        codes = sorted(r.status for r in res.values())
        assert codes == [200, 409], {n: r.text for n, r in res.items()}
        winner = [n for n, r in res.items() if r.status == 200][0]
        loser = [r for r in res.values() if r.status == 409][0]
        assert loser.json()["error"] == "conflict", loser.text
        for d in (d1, d2):
            p = wait_profile(d, pid, 2)
            assert (p["revision"], p["name"]) == (2, winner), p
        assert count(pg, spa, "SELECT count(*) FROM massaged.profiles "
                     "WHERE id = '%s'" % pid) == 2


def test_offline_refuses_writes_and_sessions_run(tmp_path, pg, spa):
    with two_tables(tmp_path, pg, spa) as (d1, d2):
        d1.wait_ready()
        d1.wait_for(lambda: store(d1)["reachable"], timeout=SHIP_S,
                    what="the store reachable")
        pid = create(d1)["id"]
        pg.pause()
        try:
            d1.wait_for(lambda: not store(d1)["reachable"],
                        timeout=QUERY_TIMEOUT_S + 10,
                        what="the store unreachable")
            for method, path, body in (
                    ("POST", "/api/v1/profiles", VARICOSE),
                    ("PUT", "/api/v1/profiles/" + pid, VARICOSE),
                    ("DELETE", "/api/v1/profiles/" + pid, None)):
                r = d1.request(method, path, body,
                               headers={"If-Match": '"1"'})
                assert r.status == 503, (method, r.text)
                doc = r.json()
                assert doc["error"] == "client_list_offline", doc
                assert "client list is offline since" in doc["message"]
                assert "sessions run from this table's copy" in \
                    doc["message"]
            # nothing changed here
            assert profile(d1, pid)["revision"] == 1
            # a session from the copy
            r = d1.request("POST", "/api/v1/session",
                           {"program": "api_test", "profile": pid})
            assert r.status == 201, r.text
            d1.request("POST", "/api/v1/session/stop")
            d1.wait_state("idle")
        finally:
            pg.resume()
        d1.wait_for(lambda: store(d1)["reachable"], timeout=60,
                    what="the store reachable again")
        r = d1.request("PUT", "/api/v1/profiles/" + pid,
                       dict(VARICOSE, name="Back online"),
                       headers={"If-Match": '"1"'})
        assert r.status == 200, r.text
        assert wait_profile(d2, pid, 2)["name"] == "Back online"


def test_erasure_reaches_a_table_that_was_off(tmp_path, pg, spa):
    with Sim(tmp_path, controllers=sim_controllers()) as s1, \
            Sim(sub(tmp_path, "b"), controllers=sim_controllers()) as s2, \
            Daemon(tmp_path, s1, name="t1", daemon=keys(
                tmp_path, pg, spa, "table1", "Table 1")) as d1:
        d2 = Daemon(tmp_path, s2, name="t2", daemon=keys(
            tmp_path, pg, spa, "table2", "Table 2"))
        try:
            d1.wait_ready()
            d2.wait_ready()
            pid = create(d1)["id"]
            wait_profile(d2, pid)
            r = d2.request("POST", "/api/v1/session",
                           {"program": "api_test", "profile": pid})
            assert r.status == 201, r.text
            d2.request("POST", "/api/v1/session/stop")
            d2.wait_state("idle")
            wait_shipped(d2)
            assert any(x.get("client") == NAME for x in local_lines(d2))
        finally:
            d2.stop()
        # erased on table 1 while table 2 is off
        r = d1.request("DELETE", "/api/v1/profiles/" + pid)
        assert r.status == 200, r.text
        assert profile(d1, pid) is None
        assert count(pg, spa, "SELECT count(*) FROM massaged.profiles "
                     "WHERE id = '%s'" % pid) == 0
        tomb = pg.psql("SELECT row_to_json(e)::text FROM massaged.erasures "
                       "e WHERE profile_id = '%s'" % pid, db=spa).stdout
        assert NAME not in tomb and '"erased_by":"Table 1"' in tomb, tomb
        rec = json.loads(pg.psql(
            "SELECT line FROM massaged.records WHERE profile_id = '%s'"
            % pid, db=spa).stdout)
        assert rec["erased"] is True and rec["client"] == pid, rec
        assert rec["conditions"] == [] and rec["limits"] is None, rec
        dump = pg.psql("SELECT string_agg(line::text, '') FROM "
                       "massaged.records", db=spa).stdout
        assert NAME not in dump
        # table 2 comes back and applies it
        d2.start()
        try:
            came_back(d2, pid)
        finally:
            d2.stop()


def came_back(d2, pid):
    """Table 2, started again after an erasure of pid elsewhere."""
    d2.wait_ready()
    d2.wait_for(lambda: os.path.exists(os.path.join(
        d2.state_dir, "store-erasures")), timeout=SHIP_S,
        what="the erasure applied and kept")
    assert profile(d2, pid) is None
    assert not os.path.exists(os.path.join(d2.state_dir, "profiles",
                                           pid + ".ini"))
    with open(os.path.join(d2.state_dir, "sessions.jsonl")) as f:
        assert NAME not in f.read()
    assert [x["client"] for x in local_lines(d2)] == [pid, pid]
