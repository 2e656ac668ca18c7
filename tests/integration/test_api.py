"""Integration tests of the control API, the event stream, the static panel
and massagectl: real HTTP against the real daemon and the real simulator.

Run: MASSAGED_BUILD=build /usr/bin/python3 -m pytest -q \\
         tests/integration/test_api.py

Most tests share one simulator and one daemon (module fixture `env`) and
leave it idle; tests that need their own configuration start their own.
Every process runs on kernel-chosen ports in a temp directory and is stopped
by its PID.
"""

import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon import (TOKEN, Daemon, daemon_binary, free_port,  # noqa: E402
                    sim_controllers)
from simctl import Sim, sim_binary, wait_for  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (os.access(daemon_binary(), os.X_OK) and os.access(sim_binary(),
                                                          os.X_OK)),
    reason="massaged or massaged-sim not built (set MASSAGED_BUILD)")

START = {"program": "api_test", "profile": "standard"}

# Every route of the contract: (method, path, body).
ROUTES = [
    ("GET", "/api/v1/status", None),
    ("GET", "/api/v1/programs", None),
    ("GET", "/api/v1/profiles", None),
    ("GET", "/api/v1/routines", None),
    ("GET", "/api/v1/causes", None),
    ("GET", "/api/v1/sessions?limit=3", None),
    ("POST", "/api/v1/session", START),
    ("POST", "/api/v1/session/pause", None),
    ("POST", "/api/v1/session/resume", None),
    ("POST", "/api/v1/session/stop", None),
    ("PUT", "/api/v1/session/intensity", {"percent": 50}),
    ("POST", "/api/v1/estop", None),
    ("POST", "/api/v1/reset", None),
    ("GET", "/api/v1/events", None),
    ("GET", "/api/v1/whoami", None),
]


class Env:
    def __init__(self, sim, d):
        self.sim = sim
        self.d = d

    def idle(self):
        """Back to idle whatever the test left: e-stop, release, reset."""
        d, sim = self.d, self.sim
        for c in range(len(sim.ports)):
            sim.ok("estop %d off" % c)
            sim.ok("client_stop %d off" % c)
        st = d.status()
        if st["state"] in ("running", "paused", "stopping"):
            assert d.request("POST", "/api/v1/estop").status == 200
        deadline = time.monotonic() + 10
        while True:
            st = d.status()
            if st["state"] == "idle":
                return st
            if st["state"] == "fault":
                d.request("POST", "/api/v1/reset")
            if time.monotonic() > deadline:
                raise AssertionError("daemon not idle: %r" % st)
            time.sleep(0.05)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    sim = Sim(tmp, controllers=sim_controllers())
    d = None
    try:
        d = Daemon(tmp, sim)
        d.wait_ready()
        yield Env(sim, d)
    finally:
        rc = d.stop() if d is not None else 0
        sim.stop()
        if d is not None:
            assert d.sanitizer_report() == "", d.sanitizer_report()
            assert rc == 0, d.logs()[-3000:]


@pytest.fixture
def e(env):
    """The shared daemon, idle before and after the test."""
    env.idle()
    yield env
    env.idle()


@pytest.fixture
def make_daemon(tmp_path):
    """Own daemons (and simulators) for tests that need a special setup."""
    made = []

    def make(sim=True, **kw):
        s = Sim(tmp_path, controllers=sim_controllers()) if sim else None
        if s is not None:
            made.append(s)
        kw.setdefault("name", "massaged-%d" % len(made))
        d = Daemon(tmp_path, s.ports if s else [free_port(), free_port()],
                   **kw)
        made.append(d)
        return d, s

    yield make
    for p in reversed(made):
        p.stop()
    for p in made:
        if isinstance(p, Daemon):
            assert p.sanitizer_report() == "", p.sanitizer_report()


def error_of(r, status, code=None):
    assert r.status == status, r
    assert r.headers["content-type"].startswith("application/json"), r.headers
    doc = r.json()
    assert isinstance(doc["message"], str) and doc["message"], doc
    if code is not None:
        assert doc["error"] == code, doc
    return doc


def start(d, body=START):
    r = d.request("POST", "/api/v1/session", body)
    assert r.status == 201, r
    return r.json()


# --- basics ---------------------------------------------------------------

def test_listens_on_a_free_port_and_logs_it(env):
    d = env.d
    assert d.port and d.port != 0
    assert re.search(r"^<6>massaged: api: listening on http://127\.0\.0\.1:%d/$"
                     % d.port, d.logs(), re.M), d.logs()
    assert "not a loopback" not in d.logs()


def test_status_document(e):
    r = e.d.request("GET", "/api/v1/status")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    st = r.json()
    for key in ("state", "program", "profile", "step", "routine",
                "elapsed_s", "remaining_s", "intensity", "zones",
                "controllers", "fault", "last_stop"):
        assert key in st, key
    assert st["state"] == "idle"
    assert st["fault"] is None
    assert len(st["zones"]) == 26
    z = {z["name"]: z for z in st["zones"]}["piriformis_left"]
    assert z == dict(z, along_cm=95.0, across_cm=-9.0, width_cm=9.0,
                     length_cm=6.0, controller="pelvis", limit_kpa=35.0,
                     excluded=False, setpoint_kpa=0.0)
    assert z["pressure_kpa"] == 0.0
    assert isinstance(z["limit_reason"], str)
    names = [c["name"] for c in st["controllers"]]
    assert names == ["pelvis", "legs"]
    for c in st["controllers"]:
        assert c["connected"] is True
        assert c["status"]["ready"] is True and c["status"]["fault"] is False
        assert c["fault_code"] == 0 and c["error"] is None
        assert c["rating_kpa"] == 40.0


