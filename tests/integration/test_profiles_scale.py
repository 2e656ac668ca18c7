"""Profiles at scale (issue 24, case 1): GET /api/v1/profiles off the loop.

20,000 writable profiles in STATE_DIR/profiles (the most [daemon]
profiles_max allows by default) and a session at 50 Hz: pages of the list
and searches by name, again and again, while the session runs. The loop
never walks the profiles for a page (a reader thread answers with the ids
of one page, daemon/engine/profile-list.c, and the loop renders those few
a slice at a time, daemon/api/api-plist.c), so the session misses no tick
and no watchdog trips. Each page is bounded (limit at most 100), the
cursor walks every profile exactly once, a search finds by name, and a
creation beyond the cap is refused with 507 profiles_full, counting the
creations still being written. Before the fix one list call of 2,509
profiles held the loop for 0.88 s and stopped the session.

Bounded: 20,000 small files in the test's own directory, one daemon, about
a minute of requests to 127.0.0.1; every process is stopped by its PID.
"""

import json
import os
import re
import threading

import pytest

from daemon import TOKEN, Daemon, sim_controllers
from simctl import Sim

N = 20000
PAGE_MAX = 100
OPERATOR = "tablet-token-0123456789abc"
VIEWER = "viewer-token-0123456789abc"
TOKENS = [TOKEN, "tablet %s operator" % OPERATOR, "hall %s viewer" % VIEWER]
# Long enough for every request below; a stop would show as a state change.
PROGRAM = """\
[program]
name = Scale test: one long Swedish step
description = Ten minutes on the glutes, for the profile scale test.

[step long]
routine = swedish
duration_s = 600
zones = gluteus_maximus_*
stroke = kneading
pressure_kpa = 12
contact_kpa = 4
"""
PROFILE = """\
[client]
name = {name}
conditions = none
revision = 1

[limits]
cap_kpa = 20
ramp_kpa_s = 5
max_session_min = 30
intensity = 50
"""
# A few names to search for among the "Client NNNNN" ones.
SPECIAL = {7: "Zelda Quistgaard", 12345: "Bruno ZELDA-Meyer",
           19999: "Anna Zeldanova"}
NEW = {"name": "One Too Many", "conditions": [], "pressure": "medium",
       "ramp": "gentle"}


def name_of(i):
    return SPECIAL.get(i, "Client %05d" % i)


def pid_of(i):
    return "client_%08x" % i


def metric(d, name):
    r = d.request("GET", "/metrics", token=False)
    assert r.status == 200
    m = re.search(r"^%s (\S+)$" % re.escape(name), r.text, re.M)
    assert m, name
    return float(m.group(1))


def page(d, query="", token=True):
    r = d.request("GET", "/api/v1/profiles" + query, token=token,
                  timeout=30)
    assert r.status == 200, r
    return r


def write_profiles(d, n=N):
    """n writable profiles in the state directory of d (not yet started),
    as the API would have saved them; d.config_ids: the read-only ones."""
    store = os.path.join(d.state_dir, "profiles")
    os.makedirs(store, mode=0o700)
    for i in range(n):
        with open(os.path.join(store, pid_of(i) + ".ini"), "w") as f:
            f.write(PROFILE.format(name=name_of(i)))
    d.config_ids = sorted(fn[:-4] for fn in os.listdir(d.profile_dir)
                          if fn.endswith(".ini"))


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale")
    with Sim(tmp, controllers=sim_controllers()) as sim:
        d = Daemon(tmp, sim, tokens=TOKENS, start=False,
                   programs={"scale_test": PROGRAM}, start_timeout=180,
                   response_timeout_ms=200, watchdog_ms=1000)
        write_profiles(d)
        d.start()
        try:
            d.wait_ready(timeout=60)
            r = d.request("POST", "/api/v1/session",
                          {"program": "scale_test", "profile": "standard"})
            assert r.status == 201, r.text
            d.wait_state("running")
            d.session_id = d.status()["session_id"]
            yield d
        finally:
            d.stop()
        assert d.sanitizer_report() == ""


def missed(d):
    return metric(d, "massaged_missed_ticks_total")


def assert_session_on_time(d, missed0):
    """The session runs on, the one started, and the loop missed no tick
    since missed0: no watchdog tripped, no fault latched."""
    st = d.status()
    assert st["state"] == "running", st.get("last_stop")
    assert st["session_id"] == d.session_id
    assert missed(d) == missed0
    for c in st["controllers"]:
        assert c["connected"] and not c["status"]["fault"], c