def test_programs_with_steps(e):
    r = e.d.request("GET", "/api/v1/programs")
    assert r.status == 200
    progs = {p["id"]: p for p in r.json()["programs"]}
    p = progs["api_test"]
    assert p["name"] == "API test: Swedish on the glutes"
    assert p["duration_s"] == 60.0
    assert [s["name"] for s in p["steps"]] == ["warmup", "glide"]
    s = p["steps"][0]
    assert s["routine"] == "swedish" and s["duration_s"] == 30.0
    assert s["zones"] == ["gluteus_maximus_left", "gluteus_maximus_right",
                          "gluteus_medius_left", "gluteus_medius_right"]
    assert s["params"]["stroke"] == "kneading"
    assert s["params"]["pressure_kpa"] == 14.0
    assert s["params"]["contact_kpa"] == 4.0
    assert p["steps"][1]["params"]["stroke"] == "effleurage"


def test_profiles_with_limits_conditions_and_refusals(e):
    r = e.d.request("GET", "/api/v1/profiles")
    assert r.status == 200
    profs = {p["id"]: p for p in r.json()["profiles"]}
    std = profs["standard"]
    assert std["cap_kpa"] == 30.0 and std["intensity"] == 75
    assert std["conditions"] == [] and std["refusals"] == {}
    assert {"zones": "piriformis_*", "cap_kpa": 20.0} in std["zone_caps"]
    lim = {z["zone"]: z for z in std["limits"]}
    assert lim["piriformis_left"]["limit_kpa"] == 20.0
    assert lim["sciatic_notch_left"]["limit_kpa"] <= 8.0

    dvt = profs["refused_dvt"]
    assert dvt["conditions"][0]["name"] == "dvt"
    assert dvt["conditions"][0]["reason"].startswith("Deep vein thrombosis")
    assert dvt["conditions"][0]["refuse"] is True
    assert set(dvt["refusals"]) >= {"api_test", "api_test_deep"}
    assert "Deep vein thrombosis" in dvt["refusals"]["api_test"]

    anti = profs["anticoagulated"]
    assert "api_test_deep" in anti["refusals"]
    assert "api_test" not in anti["refusals"]
    assert "deep_tissue" in anti["conditions"][0]["forbid_routines"]

    var = {z["zone"]: z for z in profs["varicose"]["limits"]}
    assert var["calf_left"]["excluded"] is True
    assert var["calf_left"]["limit_kpa"] == 0.0


def test_routines_with_parameters(e):
    r = e.d.request("GET", "/api/v1/routines")
    assert r.status == 200
    rs = {x["name"]: x for x in r.json()["routines"]}
    sw = rs["swedish"]
    assert sw["version"] and sw["description"]
    assert sw["flags"] == []
    params = {p["name"]: p for p in sw["params"]}
    assert params["stroke"]["type"] == "choice"
    assert params["stroke"]["choices"] == ["effleurage", "kneading",
                                           "circular"]
    assert params["stroke"]["default"] == "effleurage"
    pk = params["pressure_kpa"]
    assert (pk["type"], pk["unit"], pk["min"], pk["max"]) == \
        ("real", "kPa", 2.0, 30.0)
    assert pk["help"]
    assert rs["deep_tissue"]["flags"] == ["focused"]


def test_metrics_and_panel_need_no_token(e):
    r = e.d.request("GET", "/metrics", token=None)
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE" in r.body
    r = e.d.request("GET", "/", token=None)
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/html")
    assert b"massaged" in r.body


# --- authentication -------------------------------------------------------

@pytest.mark.parametrize("method,path,body", ROUTES)
def test_every_api_route_needs_a_token(e, method, path, body):
    before = e.d.status()
    for token in (None, "wrong-token-0123456789abcdef", TOKEN[:-1],
                  TOKEN + "x"):
        r = e.d.request(method, path, body, token=token)
        doc = error_of(r, 401, "unauthorized")
        assert "Bearer" in r.headers["www-authenticate"]
        assert "token" in doc["message"]
    # Nothing happened: not even the e-stop acts without a token.
    assert e.d.status()["state"] == before["state"] == "idle"
    assert e.d.status()["fault"] is None


def test_token_header_forms(e):
    d = e.d
    r = d.request("GET", "/api/v1/status", token=None,
                  headers={"Authorization": "bearer " + TOKEN})
    assert r.status == 200
    r = d.request("GET", "/api/v1/status", token=None,
                  headers={"Authorization": "Basic " + TOKEN})
    assert r.status == 401
    r = d.request("GET", "/api/v1/status", token="x" * 300)
    assert r.status == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    r = d.request("GET", "/api/v1/status", token=None)
    assert 'error=' not in r.headers["www-authenticate"]


# --- routing errors ---------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/status/",
                                  "/api/v2/status", "/api", "/api/v1"])
def test_unknown_api_path_is_404(e, path):
    error_of(e.d.request("GET", path), 404, "not_found")


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/api/v1/status", "GET"),
    ("POST", "/api/v1/status", "GET"),
    ("GET", "/api/v1/session", "POST"),
    ("PUT", "/api/v1/session", "POST"),
    ("POST", "/api/v1/session/intensity", "PUT"),
    ("GET", "/api/v1/estop", "POST"),
    ("PATCH", "/api/v1/reset", "POST"),
    ("OPTIONS", "/api/v1/events", "GET"),
    ("POST", "/metrics", "GET"),
    ("POST", "/", "GET, HEAD"),
    ("DELETE", "/index.html", "GET, HEAD"),
])
def test_wrong_method_is_405_with_allow(e, method, path, allow):
    r = e.d.request(method, path)
    error_of(r, 405, "method_not_allowed")
    assert r.headers["allow"] == allow
    assert e.d.status()["state"] == "idle"


# --- request bodies ---------------------------------------------------------

@pytest.mark.parametrize("body,field,what", [
    ({"program": 5, "profile": "standard"}, "program", "expected a string"),
    ({"program": None, "profile": "standard"}, "program",
     "expected a string"),
    ({"program": ["api_test"], "profile": "standard"}, "program",
     "expected a string"),
    ({"program": "api_test"}, "profile", "missing"),
    ({"profile": "standard"}, "program", "missing"),
    ({"program": "api_test", "profile": "standard", "extra": 1}, "extra",
     "unknown field"),
    ({"program": "", "profile": "standard"}, "program", "expected the id"),
    ({"program": "a" * 200, "profile": "standard"}, "program",
     "expected the id"),
    ({"program": "api test", "profile": "standard"}, "program",
     "expected the id"),
    ({"program": "api_test\n", "profile": "standard"}, "program",
     "expected the id"),
])
def test_start_body_is_checked_field_by_field(e, body, field, what):
    doc = error_of(e.d.request("POST", "/api/v1/session", body), 400,
                   "bad_request")
    assert "field '%s'" % field in doc["message"], doc
    assert what in doc["message"], doc
    assert e.d.status()["state"] == "idle"


@pytest.mark.parametrize("raw,what", [
    (b'{"program": "api_test", "profile": }', "line 1, column"),
    (b'{"program": "api_test",\n "profile": "standard"', "line 2, column"),
    (b"not json", "line 1, column"),
    (b'{"program": "api_test", "program": "x", "profile": "standard"}',
     "duplicate"),
    (b'["api_test", "standard"]', "must be a JSON object"),
    (b'"api_test"', "line 1, column"),
    (b'{"program": "api_test", "profile": "standard"} trailing',
     "line 1, column"),
])
def test_malformed_json_is_400_naming_where(e, raw, what):
    doc = error_of(e.d.request("POST", "/api/v1/session", raw=raw), 400,
                   "bad_request")
    assert what in doc["message"], doc
    assert e.d.status()["state"] == "idle"


def test_start_needs_a_body_and_json_content_type(e):
    doc = error_of(e.d.request("POST", "/api/v1/session"), 400,
                   "bad_request")
    assert "JSON object is required" in doc["message"]
    error_of(e.d.request("POST", "/api/v1/session", START,
                         content_type="text/plain"), 415,
             "unsupported_media_type")
    error_of(e.d.request("POST", "/api/v1/session", START,
                         content_type=None), 415)
    r = e.d.request("POST", "/api/v1/session", START,
                    content_type="application/json; charset=utf-8")
    assert r.status == 201, r


def test_commands_without_fields_refuse_a_body_with_fields(e):
    start(e.d)
    doc = error_of(e.d.request("POST", "/api/v1/session/pause",
                               {"now": True}), 400, "bad_request")
    assert "field 'now'" in doc["message"]
    assert e.d.status()["state"] == "running"
    r = e.d.request("POST", "/api/v1/session/pause", {})
    assert r.status == 200 and r.json()["state"] == "paused"


@pytest.mark.parametrize("body", [
    {"percent": 5}, {"percent": 9}, {"percent": 101}, {"percent": -50},
    {"percent": 50.5}, {"percent": 50.0}, {"percent": "50"},
    {"percent": True}, {"percent": None}, {}, {"pct": 50},
    {"percent": 50, "extra": 1},
])
def test_intensity_is_checked(e, body):
    start(e.d)
    r = e.d.request("PUT", "/api/v1/session/intensity", body)
    doc = error_of(r, 400, "bad_request")
    if "percent" in body and len(body) == 1:
        assert doc["message"] == ("field 'percent': expected an integer "
                                  "from 10 to 100")
    else:
        assert "field '" in doc["message"]
    assert e.d.status()["intensity"] == 75   # unchanged


def test_oversized_body_is_413_and_nothing_breaks(e):
    big = {"program": "api_test", "profile": "standard",
           "pad": "x" * (17 * 1024)}
    try:
        r = e.d.request("POST", "/api/v1/session", big)
        assert r.status == 413, r
    except (ConnectionError, http.client.HTTPException) as ex:
        pytest.fail("no 413 reply: %r" % ex)
    # A body just under the limit gets through to the checks.
    ok = {"program": "api_test", "profile": "standard",
          "pad": "x" * (15 * 1024)}
    doc = error_of(e.d.request("POST", "/api/v1/session", ok), 400)
    assert "field 'pad'" in doc["message"]
    assert e.d.status()["state"] == "idle"


def test_oversized_headers_are_refused(e):
    r = e.d.request("GET", "/api/v1/status",
                    headers={"X-Big": "y" * (9 * 1024)})
    assert r.status in (400, 413, 431), r
    assert e.d.request("GET", "/api/v1/status").status == 200


# --- sessions ---------------------------------------------------------------

def test_session_lifecycle(e):
    d, sim = e.d, e.sim
    st = start(d)
    assert st["state"] == "running"
    assert st["program"] == "api_test" and st["profile"] == "standard"
    assert st["step"]["index"] == 0 and st["step"]["name"] == "warmup"
    assert st["routine"] == "swedish" and st["step"]["routine"] == "swedish"
    assert st["intensity"] == 75
    assert 59 <= st["remaining_s"] <= 60
    sid = st["session_id"]

    # Pressure rises where the program works, and only there.
    def pressed():
        zs = {z["name"]: z for z in d.status()["zones"]}
        return zs["gluteus_maximus_left"]["pressure_kpa"] > 2 and zs
    zs = d.wait_for(pressed, 10, what="pressure on the glutes")
    assert zs["calf_left"]["pressure_kpa"] == 0.0
    assert max(sim.get(0)["pressures"]) > 2
    for z in zs.values():
        assert z["pressure_kpa"] <= z["limit_kpa"] + 0.5

    r = d.request("POST", "/api/v1/session/pause")
    assert r.status == 200 and r.json()["state"] == "paused"
    error_of(d.request("POST", "/api/v1/session/pause"), 409,
             "invalid_state")
    r = d.request("POST", "/api/v1/session/resume")
    assert r.status == 200 and r.json()["state"] == "running"
    error_of(d.request("POST", "/api/v1/session/resume"), 409,
             "invalid_state")
    r = d.request("PUT", "/api/v1/session/intensity", {"percent": 50})
    assert r.status == 200 and r.json()["intensity"] == 50
    r = d.request("POST", "/api/v1/session/stop")
    assert r.status == 200
    assert r.json()["state"] in ("stopping", "idle")
    st = d.wait_state("idle", 20)
    assert st["last_stop"] == {"reason": "operator", "category": 1,
                               "message": "stopped by the operator",
                               "by": "admin"}
    assert st["program"] is None and st["intensity"] is None

    def recorded():
        r = d.request("GET", "/api/v1/sessions?limit=1")
        assert r.status == 200
        s = r.json()["sessions"]
        return s and s[0]["id"] == sid and s[0]["phase"] == "end" and s[0]
    rec = d.wait_for(recorded, 10, what="the session record")
    assert rec["program"] == "api_test" and rec["end_reason"] == "operator"