def test_cursor_walks_every_profile_once(big):
    d = big
    m0 = missed(d)
    ids, cursor, pages = [], None, 0
    while True:
        r = page(d, "?limit=%d%s" % (PAGE_MAX, "&cursor=" + cursor
                                     if cursor else ""))
        doc = r.json()
        assert len(doc["profiles"]) <= PAGE_MAX
        assert len(r.body) < 1024 * 1024            # bounded, whatever N
        assert doc["total"] == N + len(d.config_ids)
        ids += [p["id"] for p in doc["profiles"]]
        pages += 1
        cursor = doc["next_cursor"]
        if cursor is None:
            break
        assert cursor == ids[-1]
    assert len(ids) == len(set(ids)), "a profile twice"
    assert ids == sorted(ids)
    assert set(ids) == {pid_of(i) for i in range(N)} | set(d.config_ids)
    assert pages == -(-(N + len(d.config_ids)) // PAGE_MAX)
    # Operators get each profile in full, limits and all.
    p = page(d, "?limit=1&cursor=" + pid_of(6)).json()["profiles"][0]
    assert p["id"] == pid_of(7) and p["name"] == "Zelda Quistgaard"
    assert p["writable"] is True and p["cap_kpa"] == 20.0 and p["limits"]
    assert_session_on_time(d, m0)


def test_page_size_is_capped(big):
    d = big
    doc = page(d).json()
    assert len(doc["profiles"]) == 50                   # the default
    assert doc["writable"] == N and doc["writable_max"] == N
    for bad in ("?limit=101", "?limit=0", "?limit=x", "?cursor=../x",
                "?q=" + "a" * 96, "?sort=name"):
        r = d.request("GET", "/api/v1/profiles" + bad)
        assert r.status == 400, (bad, r)
        assert r.json()["error"] == "bad_request"


def test_search_finds_by_name(big):
    d = big
    m0 = missed(d)
    doc = page(d, "?q=zelda").json()
    got = {p["id"]: p["name"] for p in doc["profiles"]}
    assert got == {pid_of(i): SPECIAL[i] for i in SPECIAL}
    assert doc["next_cursor"] is None
    # "client 1234": Client 12340 to 12349, but 12345 has another name.
    doc = page(d, "?q=Client%201234").json()
    names = sorted(p["name"] for p in doc["profiles"])
    assert names == ["Client %05d" % i for i in range(12340, 12350)
                     if i != 12345]
    # A search pages too, with the same cursor.
    first = page(d, "?q=client%20001&limit=4").json()
    assert len(first["profiles"]) == 4 and first["next_cursor"]
    rest = page(d, "?q=client%20001&limit=100&cursor=" +
                first["next_cursor"]).json()
    both = [p["id"] for p in first["profiles"] + rest["profiles"]]
    assert both == [pid_of(i) for i in range(100, 200)]
    assert rest["next_cursor"] is None
    assert page(d, "?q=nobody%20by%20that%20name").json()["profiles"] == []
    assert_session_on_time(d, m0)


def test_repeated_lists_and_searches_miss_no_tick(big):
    d = big
    m0 = missed(d)
    for k in range(30):
        page(d, "?limit=100&cursor=" + pid_of(k * 600))
        page(d, "?q=no%20such%20client%20" + str(k))      # a whole scan
        page(d, "?q=zelda", token=OPERATOR)
    assert_session_on_time(d, m0)


def test_viewer_sees_ids_and_cannot_search(big):
    d = big
    doc = page(d, "?limit=100", token=VIEWER).json()
    assert len(doc["profiles"]) == 100
    for p in doc["profiles"]:
        assert "name" not in p and "conditions" not in p, p
    r = d.request("GET", "/api/v1/profiles?q=zelda", token=VIEWER)
    assert r.status == 403 and r.json()["error"] == "forbidden"
    assert "Zelda" not in r.text


def test_massagectl_pages_and_searches(big):
    d = big
    m0 = missed(d)
    r = d.run_ctl("--json", "profiles", timeout=120)
    assert r.returncode == 0, r.stderr
    ids = [p["id"] for p in json.loads(r.stdout)["profiles"]]
    assert len(ids) == len(set(ids)) == N + len(d.config_ids)
    r = d.run_ctl("profiles", "ZeLdA")
    assert r.returncode == 0, r.stderr
    for i, name in SPECIAL.items():
        assert "%s  %s" % (pid_of(i), name) in r.stdout
    assert "Client " not in r.stdout
    r = d.run_ctl("profiles", "nobody by that name")
    assert r.returncode == 0 and "no profile matches" in r.stdout
    assert_session_on_time(d, m0)


def test_creation_beyond_the_cap_is_refused(big):
    d = big
    m0 = missed(d)
    r = d.request("POST", "/api/v1/profiles", NEW)
    assert r.status == 507, r
    doc = r.json()
    assert doc["error"] == "profiles_full"
    assert "profiles_max = %d" % N in doc["message"]
    assert d.config_path in doc["message"]
    assert not any(n.startswith("client_") and n not in
                   {pid_of(i) + ".ini" for i in range(N)}
                   for n in os.listdir(os.path.join(d.state_dir,
                                                    "profiles")))
    # Room for one: of four at once exactly one is created (the ones
    # still being written count against the cap).
    r = d.request("DELETE", "/api/v1/profiles/" + pid_of(42))
    assert r.status == 200, r
    codes = []

    def post():
        codes.append(d.request("POST", "/api/v1/profiles", NEW).status)
    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201, 507, 507, 507], codes
    assert page(d, "?q=one%20too%20many").json()["profiles"][0]["name"] \
        == "One Too Many"
    assert page(d).json()["writable"] == N
    assert_session_on_time(d, m0)