def test_start_reply_waits_for_the_session_record(e):
    d = e.d
    st = start(d)
    r = d.request("GET", "/api/v1/sessions?limit=1")
    s = r.json()["sessions"]
    assert s and s[0]["id"] == st["session_id"], s


def test_sessions_limit(e):
    d = e.d
    for _ in range(3):
        start(d)
        assert d.request("POST", "/api/v1/estop").status == 200
        e.idle()
    r = d.request("GET", "/api/v1/sessions?limit=2")
    assert r.status == 200 and len(r.json()["sessions"]) == 2
    ids = [s["id"] for s in r.json()["sessions"]]
    assert ids == sorted(ids, reverse=True)
    r = d.request("GET", "/api/v1/sessions")
    assert r.status == 200 and 3 <= len(r.json()["sessions"]) <= 20
    for q in ("limit=0", "limit=1001", "limit=abc", "limit=", "limit=5x",
              "limit=-1", "count=5"):
        doc = error_of(d.request("GET", "/api/v1/sessions?" + q), 400,
                       "bad_request")
        assert "limit" in doc["message"], doc


def test_start_refusals(e):
    d = e.d
    doc = error_of(d.request("POST", "/api/v1/session",
                             {"program": "nope", "profile": "standard"}),
                   404, "not_found")
    assert "nope" in doc["message"]
    error_of(d.request("POST", "/api/v1/session",
                       {"program": "api_test", "profile": "nobody"}),
             404, "not_found")
    doc = error_of(d.request("POST", "/api/v1/session",
                             {"program": "api_test",
                              "profile": "refused_dvt"}),
                   422, "contraindicated")
    assert "Deep vein thrombosis" in doc["message"]
    doc = error_of(d.request("POST", "/api/v1/session",
                             {"program": "api_test_deep",
                              "profile": "anticoagulated"}),
                   422, "contraindicated")
    assert "deep_tissue" in doc["message"]
    assert d.status()["state"] == "idle"
    # The same program is fine for a profile without that condition.
    assert start(d, {"program": "api_test_deep",
                     "profile": "standard"})["state"] == "running"


def test_409_busy_and_fault(e):
    d = e.d
    start(d)
    doc = error_of(d.request("POST", "/api/v1/session", START), 409, "busy")
    assert "running" in doc["message"]
    r = d.request("POST", "/api/v1/estop")
    assert r.status == 200 and r.json()["state"] == "fault"
    doc = error_of(d.request("POST", "/api/v1/session", START), 409,
                   "fault_latched")
    assert "reset" in doc["message"]
    error_of(d.request("PUT", "/api/v1/session/intensity",
                       {"percent": 50}), 409, "invalid_state")
    error_of(d.request("POST", "/api/v1/session/stop"), 409)


def test_estop_vents_every_controller_and_latches(e):
    d, sim = e.d, e.sim
    start(d)
    d.wait_for(lambda: max(sim.get(0)["pressures"]) > 3, 10,
               what="pressure")
    t0 = time.monotonic()
    r = d.request("POST", "/api/v1/estop")
    assert r.status == 200
    st = r.json()
    assert st["state"] == "fault"
    assert "emergency stop" in st["fault"]
    assert st["last_stop"]["reason"] == "estop"
    assert st["last_stop"]["category"] == 0
    # CONTROL = 0 on every controller at once, then the pressure is gone.
    wait_for(lambda: all(sim.get(c)["control"] == 0 for c in (0, 1)), 1.0,
             what="CONTROL = 0 everywhere")
    wait_for(lambda: all(max(sim.get(c)["pressures"]) < 0.5
                         for c in (0, 1)), 2.0, what="every zone vented")
    assert time.monotonic() - t0 < 2.5
    # An e-stop when nothing runs still latches.
    r = d.request("POST", "/api/v1/reset")
    assert r.status == 200 and r.json()["state"] == "idle"
    r = d.request("POST", "/api/v1/estop")
    assert r.status == 200 and r.json()["state"] == "fault"


def test_estop_ignores_its_body(e):
    start(e.d)
    r = e.d.request("POST", "/api/v1/estop", raw=b"{{{ not json",
                    content_type="text/plain")
    assert r.status == 200 and r.json()["state"] == "fault"


def test_reset_refused_while_the_cause_is_there(e):
    d, sim = e.d, e.sim
    sim.ok("estop 1 on")
    d.wait_state("fault", 5)
    doc = error_of(d.request("POST", "/api/v1/reset"), 409, "not_ready")
    assert "e-stop circuit is still open" in doc["message"]
    assert "legs" in doc["message"]
    sim.ok("estop 1 off")
    d.wait_for(lambda: not d.status()["controllers"][1]["status"]["estop"],
               5, what="the daemon to see the circuit closed")
    r = d.request("POST", "/api/v1/reset")
    assert r.status == 200 and r.json()["state"] == "idle"
    d.wait_ready()


def test_concurrent_starts_exactly_one_wins(e):
    d = e.d
    n = 16
    barrier = threading.Barrier(n)
    results = []
    lock = threading.Lock()

    def go():
        barrier.wait()
        r = d.request("POST", "/api/v1/session", START)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=go) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(r.status for r in results)
    assert codes == [201] + [409] * (n - 1), codes
    assert all(r.json()["error"] == "busy" for r in results
               if r.status == 409)


# --- the event stream -------------------------------------------------------

class Stream:
    """A reader of /api/v1/events on its own connection."""

    def __init__(self, d, token=True):
        self.conn = d.connection(timeout=10)
        h = {"Accept": "text/event-stream"}
        if token:
            h["Authorization"] = "Bearer " + d.token
        self.conn.request("GET", "/api/v1/events", headers=h)
        self.resp = self.conn.getresponse()
        self.events = []
        self._buf = b""
        self._stop = False
        self._lock = threading.Lock()
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self._stop:
            try:
                chunk = self.resp.read1(65536)
            except Exception:   # closed under our feet: the test is over
                return
            if not chunk:
                return
            self._buf += chunk
            while b"\n\n" in self._buf:
                block, self._buf = self._buf.split(b"\n\n", 1)
                typ, data = "message", []
                for line in block.decode().split("\n"):
                    if line.startswith("event:"):
                        typ = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip(" "))
                if data:
                    with self._lock:
                        self.events.append((time.monotonic(), typ,
                                            json.loads("\n".join(data))))

    def of(self, typ):
        with self._lock:
            return [ev for ev in self.events if ev[1] == typ]

    def wait(self, typ, pred=lambda d: True, timeout=10):
        return wait_for(lambda: next((ev[2] for ev in self.of(typ)
                                      if pred(ev[2])), None), timeout,
                        what="event %s" % typ)

    def close(self):
        self._stop = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self.conn.close()


def test_event_stream_status_rate_and_format(e):
    s = Stream(e.d)
    try:
        assert s.resp.status == 200
        assert s.resp.getheader("Content-Type").startswith(
            "text/event-stream")
        assert s.resp.getheader("Cache-Control") == "no-store"
        s.start()
        time.sleep(3.2)
        st = s.of("status")
        recent = [ev for ev in st if ev[0] >= st[0][0] + 0.1]
        span = recent[-1][0] - recent[0][0]
        rate = (len(recent) - 1) / span
        assert rate >= 5, "%.1f status events per second" % rate
        assert st[-1][2]["state"] == "idle"
        assert len(st[-1][2]["zones"]) == 26
    finally:
        s.close()


def test_event_stream_state_changes(e):
    d, sim = e.d, e.sim
    s = Stream(d).start()
    try:
        s.wait("status")
        sid = start(d)["session_id"]
        ev = s.wait("started")
        assert ev["session_id"] == sid and ev["program"] == "api_test"
        assert ev["step_name"] == "warmup" and ev["routine"] == "swedish"
        d.request("POST", "/api/v1/session/pause")
        s.wait("paused")
        d.request("POST", "/api/v1/session/resume")
        s.wait("resumed")
        d.request("POST", "/api/v1/session/stop")
        ev = s.wait("stopping")
        assert ev["reason"] == "operator" and ev["category"] == 1
        ev = s.wait("stopped", timeout=20)
        assert ev["reason"] == "operator"
        assert ev["message"] == "stopped by the operator"
        # Every status snapshot after the stop says idle.
        s.wait("status", lambda st: st["state"] == "idle")

        start(d)
        d.request("POST", "/api/v1/estop")
        ev = s.wait("stopped", lambda ev: ev["reason"] == "estop")
        assert ev["category"] == 0
        ev = s.wait("fault")
        assert "emergency stop" in ev["message"]
        d.request("POST", "/api/v1/reset")
        s.wait("reset")
        # A fault from the table itself, with no session running.
        sim.ok("estop 0 on")
        ev = s.wait("fault", lambda ev: "e-stop circuit" in ev["message"])
        assert "pelvis" in ev["message"]
    finally:
        s.close()


def test_event_stream_step_event(make_daemon):
    d, sim = make_daemon(programs={"two_steps": """\
[program]
name = Two short steps

[step one]
routine = swedish
duration_s = 2
zones = gluteus_maximus_*

[step two]
routine = swedish
duration_s = 30
zones = hamstring_upper_*
"""})
    d.wait_ready()
    s = Stream(d).start()
    try:
        start(d, {"program": "two_steps", "profile": "standard"})
        ev = s.wait("step", timeout=10)
        assert ev["step"] == 1 and ev["step_name"] == "two"
        st = d.status()
        assert st["step"]["index"] == 1 and st["step"]["name"] == "two"
    finally:
        s.close()


def test_event_stream_reloaded_event_and_token_reload(e):
    d = e.d
    s = Stream(d).start()
    new = "a-brand-new-token-for-reload-0001"
    try:
        s.wait("status")
        d.write_tokens([TOKEN, new])
        d.signal(signal.SIGHUP)
        s.wait("reloaded")
        assert d.request("GET", "/api/v1/status", token=new).status == 200
        d.write_tokens([TOKEN])
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: d.request("GET", "/api/v1/status",
                                     token=new).status == 401, 5,
                   what="the old token to be refused")
        # A broken token file on reload keeps the tokens that work.
        d.write_tokens([TOKEN], mode=0o644)
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: "tokens not reloaded" in d.logs(), 5)
        assert d.request("GET", "/api/v1/status").status == 200
    finally:
        d.write_tokens([TOKEN])
        s.close()


def test_event_stream_needs_a_token(e):
    s = Stream(e.d, token=False)
    try:
        assert s.resp.status == 401
        assert "Bearer" in s.resp.getheader("WWW-Authenticate")
    finally:
        s.close()


def test_vanished_stream_client_is_forgotten(e):
    d = e.d
    n0 = d.logs().count("event stream client gone")
    s = Stream(d).start()
    s.wait("status")
    s.close()
    d.wait_for(lambda: d.logs().count("event stream client gone") > n0, 5,
               what="the daemon to notice the client left")


def test_slow_stream_client_is_dropped_without_blocking(e):
    d = e.d
    n0 = d.logs().count("dropping an event stream client")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((d.host, d.port))
    sock.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: t\r\n"
                  "Authorization: Bearer %s\r\n\r\n" % d.token).encode())
    try:
        deadline = time.monotonic() + 60
        worst = 0.0
        while d.logs().count("dropping an event stream client") == n0:
            assert time.monotonic() < deadline, "slow client never dropped"
            t0 = time.monotonic()
            assert d.request("GET", "/api/v1/status").status == 200
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.2)
        assert worst < 1.0, "the API waited %.2f s for a slow client" % worst
    finally:
        sock.close()


def test_stream_clients_are_capped(e):
    """16 streams per token (test_roles.py has the caps per role and in
    all)."""
    d = e.d
    streams = []
    try:
        for _ in range(16):
            s = Stream(d)
            assert s.resp.status == 200
            streams.append(s.start())
        s = Stream(d)
        streams.append(s)
        assert s.resp.status == 503
        doc = json.loads(s.resp.read())
        assert doc["error"] == "too_many_streams"
        assert "at most 16 per token" in doc["message"]
    finally:
        for s in streams:
            s.close()
    # Once they are gone a new client gets in again.
    d.wait_for(lambda: Stream(d).resp.status == 200, 10,
               what="a free stream slot")


# --- the panel's files --------------------------------------------------------

def test_panel_files_and_types(e):
    d = e.d
    for path, ctype in (("/", "text/html"), ("/index.html", "text/html"),
                        ("/panel.css", "text/css"),
                        ("/panel.js", "text/javascript")):
        r = d.request("GET", path, token=None)
        assert r.status == 200, path
        assert r.headers["content-type"].startswith(ctype), r.headers
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
    r = d.request("HEAD", "/panel.js", token=None)
    assert r.status == 200 and r.body == b""
    assert int(r.headers["content-length"]) == os.path.getsize(
        os.path.join(d.daemon_keys["panel_dir"], "panel.js"))


@pytest.mark.parametrize("path", [
    "/../massaged.ini", "/..%2fmassaged.ini", "/%2e%2e/massaged.ini",
    "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "/panel.js%00.html",
    "/.%2e/tokens", "//etc/passwd", "/index.html/", "/nope.html",
    "/panel.js/..", "/./index.html", "/%5c..%5cmassaged.ini",
])
def test_panel_refuses_traversal(e, path):
    conn = e.d.connection()
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    assert r.status in (400, 404), (path, r.status)
    assert b"[daemon]" not in body and b"root:" not in body
    assert TOKEN.encode() not in body


def test_panel_refuses_symlinks_out_of_its_directory(make_daemon,
                                                     tmp_path):
    panel = tmp_path / "panel"
    panel.mkdir()
    (panel / "index.html").write_text("<!doctype html><title>t</title>")
    secret = tmp_path / "secret.txt"
    secret.write_text("the secret")
    os.symlink(secret, panel / "leak.txt")
    os.symlink(panel / "index.html", panel / "alias.html")
    d, _ = make_daemon(sim=False, panel_dir=str(panel))
    r = d.request("GET", "/leak.txt", token=None)
    assert r.status == 404 and b"the secret" not in r.body
    assert d.request("GET", "/alias.html", token=None).status == 200
    assert d.request("GET", "/", token=None).status == 200


# --- starting the daemon ------------------------------------------------------

@pytest.mark.parametrize("case,expect", [
    ("mode0644", "readable or writable by group or others"),
    ("mode0640", "readable or writable by group or others"),
    ("mode0602", "readable or writable by group or others"),
    ("missing", "No such file"),
    ("empty", "has no token"),
    ("short", "a token must have 16"),
])
def test_daemon_refuses_a_bad_token_file(make_daemon, case, expect):
    d, _ = make_daemon(sim=False, start=False)
    if case.startswith("mode"):
        d.write_tokens([TOKEN], mode=int(case[4:], 8))
    elif case == "missing":
        os.unlink(d.token_path)
    elif case == "empty":
        d.write_tokens(["", "# only a comment"])
    elif case == "short":
        d.write_tokens(["tooshort"])
    d.spawn()
    rc = d.wait_exit(30)
    assert rc != 0
    log = d.logs()
    assert "cannot start the API" in log
    assert expect in log, log
    assert d.token_path in log
    if case == "mode0644":
        assert "chmod 600" in log and "0644" in log


# --- named tokens, roles and actors ------------------------------------------

TABLET = "tablet-2-token-0123456789"
VIEWER = "viewer-token-0123456789ab"


def test_named_tokens_roles_and_actors(make_daemon):
    """`name token role` lines: the name travels with every command into
    the log, the event stream ("by"), the status and the session record; a
    viewer watches and presses STOP, nothing else; a bare token line is the
    admin, named admin."""
    d, sim = make_daemon(tokens=[TOKEN, "tablet-2 %s operator" % TABLET,
                                 "hall viewer-token-0123456789ab viewer"])
    d.wait_ready()
    who = d.request("GET", "/api/v1/whoami", token=TABLET).json()
    assert who == {"name": "tablet-2", "role": "operator"}
    assert d.request("GET", "/api/v1/whoami").json() == {
        "name": "admin", "role": "admin"}
    assert d.request("GET", "/api/v1/whoami", token=VIEWER).json() == {
        "name": "hall", "role": "viewer"}
    # A viewer watches: reads pass, commands are 403 and change nothing.
    assert d.request("GET", "/api/v1/status", token=VIEWER).status == 200
    for method, path, body in [("POST", "/api/v1/session", START),
                               ("POST", "/api/v1/reset", None),
                               ("PUT", "/api/v1/session/intensity",
                                {"percent": 50})]:
        doc = error_of(d.request(method, path, body, token=VIEWER), 403,
                       "forbidden")
        assert "viewer" in doc["message"] and "hall" in doc["message"]
    assert d.status()["state"] == "idle"
    s = Stream(d).start()
    try:
        s.wait("status")
        r = d.request("POST", "/api/v1/session", START, token=TABLET)
        assert r.status == 201, r
        assert r.json()["started_by"] == "tablet-2"
        ev = s.wait("started")
        assert ev["by"] == "tablet-2"
        d.request("POST", "/api/v1/session/pause")
        assert s.wait("paused")["by"] == "admin"
        # ... but STOP, the viewer may press.
        assert d.request("POST", "/api/v1/estop", token=VIEWER).status == 200
        ev = s.wait("stopped", lambda ev: ev["reason"] == "estop")
        assert ev["by"] == "hall"
        assert "emergency stop by hall" in ev["message"]
        st = d.status()
        assert st["state"] == "fault" and st["fault_reason"] == "estop"
        assert st["last_stop"]["by"] == "hall"
        assert st["started_by"] == "tablet-2"
        r = d.request("POST", "/api/v1/reset", token=TABLET)
        assert r.status == 200, r
        assert s.wait("reset")["by"] == "tablet-2"
        assert d.status()["reset_by"] == "tablet-2"
        # A fault the table raises itself names nobody.
        sim.ok("estop 0 on")
        ev = s.wait("fault", lambda ev: "e-stop circuit" in ev["message"])
        assert ev["by"] is None and ev["reason"] == "estop_circuit"
        sim.ok("estop 0 off")
        d.wait_for(lambda: d.request("POST", "/api/v1/reset",
                                     token=TABLET).status == 200, 5,
                   what="a reset once the circuit is closed")
        start(d)
        d.request("POST", "/api/v1/session/stop", token=TABLET)
        d.wait_state("idle", timeout=30)
    finally:
        s.close()
    recs = d.request("GET", "/api/v1/sessions?limit=5").json()["sessions"]
    last, first = recs[0], recs[-1]
    assert first["started_by"] == "tablet-2" and first["stopped_by"] == "hall"
    assert last["started_by"] == "admin" and last["stopped_by"] == "tablet-2"
    assert last["reset_by"] == "tablet-2"    # the reset it followed
    log = d.logs()
    assert "session started by tablet-2" in log
    assert "emergency stop by hall" in log
    assert "fault reset by tablet-2" in log
    assert "by hall refused: a viewer may watch and press STOP only" in log


@pytest.mark.parametrize("lines,expect", [
    (["a b c d"], "tokens:2: expected TOKEN (the admin) or NAME TOKEN ROLE"),
    (["x " + TABLET], "tokens:2: expected TOKEN (the admin) or NAME TOKEN "
     "ROLE (ROLE: admin, operator or viewer); this line has a name and a "
     "token but no role"),
    (["t@b %s operator" % TABLET], "a name has 1 to 32"),
    (["x %s operator" % TABLET, "x %s viewer" % VIEWER],
     "the name x is already taken"),
    (["x " + TABLET + " boss"], "unknown role (expected admin, operator or "
     "viewer)"),
    (["x short operator"], "a token must have 16"),
])
def test_daemon_refuses_a_bad_named_token_line(make_daemon, lines, expect):
    d, _ = make_daemon(sim=False, start=False)
    d.write_tokens(lines)
    d.spawn()
    assert d.wait_exit(30) != 0
    assert expect in d.logs(), d.logs()


def test_non_loopback_listen_is_warned_about(make_daemon):
    d, _ = make_daemon(sim=False, listen="0.0.0.0:0")
    assert "not a loopback address" in d.logs()
    assert d.request("GET", "/api/v1/status").status == 200


def test_address_in_use_is_refused(make_daemon):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        d, _ = make_daemon(sim=False, start=False,
                           listen="127.0.0.1:%d" % port)
        d.spawn()
        assert d.wait_exit(30) != 0
        assert "cannot listen on 127.0.0.1:%d" % port in d.logs()


# --- massagectl ---------------------------------------------------------------

def test_massagectl_commands_and_exit_codes(e):
    d = e.d
    r = d.run_ctl("status")
    assert r.returncode == 0, r.stderr
    assert "State       idle" in r.stdout
    assert "piriformis_left" in r.stdout and "pelvis" in r.stdout
    r = d.run_ctl("--json", "status")
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "idle"
    r = d.run_ctl("programs")
    assert r.returncode == 0 and "api_test" in r.stdout
    assert "warmup" in r.stdout and "swedish" in r.stdout
    r = d.run_ctl("profiles")
    assert r.returncode == 0
    assert "REFUSES api_test: contraindicated: dvt" in r.stdout
    r = d.run_ctl("routines")
    assert r.returncode == 0 and "pressure_kpa" in r.stdout
    r = d.run_ctl("--json", "routines")
    assert json.loads(r.stdout)["routines"]

    r = d.run_ctl("start", "api_test", "--profile", "standard")
    assert r.returncode == 0, r.stderr
    assert re.search(r"session \d+ started: program api_test", r.stdout)
    r = d.run_ctl("start", "api_test", "--profile", "standard")
    assert r.returncode == 1 and "busy" in r.stderr
    assert d.run_ctl("pause").returncode == 0
    assert d.status()["state"] == "paused"
    assert d.run_ctl("resume").returncode == 0
    r = d.run_ctl("intensity", "40")
    assert r.returncode == 0 and d.status()["intensity"] == 40
    r = d.run_ctl("stop")
    assert r.returncode == 0 and "stopping" in r.stdout
    d.wait_state("idle", 20)
    r = d.run_ctl("sessions", "--limit", "5")
    assert r.returncode == 0 and "api_test" in r.stdout
    assert "operator" in r.stdout
    r = d.run_ctl("--json", "sessions", "--limit", "1")
    assert len(json.loads(r.stdout)["sessions"]) == 1

    r = d.run_ctl("start", "api_test", "--profile", "standard")
    assert r.returncode == 0
    r = d.run_ctl("estop")
    assert r.returncode == 0 and "EMERGENCY STOP" in r.stdout
    assert "Check the client" in r.stdout
    r = d.run_ctl("start", "api_test", "--profile", "standard")
    assert r.returncode == 1 and "fault_latched" in r.stderr
    r = d.run_ctl("reset")
    assert r.returncode == 0 and d.status()["state"] == "idle"

    r = d.run_ctl("start", "api_test", "--profile", "refused_dvt")
    assert r.returncode == 1
    assert "422 contraindicated" in r.stderr
    assert "Deep vein thrombosis" in r.stderr
    r = d.run_ctl("start", "nope", "--profile", "standard")
    assert r.returncode == 1 and "404" in r.stderr
    r = d.run_ctl("pause")
    assert r.returncode == 1 and "409" in r.stderr


def test_massagectl_auth_transport_and_usage(e, tmp_path):
    d = e.d
    r = d.run_ctl("status", token=False,
                  env={"MASSAGED_TOKEN": "wrong-token-0123456789"})
    assert r.returncode == 4 and "authentication failed" in r.stderr
    assert "MASSAGED_TOKEN" in r.stderr
    r = d.run_ctl("status", token=False,
                  env={"MASSAGED_TOKEN": TOKEN})
    assert r.returncode == 0
    tf = tmp_path / "tok"
    tf.write_text("# mine\n\n%s\n" % TOKEN)
    r = d.run_ctl("--token-file", str(tf), "status", token=False)
    assert r.returncode == 0, r.stderr
    r = d.run_ctl("--token-file", str(tmp_path / "nope"), "status")
    assert r.returncode == 2
    # MASSAGED_URL is used without --url.
    r = d.run_ctl("status", url=False,
                  env={"MASSAGED_URL": "http://127.0.0.1:%d" % d.port})
    assert r.returncode == 0, r.stderr
    r = d.run_ctl("status", url=False,
                  env={"MASSAGED_URL": "http://127.0.0.1:%d"
                       % free_port()})
    assert r.returncode == 3 and "cannot connect" in r.stderr
    r = d.run_ctl("--url", "ftp://x", "status", url=False)
    assert r.returncode == 2

    for args in ((), ("frobnicate",), ("intensity", "5"),
                 ("intensity", "abc"), ("start", "api_test"),
                 ("status", "extra"), ("sessions", "--limit", "0"),
                 ("status", "--limit", "3"), ("--bogus", "status")):
        r = d.run_ctl(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "usage" in r.stderr or "not valid" in r.stderr or \
            "needs" in r.stderr, (args, r.stderr)
    r = d.run_ctl("--help")
    assert r.returncode == 0 and "Exit codes" in r.stdout
    for c in ("status", "start", "watch", "intensity", "estop", "sessions"):
        r = d.run_ctl("help", c)
        assert r.returncode == 0 and "usage: massagectl" in r.stdout, c
        r2 = d.run_ctl(c, "--help")
        assert r2.returncode == 0 and r2.stdout == r.stdout, c
    assert d.run_ctl("help", "nope").returncode == 2


def test_massagectl_server_error_is_exit_5(tmp_path):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"error":"internal","message":"broken"}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        r = subprocess.run(
            [os.path.join(os.path.dirname(daemon_binary()), "massagectl"),
             "--url", "http://127.0.0.1:%d" % srv.server_address[1],
             "status"], capture_output=True, text=True, timeout=30,
            env=dict(os.environ, MASSAGED_TOKEN=TOKEN))
        assert r.returncode == 5, (r.stdout, r.stderr)
        assert "server error (500 internal): broken" in r.stderr
    finally:
        srv.shutdown()
        srv.server_close()


def test_massagectl_watch(e):
    d = e.d
    t0 = time.monotonic()
    r = d.run_ctl("--json", "watch", "--count", "12")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 12
    assert all(x["event"] == "status" for x in lines)
    assert lines[-1]["data"]["state"] == "idle"
    assert time.monotonic() - t0 < 10
    # For people (not a terminal): one line per event.
    p = subprocess.Popen([d.ctl, "--url", "http://127.0.0.1:%d" % d.port,
                          "watch"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, MASSAGED_TOKEN=TOKEN))
    try:
        time.sleep(1)
        start(d)
        time.sleep(1)
        d.request("POST", "/api/v1/estop")
        time.sleep(1)
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert "started: api_test for standard" in out, out
    assert "FAULT: emergency stop" in out, out
    assert "(by admin)" in out, out


def test_massagectl_watch_count_ends_whatever_the_output(e):
    """Issue 24, case 9: --count N ends after N events of the stream,
    printed or not. Into a pipe, where only the first status snapshot of
    a connection is a line, --count 1 prints it and exits (it used to
    print nothing and never end), and --count 5 ends after five
    snapshots, one of them printed."""
    d = e.d
    argv = [d.ctl, "--url", "http://127.0.0.1:%d" % d.port, "watch",
            "--count"]
    env = dict(os.environ, MASSAGED_TOKEN=TOKEN)
    for n in ("1", "5"):
        r = subprocess.run(argv + [n], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=20)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert len(lines) == 1, r.stdout
        assert re.fullmatch(r"\d\d:\d\d:\d\d status: the session is idle",
                            lines[0]), lines


def test_massagectl_version_and_short_usage_errors(e, tmp_path):
    d = e.d
    for flag in ("--version", "-V"):
        r = d.run_ctl(flag, url=False, token=False)
        assert r.returncode == 0 and re.fullmatch(
            r"massagectl \d+\.\d+\.\d+\n", r.stdout), r.stdout
    # One line that says what is wrong, and where help is.
    for args, what in [((), "no command"),
                       (("frobnicate",), "unknown command 'frobnicate'"),
                       (("--bogus", "status"), "unknown option --bogus"),
                       (("--limit",), "--limit needs a value"),
                       (("start", "api_test"), "start needs --profile"),
                       (("status", "extra"), "massagectl [options] status")]:
        r = d.run_ctl(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1, (args, r.stderr)
        assert what in r.stderr and "massagectl --help" in r.stderr, r.stderr
        assert r.stdout == "", (args, r.stdout)
    # A named token line: the token is its second word.
    tf = tmp_path / "named"
    tf.write_text("# mine\ndesk-1 %s operator\n" % TOKEN)
    r = d.run_ctl("--token-file", str(tf), "status", token=False)
    assert r.returncode == 0, r.stderr
