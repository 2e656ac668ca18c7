"""Client intake through the API (daemon/api/api-profiles.c, profile-writer.c,
intake.c, record-erase.c): profiles made from the panel's answers, written
as INI files into the state directory, kept private and erasable.

Every test runs the real daemon against the real simulator.
"""

import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import threading
import time

import pytest

from daemon import Daemon, TOKEN, WRAPPER, sim_controllers
from simctl import Sim
from test_api import Stream

SLACK = dict(response_timeout_ms=200, watchdog_ms=1000)
OPERATOR = "tablet-token-0123456789abc"
VIEWER = "viewer-token-0123456789abc"
TOKENS = [TOKEN, "tablet %s operator" % OPERATOR, "hall %s viewer" % VIEWER]

NAME = "Zelda Quistgaard-Intake"
NOTE = "Prefers the left side first; keeps a water bottle by the table"
VARICOSE = {"name": NAME, "conditions": ["varicose_veins"],
            "pressure": "medium", "ramp": "gentle",
            "zones": {"cap": ["piriformis_left"],
                      "avoid": ["lumbar_left"]},
            "note": NOTE}
LEG_ZONES = ["hamstring_upper_left", "hamstring_upper_right",
             "hamstring_mid_left", "hamstring_mid_right",
             "hamstring_lower_left", "hamstring_lower_right",
             "calf_left", "calf_right"]


@pytest.fixture
def sim(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as s:
        yield s


@pytest.fixture
def d(tmp_path, sim):
    dm = Daemon(tmp_path, sim, tokens=TOKENS, **SLACK)
    try:
        dm.wait_ready()
        yield dm
    finally:
        dm.stop()
    assert dm.sanitizer_report() == ""


def create(d, body=VARICOSE, token=True):
    r = d.request("POST", "/api/v1/profiles", body, token=token)
    assert r.status == 201, r.text
    return r.json()


def error_of(r, status, error):
    assert r.status == status, r
    doc = r.json()
    assert doc["error"] == error, doc
    return doc


def store_dir(d):
    return os.path.join(d.state_dir, "profiles")


def session_round(d, pid, program="api_test", run_s=0.5):
    r = d.request("POST", "/api/v1/session", {"program": program,
                                               "profile": pid})
    assert r.status == 201, r.text
    d.wait_state("running")
    time.sleep(run_s)
    r = d.request("POST", "/api/v1/session/stop")
    assert r.status == 200, r.text
    d.wait_state("idle", timeout=60)


# --- the form and the preview -------------------------------------------------

def test_intake_form_comes_from_the_clinic_files(d):
    r = d.request("GET", "/api/v1/intake")
    assert r.status == 200, r.text
    doc = r.json()
    assert [p["name"] for p in doc["pressure"]] == ["light", "medium", "firm"]
    assert [p["cap_kpa"] for p in doc["pressure"]] == [18, 25, 32]
    assert [p["name"] for p in doc["ramp"]] == ["gentle", "normal"]
    assert doc["note_max"] == 400 and doc["sensitive_cap_kpa"] == 12
    conds = {c["name"]: c for c in doc["conditions"]}
    assert conds["dvt"]["refuse"] is True
    assert "blood clot" in conds["dvt"]["reason"]
    assert conds["varicose_veins"]["exclude_zones"] == ["hamstring_*",
                                                        "calf_*"]
    # The viewer may read the questions: no client in them.
    assert d.request("GET", "/api/v1/intake", token=VIEWER).status == 200


def test_intake_choices_follow_the_file_not_the_code(tmp_path, sim):
    intake = ("[pressure feather]\ncap_kpa = 9\n[ramp slow]\nramp_kpa_s = 2\n"
              "[defaults]\nsensitive_cap_kpa = 5\nmax_session_min = 30\n"
              "intensity = 50\nnote_max = 40\n")
    with Daemon(tmp_path, sim, intake=intake, **SLACK) as dm:
        doc = dm.request("GET", "/api/v1/intake").json()
        assert doc["pressure"] == [{"name": "feather", "cap_kpa": 9}]
        p = create(dm, {"name": "A", "conditions": [], "pressure": "feather",
                        "ramp": "slow", "zones": {"cap": ["calf_left"]}})
        assert p["cap_kpa"] == 9 and p["ramp_kpa_s"] == 2
        assert p["max_session_min"] == 30 and p["intensity"] == 50
        assert {"zones": "calf_left", "cap_kpa": 5} in p["zone_caps"]
        doc = error_of(dm.request("POST", "/api/v1/profiles",
                                  dict(VARICOSE, pressure="feather",
                                       ramp="slow")), 400, "bad_request")
        assert "'note'" in doc["message"] and "at most 40" in \
            doc["message"]
    with Daemon(tmp_path, sim, intake=False, name="nointake",
                **SLACK) as dm:
        error_of(dm.request("GET", "/api/v1/intake"), 503,
                 "intake_not_configured")
        error_of(dm.request("POST", "/api/v1/profiles", VARICOSE), 503,
                 "intake_not_configured")


def test_preview_varicose_excludes_the_legs_and_keeps_nothing(d):
    r = d.request("POST", "/api/v1/intake/preview", VARICOSE)
    assert r.status == 200, r.text
    doc = r.json()
    lim = {z["zone"]: z for z in doc["limits"]}
    for z in LEG_ZONES:
        assert lim[z]["excluded"] is True and lim[z]["limit_kpa"] == 0, z
    assert lim["lumbar_left"]["limit_kpa"] == 0        # avoided on the map
    assert lim["piriformis_left"]["limit_kpa"] == 12   # capped on the map
    assert lim["gluteus_maximus_left"]["limit_kpa"] == 25   # medium
    assert doc["refused"] is None and doc["id"] is None
    assert "[client]" in doc["ini"] and "varicose_veins" in doc["ini"]
    # Nothing written, nothing listed.
    assert not os.path.exists(store_dir(d)) or os.listdir(store_dir(d)) == []
    ids = [p["id"] for p in d.request("GET", "/api/v1/profiles").json()[
        "profiles"]]
    assert not any(i.startswith("client_") for i in ids)


def test_preview_dvt_refuses_every_program_with_the_reason(d):
    body = dict(VARICOSE, conditions=["dvt"])
    doc = d.request("POST", "/api/v1/intake/preview", body).json()
    programs = [p["id"] for p in d.request("GET", "/api/v1/programs")
                .json()["programs"]]
    assert programs and set(doc["refusals"]) == set(programs)
    for why in doc["refusals"].values():
        assert why.startswith("contraindicated: dvt: Deep vein thrombosis")
    assert doc["refused"].startswith("contraindicated: dvt")


# --- create, read, update ----------------------------------------------------

def test_create_writes_the_ini_and_loads_it_without_a_reload(d):
    p = create(d)
    pid = p["id"]
    assert re.fullmatch(r"client_[0-9a-f]{8}", pid), pid
    assert NAME not in pid
    assert p["revision"] == 1 and p["writable"] is True
    path = os.path.join(store_dir(d), pid + ".ini")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store_dir(d)).st_mode) == 0o700
    with open(path) as f:
        text = f.read()
    assert text == p["ini"]
    assert "name = %s\n" % NAME in text and "note = %s\n" % NOTE in text
    assert "conditions = varicose_veins\n" in text
    assert "revision = 1\n" in text and "cap_kpa = 25\n" in text
    # GET: everything, with the INI text and the revision as ETag.
    r = d.request("GET", "/api/v1/profiles/" + pid)
    assert r.status == 200 and r.headers["etag"] == '"1"'
    g = r.json()
    assert g["note"] == NOTE and g["ini"] == text
    assert g["pressure"] == "medium" and g["ramp"] == "gentle"
    assert [c["name"] for c in g["conditions"]] == ["varicose_veins"]
    # In the list and usable at once: no reload happened.
    assert "reloaded" not in d.logs()
    ids = [x["id"] for x in d.request("GET", "/api/v1/profiles").json()[
        "profiles"]]
    assert pid in ids
    r = d.request("POST", "/api/v1/session", {"program": "api_test",
                                               "profile": pid})
    assert r.status == 201, r.text
    zones = {z["name"]: z for z in d.status()["zones"]}
    assert zones["calf_left"]["excluded"] is True
    d.request("POST", "/api/v1/session/stop")
    d.wait_state("idle", timeout=60)
    # A restart loads it from the state directory like any profile.
    d.restart()
    d.wait_ready()
    r = d.request("GET", "/api/v1/profiles/" + pid)
    assert r.status == 200 and r.json()["ini"] == text


def test_etc_profiles_are_read_only_to_the_api(d):
    r = d.request("GET", "/api/v1/profiles/standard")
    assert r.status == 200 and r.json()["writable"] is False
    assert "[client]" in r.json()["ini"]
    before = open(os.path.join(d.profile_dir, "standard.ini")).read()
    doc = error_of(d.request("PUT", "/api/v1/profiles/standard", VARICOSE,
                             headers={"If-Match": '"0"'}), 403, "read_only")
    assert "read-only" in doc["message"]
    error_of(d.request("DELETE", "/api/v1/profiles/standard"), 403,
             "read_only")
    assert open(os.path.join(d.profile_dir, "standard.ini")).read() == before


@pytest.mark.parametrize("change, field, words", [
    ({"name": None}, "name", "missing"),
    ({"name": ""}, "name", "empty"),
    ({"name": 5}, "name", "string"),
    ({"name": "x" * 96}, "name", "at most 95"),
    ({"name": "Anna\nBerg"}, "name", "control characters"),
    # Issue 24, case 9: what ends or reorders a line on a screen.
    ({"name": "Anna\u2028Berg"}, "name", "line or paragraph separators"),
    ({"name": "Anna\u2029Berg"}, "name", "line or paragraph separators"),
    ({"name": "Anna\u0085Berg"}, "name", "control characters"),
    ({"name": "Anna\u202eGREB"}, "name", "bidirectional controls"),
    ({"name": "Anna\u2066Berg\u2069"}, "name", "bidirectional controls"),
    ({"name": "Anna\u200fBerg"}, "name", "bidirectional controls"),
    ({"name": "Anna\u061cBerg"}, "name", "bidirectional controls"),
    ({"note": "left\u2028right"}, "note", "line or paragraph separators"),
    ({"note": "gauche\u202adroite"}, "note", "bidirectional controls"),
    ({"note": "next\u0085line"}, "note", "control characters"),
    ({"name": "Anna ; Berg"}, "name", "read back"),
    ({"pressure": "extreme"}, "pressure", "light, medium, firm"),
    ({"pressure": None}, "pressure", "missing"),
    ({"ramp": "sudden"}, "ramp", "gentle, normal"),
    ({"conditions": ["not_a_rule"]}, "conditions", "not a condition"),
    ({"conditions": "dvt"}, "conditions", "list"),
    ({"conditions": [3]}, "conditions", "not a condition"),
    ({"zones": {"cap": ["nowhere"]}}, "zones.cap", "not a zone"),
    ({"zones": {"avoid": ["calf_*"]}}, "zones.avoid", "not a zone"),
    ({"zones": {"press": []}}, "zones", "expected"),
    ({"note": "n" * 401}, "note", "401 bytes, at most 400"),
    ({"note": "line one\nline two"}, "note", "control characters"),
    ({"note": "fine ; but this"}, "note", "read back"),
    ({"note": "a # is fine"}, None, None),
    ({"note": "Zo\u00eb, \u05e9\u05dc\u05d5\u05dd, \u2713 fine"}, None,
     None),
    ({"intensity": 5}, "intensity", "10 to 100"),
    ({"max_session_min": 500}, "max_session_min", "1 to 180"),
    ({"revision": 7}, "revision", "unknown field"),
])
def test_bad_values_name_their_field(d, change, field, words):
    body = dict(VARICOSE)
    for k, v in change.items():
        if v is None:
            body.pop(k)
        else:
            body[k] = v
    if field is None:   # accepted, and read back as given
        p = create(d, body)
        assert p["note"] == body["note"]
        return
    for method, path in [("POST", "/api/v1/profiles"),
                         ("POST", "/api/v1/intake/preview")]:
        doc = error_of(d.request(method, path, body), 400, "bad_request")
        assert "field '%s'" % field in doc["message"], doc
        assert words in doc["message"], doc
    # Nothing was written for any of them.
    left = os.listdir(store_dir(d)) if os.path.exists(store_dir(d)) else []
    assert [f for f in left if not f.startswith(".")] == []


def test_a_profile_that_would_not_load_is_refused_with_file_line(tmp_path,
                                                                 sim):
    """The rendered text goes through the parser of every profile: what
    it refuses comes back as a load of the file would say it, and nothing
    is written."""
    names = ["condition_with_a_rather_long_name_number_%02d" % i
             for i in range(12)]
    rules = "".join("[%s]\nreason = Test condition %d.\nscale = 0.9\n"
                    % (n, i) for i, n in enumerate(names))
    plain = ("[client]\nname = Plain\nconditions = none\n[limits]\n"
             "cap_kpa = 20\nramp_kpa_s = 5\nmax_session_min = 30\n"
             "intensity = 50\n")
    with Daemon(tmp_path, sim, rules=rules, copy_profiles=False,
                profiles={"plain": plain}, **SLACK) as dm:
        body = dict(VARICOSE, conditions=names, zones={})
        r = dm.request("POST", "/api/v1/profiles", body)
        doc = error_of(r, 422, "invalid_profile")
        m = re.fullmatch(r"(/\S+/state/profiles/client_[0-9a-f]{8}\.ini):6: "
                         r"\[client\] line too long \(at most 510 "
                         r"characters\)\n\1:4: \[client\] conditions: missing "
                         r"\(expected the client's conditions, or none\)\n",
                         doc["message"])
        assert m, doc["message"]
        assert not os.path.exists(m.group(1))
        assert [f for f in os.listdir(store_dir(dm))] == []
        r = dm.request("POST", "/api/v1/intake/preview", body)
        assert error_of(r, 422, "invalid_profile")["message"].endswith(
            "conditions: missing (expected the client's conditions, or "
            "none)\n")
        # Eleven fit on the line: saved.
        create(dm, dict(body, conditions=names[:10]))


@pytest.mark.parametrize("path, status", [
    ("/api/v1/profiles/..%2F..%2Fetc%2Fpasswd", 400),
    ("/api/v1/profiles/../../etc/passwd", 400),
    ("/api/v1/profiles/%2e%2e", 400),
    ("/api/v1/profiles/.hidden", 400),
    ("/api/v1/profiles/Standard", 400),
    ("/api/v1/profiles/a%00b", 400),
    ("/api/v1/profiles/" + "a" * 48, 400),
    ("/api/v1/profiles/standard/../../x", 404),
    ("/api/v1/profiles/no_such_client", 404),
])
def test_profile_ids_cannot_escape_the_directory(d, path, status):
    for method in ("GET", "PUT", "DELETE"):
        r = d.request(method, path, VARICOSE if method == "PUT" else None,
                      headers={"If-Match": '"1"'})
        assert r.status == status, (method, path, r)
    assert d.alive()
    assert not os.path.exists(store_dir(d)) or \
        os.listdir(store_dir(d)) == []


def test_two_panels_editing_one_profile(d):
    pid = create(d)["id"]
    url = "/api/v1/profiles/" + pid
    tag_a = d.request("GET", url).headers["etag"]
    tag_b = d.request("GET", url, token=OPERATOR).headers["etag"]
    assert tag_a == tag_b == '"1"'
    r = d.request("PUT", url, dict(VARICOSE, pressure="light"),
                  headers={"If-Match": tag_a})
    assert r.status == 200 and r.json()["revision"] == 2, r.text
    assert r.headers["etag"] == '"2"'
    # The second panel still holds revision 1: 409 with the current one.
    r = d.request("PUT", url, dict(VARICOSE, pressure="firm"),
                  token=OPERATOR, headers={"If-Match": tag_b})
    doc = error_of(r, 409, "conflict")
    assert doc["revision"] == 2 and r.headers["etag"] == '"2"'
    assert d.request("GET", url).json()["cap_kpa"] == 18
    # No If-Match at all: 428, nothing changed.
    error_of(d.request("PUT", url, VARICOSE), 428, "precondition_required")
    error_of(d.request("PUT", url, VARICOSE, headers={"If-Match": "two"}),
             428, "precondition_required")
    # Reloaded, the second panel saves.
    r = d.request("PUT", url, dict(VARICOSE, pressure="firm"),
                  token=OPERATOR, headers={"If-Match": '"2"'})
    assert r.status == 200 and r.json()["revision"] == 3
    with open(os.path.join(store_dir(d), pid + ".ini")) as f:
        assert "revision = 3\n" in f.read()
    # Many saves at once on one revision: exactly one wins.
    results = []

    def put(pressure):
        results.append(d.request("PUT", url, dict(VARICOSE,
                                                  pressure=pressure),
                                 headers={"If-Match": '"3"'}).status)
    ts = [threading.Thread(target=put, args=(p,))
          for p in ("light", "medium", "firm", "light", "medium")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(results) == [200, 409, 409, 409, 409], results
    assert d.request("GET", url).json()["revision"] == 4


def test_a_save_never_changes_a_running_session(d):
    pid = create(d, dict(VARICOSE, pressure="light"))["id"]
    r = d.request("POST", "/api/v1/session", {"program": "api_test",
                                               "profile": pid})
    assert r.status == 201, r.text
    d.wait_state("running")
    before = {z["name"]: z["limit_kpa"] for z in d.status()["zones"]}
    assert before["gluteus_maximus_left"] == 18
    # Firmer: saved for the next session, not this one.
    r = d.request("PUT", "/api/v1/profiles/" + pid,
                  dict(VARICOSE, pressure="firm", conditions=[]),
                  headers={"If-Match": '"1"'})
    assert r.status == 200, r.text
    time.sleep(0.3)
    st = d.status()
    assert st["state"] == "running"
    assert {z["name"]: z["limit_kpa"] for z in st["zones"]} == before
    # Gentler: also the next session's; this one keeps what it started
    # with (never more).
    r = d.request("PUT", "/api/v1/profiles/" + pid,
                  dict(VARICOSE, pressure="light", conditions=["dvt"]),
                  headers={"If-Match": '"2"'})
    assert r.status == 200, r.text
    assert {z["name"]: z["limit_kpa"] for z in d.status()["zones"]} == \
        before
    r = d.request("POST", "/api/v1/session/stop")
    d.wait_state("idle", timeout=60)
    recs = [json.loads(x) for x in open(os.path.join(d.state_dir,
                                                     "sessions.jsonl"))]
    assert {x["profile_revision"] for x in recs} == {1}
    assert {x["client"] for x in recs} == {NAME}
    # The next start uses revision 3: refused for DVT, with the reason.
    r = d.request("POST", "/api/v1/session", {"program": "api_test",
                                               "profile": pid})
    doc = error_of(r, 422, "contraindicated")
    assert "Deep vein thrombosis" in doc["message"]


def test_saves_during_reloads_are_kept(d):
    """A reload reads the profile directory on its own thread: a save or
    an erasure that finishes meanwhile is not undone by the swap."""
    pid = create(d)["id"]
    gone = create(d, dict(VARICOSE, name="Gone Soon"))["id"]
    stop = threading.Event()

    def hup():
        while not stop.is_set():
            d.signal(signal.SIGHUP)
            time.sleep(0.03)
    t = threading.Thread(target=hup)
    t.start()
    made, rev = [], 1
    try:
        for i in range(12):
            r = d.request("PUT", "/api/v1/profiles/" + pid,
                          dict(VARICOSE, note="save %d" % i),
                          headers={"If-Match": '"%d"' % rev})
            assert r.status == 200, r.text
            rev = r.json()["revision"]
            made.append(create(d, dict(VARICOSE, name="New %d" % i))["id"])
        r = d.request("DELETE", "/api/v1/profiles/" + gone)
        assert r.status == 200, r.text
    finally:
        stop.set()
        t.join()
    time.sleep(0.5)
    assert "reloaded" in d.logs()
    g = d.request("GET", "/api/v1/profiles/" + pid).json()
    assert g["revision"] == rev == 13 and g["note"] == "save 11"
    ids = [p["id"] for p in d.request("GET", "/api/v1/profiles").json()[
        "profiles"]]
    assert all(m in ids for m in made) and gone not in ids
    assert ids == sorted(ids)
    # And the same after one more reload, from the files alone.
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: d.logs().count("reloaded") > 0)
    time.sleep(0.5)
    ids2 = [p["id"] for p in d.request("GET", "/api/v1/profiles").json()[
        "profiles"]]
    assert ids2 == ids


# --- roles and privacy --------------------------------------------------------

def test_viewer_sees_ids_only(d):
    pid = create(d)["id"]
    r = d.request("GET", "/api/v1/profiles", token=VIEWER)
    assert r.status == 200
    for p in r.json()["profiles"]:
        assert set(p) == {"id", "revision", "writable"}, p
    assert NOTE not in r.text and "varicose_veins" not in r.text
    assert NAME not in r.text
    for path in ("/api/v1/profiles/" + pid,
                 "/api/v1/profiles/%s/sessions" % pid):
        doc = error_of(d.request("GET", path, token=VIEWER), 403,
                       "forbidden")
        assert "no client's name, condition or note" in doc["message"]
    for method, path in [("POST", "/api/v1/profiles"),
                         ("POST", "/api/v1/intake/preview"),
                         ("PUT", "/api/v1/profiles/" + pid),
                         ("DELETE", "/api/v1/profiles/" + pid)]:
        error_of(d.request(method, path, VARICOSE if method != "DELETE"
                           else None, token=VIEWER,
                           headers={"If-Match": '"1"'}), 403, "forbidden")
    # The operator writes profiles like the admin.
    p = create(d, token=OPERATOR)
    r = d.request("GET", "/api/v1/profiles/" + p["id"], token=OPERATOR)
    assert r.status == 200 and r.json()["note"] == NOTE
    assert "profiles: %s created (revision 1) by tablet" % p["id"] in \
        d.logs()


def _notify_pieces():
    from test_notify import Notifications, NotifyDaemon
    return Notifications, NotifyDaemon


def test_health_data_stays_out_of_logs_metrics_stream_and_notify(
        tmp_path, sim, monkeypatch):
    Notifications, NotifyDaemon = _notify_pieces()
    n = Notifications()
    monkeypatch.setenv("NOTIFY_SOCKET", n.path)
    dm = NotifyDaemon(tmp_path, sim, **SLACK)
    secrets = [NOTE, "anticoagulants", "varicose_veins", "Blood thinners",
               "Varicose veins", "dvt", "Deep vein"]
    try:
        dm.wait_ready()
        s = Stream(dm).start()
        body = dict(VARICOSE, conditions=["anticoagulants",
                                          "varicose_veins"])
        pid = create(dm, body)["id"]
        r = dm.request("PUT", "/api/v1/profiles/" + pid, body,
                       headers={"If-Match": '"1"'})
        assert r.status == 200
        dm.request("POST", "/api/v1/intake/preview", body)
        session_round(dm, pid)
        # Refused: the reason goes to the caller only.
        r = dm.request("POST", "/api/v1/session",
                       {"program": "api_test_deep", "profile": pid})
        assert r.status == 422 and "Blood thinners" in r.text
        dvt = create(dm, dict(VARICOSE, conditions=["dvt"]))["id"]
        assert dm.request("POST", "/api/v1/session",
                          {"program": "api_test", "profile": dvt}
                          ).status == 422
        dm.request("DELETE", "/api/v1/profiles/" + dvt)
        metrics = dm.request("GET", "/metrics").text
        time.sleep(0.5)
        s.close()
        stream = json.dumps([ev[2] for ev in s.events])
        assert len(s.events) > 10
        notes = json.dumps(n.all())
        logs = dm.logs()
        assert pid in logs          # the id, yes
        for secret in secrets:
            assert secret not in logs, secret
            assert secret not in metrics, secret
            assert secret not in stream, secret
            assert secret not in notes, secret
    finally:
        dm.stop()
        n.close()
    assert dm.sanitizer_report() == ""


# --- history and erasure -----------------------------------------------------

def test_history_lists_the_clients_sessions(d):
    pid = create(d)["id"]
    other = create(d, dict(VARICOSE, name="Someone Else"))["id"]
    session_round(d, pid)
    session_round(d, other)
    r = d.request("PUT", "/api/v1/profiles/" + pid,
                  dict(VARICOSE, pressure="light"),
                  headers={"If-Match": '"1"'})
    assert r.status == 200
    session_round(d, pid, run_s=2.0)
    r = d.request("GET", "/api/v1/profiles/%s/sessions" % pid)
    assert r.status == 200, r.text
    h = r.json()["sessions"]
    assert len(h) == 2
    assert [x["profile_revision"] for x in h] == [2, 1]  # newest first
    for x in h:
        assert x["program"] == "api_test" and x["end_reason"] == "operator"
        assert x["start"] and x["end"]
        zones = {z["zone"]: z for z in x["zones"]}
        assert zones["calf_left"]["limit_kpa"] == 0
        assert zones["piriformis_left"]["limit_kpa"] == 12
        for z in zones.values():
            assert z["peak_kpa"] is not None
            assert z["peak_kpa"] <= z["limit_kpa"] + 2.0, z
    assert h[0]["zones"][0]["limit_kpa"] in (0, 18)
    assert any(z["peak_kpa"] > 0 for z in h[0]["zones"])
    r = d.request("GET", "/api/v1/profiles/%s/sessions" % other)
    assert len(r.json()["sessions"]) == 1
    error_of(d.request("GET", "/api/v1/profiles/%s/other" % pid), 404,
             "not_found")


def _grep_tree(root, needles):
    found = []
    for dirpath, _, files in os.walk(root):
        for fn in files:
            p = os.path.join(dirpath, fn)
            with open(p, "rb") as f:
                data = f.read()
            for nd in needles:
                if nd.encode() in data:
                    found.append((p, nd))
    return found


def test_erasure_leaves_no_name_or_condition_in_the_state_dir(d):
    body = dict(VARICOSE, conditions=["varicose_veins", "neuropathy"])
    pid = create(d, body)["id"]
    other = create(d, dict(VARICOSE, name="Kept Client", conditions=[],
                           note="kept note"))["id"]
    session_round(d, pid)
    session_round(d, other)
    session_round(d, pid)
    # A session running on it: the erasure waits for the session.
    r = d.request("POST", "/api/v1/session", {"program": "api_test",
                                               "profile": pid})
    assert r.status == 201
    error_of(d.request("DELETE", "/api/v1/profiles/" + pid), 409, "in_use")
    d.request("POST", "/api/v1/session/stop")
    d.wait_state("idle", timeout=60)
    needles = [NAME, NOTE, "varicose_veins", "neuropathy"]
    assert _grep_tree(d.state_dir, needles)     # there before
    r = d.request("DELETE", "/api/v1/profiles/" + pid)
    assert r.status == 200, r.text
    assert r.json() == {"id": pid, "erased": True}
    assert _grep_tree(d.state_dir, needles) == []
    assert not os.path.exists(os.path.join(store_dir(d), pid + ".ini"))
    error_of(d.request("GET", "/api/v1/profiles/" + pid), 404, "not_found")
    error_of(d.request("POST", "/api/v1/session", {"program": "api_test",
                                                    "profile": pid}),
             404, "not_found")
    # The facts stay, under the id; the other client is untouched.
    recs = [json.loads(x) for x in open(os.path.join(d.state_dir,
                                                     "sessions.jsonl"))]
    # The start refused after the erasure is recorded too, with no name.
    refused = [x for x in recs if x["phase"] == "refused"]
    assert [x["profile"] for x in refused] == [pid]
    recs = [x for x in recs if x["phase"] != "refused"]
    mine = [x for x in recs if x["profile"] == pid]
    assert len(mine) == 6 and all(x["client"] == pid and
                                  x["conditions"] == [] for x in mine)
    # The pressures went with the limits they were held under.
    assert all(x["peak_kpa"] is None and x["limits"] is None
               for x in mine)
    kept = [x for x in recs if x["profile"] == other]
    assert len(kept) == 2 and all(x["client"] == "Kept Client"
                                  for x in kept)
    assert _grep_tree(d.state_dir, ["Kept Client", "kept note"])
    # Records go on after the rewrite, into the same file.
    session_round(d, other)
    recs = open(os.path.join(d.state_dir, "sessions.jsonl")).read()
    assert recs.count('"profile":"%s"' % other) == 4
    r = d.request("GET", "/api/v1/sessions?limit=100")
    assert len([x for x in r.json()["sessions"]
                if x["phase"] != "refused"]) == 5
    # The shipped profiles cannot be erased through the API.
    error_of(d.request("DELETE", "/api/v1/profiles/standard"), 403,
             "read_only")


def test_massagectl_erases_one_client_or_every_client(d):
    """massagectl erase PROFILE erases one client as the API does; erase
    --all erases nothing without --yes, then every client the daemon
    wrote, names the one a running session holds (exit 1) and the
    read-only profiles of the configuration, and a second run erases the
    rest: no name, note or condition left in the state directory."""
    a = create(d)["id"]
    b = create(d, dict(VARICOSE, name="Second Clientname"))["id"]
    c = create(d, dict(VARICOSE, name="Third Clientname"))["id"]
    session_round(d, a)
    r = d.run_ctl("erase", "--all")
    assert r.returncode == 2, r
    assert "nothing was erased. Add --yes" in r.stderr, r.stderr
    r = d.run_ctl("erase", c)
    assert r.returncode == 0 and r.stdout == "%s erased\n" % c, r
    error_of(d.request("GET", "/api/v1/profiles/" + c), 404, "not_found")
    # b's session runs: b is not erased, a is.
    r = d.request("POST", "/api/v1/session", {"program": "api_test",
                                               "profile": b})
    assert r.status == 201, r.text
    r = d.run_ctl("erase", "--all", "--yes")
    assert r.returncode == 1, r
    assert "1 of 2 clients erased" in r.stdout, r.stdout
    assert "NOT erased: %s" % b in r.stdout, r.stdout
    assert "read-only, not erased: standard" in r.stdout, r.stdout
    assert "in_use" in r.stderr or "session" in r.stderr, r.stderr
    d.request("POST", "/api/v1/session/stop")
    d.wait_state("idle", timeout=60)
    r = d.run_ctl("--json", "erase", "--all", "--yes")
    assert r.returncode == 0, r
    doc = json.loads(r.stdout)
    assert doc["erased"] == 1 and doc["not_erased"] == [], doc
    assert "standard" in doc["read_only"], doc
    assert _grep_tree(d.state_dir, [NAME, NOTE, "Second Clientname",
                                    "Third Clientname", "varicose_veins"]) \
        == []
    ids = [p["id"] for p in d.request("GET", "/api/v1/profiles").json()[
        "profiles"]]
    assert a not in ids and b not in ids and "standard" in ids, ids


# What an erased record keeps (docs/security.md, "Erasure"): these differ
# from session to session whoever the client was.
ERASED_VARY = ("id", "profile", "client", "start", "end", "active_s")


def _records_of(d, pid):
    recs = [json.loads(x) for x in open(os.path.join(d.state_dir,
                                                     "sessions.jsonl"))]
    return [{k: v for k, v in x.items() if k not in ERASED_VARY}
            for x in recs if x.get("profile") == pid]


def test_erased_records_of_a_client_with_conditions_read_like_one_without(d):
    """Issue 24, case 5: after erasure no field of the records tells a
    client with several conditions (scaled limits, excluded zones, a start
    refused for a contraindication) from a client with none."""
    ill = create(d, dict(VARICOSE, conditions=["varicose_veins", "neuropathy",
                                               "pain_medication"]))["id"]
    well = create(d, dict(VARICOSE, name="Wendy Well", conditions=[],
                          note="kept note"))["id"]
    session_round(d, ill)
    session_round(d, well)
    # One refused start each: a contraindication and a busy table.
    r = d.request("PUT", "/api/v1/profiles/" + ill,
                  dict(VARICOSE, conditions=["varicose_veins", "dvt"]),
                  headers={"If-Match": '"1"'})
    assert r.status == 200, r.text
    r = d.request("PUT", "/api/v1/profiles/" + well,
                  dict(VARICOSE, name="Wendy Well", conditions=[]),
                  headers={"If-Match": '"1"'})
    assert r.status == 200, r.text
    error_of(d.request("POST", "/api/v1/session",
                       {"program": "api_test", "profile": ill}),
             422, "contraindicated")
    r = d.request("POST", "/api/v1/session", {"program": "api_test",
                                               "profile": "standard"})
    assert r.status == 201, r.text
    d.wait_state("running")
    error_of(d.request("POST", "/api/v1/session",
                       {"program": "api_test", "profile": well}),
             409, "busy")
    d.request("POST", "/api/v1/session/stop")
    d.wait_state("idle", timeout=60)
    before = _records_of(d, ill)
    assert len(before) == 3 and before != _records_of(d, well)
    assert any(x["limits"] and 0 in x["limits"].values() for x in before)
    for pid in (ill, well):
        r = d.request("DELETE", "/api/v1/profiles/" + pid)
        assert r.status == 200, r.text
    a, b = _records_of(d, ill), _records_of(d, well)
    assert len(a) == 3 and all(x["erased"] is True for x in a)
    assert a == b, (a, b)
    # Not a zone, a limit, a scale nor a condition's name in them.
    text = json.dumps(a)
    for word in ("hamstring", "calf", "0.6", "0.7", "dvt", "varicose",
                 "neuropathy", "contraindicat"):
        assert word not in text, word


# --- the disk -----------------------------------------------------------------

class TmpfsDaemon(Daemon):
    """The daemon in a mount namespace of its own, its writable profile
    directory a 16 KiB tmpfs holding seed files and then filled up."""

    seed = None

    def argv(self):
        script = ('mount -t tmpfs -o size=16k,mode=0700 tmpfs "$1" && '
                  'cp -p "$2"/* "$1"/ && '
                  '{ dd if=/dev/zero of="$1/.fill" bs=1024 count=64 '
                  '2>/dev/null; true; } && shift 2 && exec "$@"')
        return (["unshare", "-rm", "sh", "-c", script, "sh",
                 os.path.join(self.state_dir, "profiles"), self.seed] +
                super().argv())


def _userns_ok():
    try:
        return subprocess.run(["unshare", "-rm", "true"],
                              capture_output=True, timeout=10
                              ).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _userns_ok(), reason="needs unprivileged mount "
                    "namespaces (unshare -rm) to make a full disk")
def test_a_full_disk_keeps_the_old_profile(tmp_path, sim):
    dm = Daemon(tmp_path, sim, **SLACK)
    try:
        dm.wait_ready()
        pid = create(dm)["id"]
    finally:
        dm.stop()
    seed = os.path.join(str(tmp_path), "seed")
    os.makedirs(seed)
    shutil.copy(os.path.join(store_dir(dm), pid + ".ini"), seed)
    old = open(os.path.join(seed, pid + ".ini")).read()

    fd = TmpfsDaemon(tmp_path, sim, start=False, **SLACK)
    fd.seed = seed
    # Same state directory: the tmpfs is mounted over its profiles/.
    fd.start()
    try:
        fd.wait_ready()
        inside = "/proc/%d/root%s" % (fd.pid, os.path.join(store_dir(fd)))
        assert os.path.exists(os.path.join(inside, ".fill"))
        url = "/api/v1/profiles/" + pid
        assert fd.request("GET", url).json()["revision"] == 1
        ticks0 = fd.request("GET", "/metrics").text
        r = fd.request("PUT", url, dict(VARICOSE, pressure="light"),
                       headers={"If-Match": '"1"'})
        doc = error_of(r, 507, "storage_error")
        assert "No space left on device" in doc["message"], doc
        assert "nothing was changed" in doc["message"]
        r = fd.request("POST", "/api/v1/profiles", VARICOSE)
        error_of(r, 507, "storage_error")
        # The old profile, whole, on disk and in use.
        with open(os.path.join(inside, pid + ".ini")) as f:
            assert f.read() == old
        assert sorted(os.listdir(inside)) == [".fill", pid + ".ini"]
        g = fd.request("GET", url).json()
        assert g["revision"] == 1 and g["cap_kpa"] == 25
        assert fd.alive() and ticks0
        assert "profiles: save of %s by admin failed" % pid in fd.logs()
        # Room again: the save goes through.
        os.unlink(os.path.join(inside, ".fill"))
        r = fd.request("PUT", url, dict(VARICOSE, pressure="light"),
                       headers={"If-Match": '"1"'})
        assert r.status == 200, r.text
        with open(os.path.join(inside, pid + ".ini")) as f:
            assert "revision = 2\n" in f.read()
    finally:
        fd.stop()
    assert fd.sanitizer_report() == ""


def test_sigkill_during_saves_leaves_old_or_new_never_torn(tmp_path, sim):
    dm = Daemon(tmp_path, sim, **SLACK)
    rng = random.Random(17)
    try:
        dm.wait_ready()
        pid = create(dm, dict(VARICOSE, note="n" * 400))["id"]
        path = os.path.join(store_dir(dm), pid + ".ini")
        acked = 1
        for rnd in range(6):
            stop = threading.Event()
            done = []

            def saver():
                rev = acked
                while not stop.is_set():
                    try:
                        r = dm.request("PUT", "/api/v1/profiles/" + pid,
                                       dict(VARICOSE,
                                            note=str(rev % 10) * 400,
                                            pressure=("light", "firm")[
                                                rev % 2]),
                                       headers={"If-Match": '"%d"' % rev},
                                       timeout=2)
                    except OSError:
                        return
                    if r.status == 200:
                        rev = r.json()["revision"]
                        done.append(rev)
            t = threading.Thread(target=saver)
            t.start()
            time.sleep(rng.uniform(0.2, 0.8))
            dm.signal(signal.SIGKILL)
            dm.proc.wait(timeout=10)
            stop.set()
            t.join(timeout=10)
            if done:
                acked = done[-1]
            # Old or new: a whole file the parser takes, never less than
            # what was acknowledged.
            with open(path) as f:
                text = f.read()
            m = re.search(r"^revision = (\d+)$", text, re.M)
            assert m, text
            on_disk = int(m.group(1))
            assert on_disk in (acked, acked + 1), (on_disk, acked)
            assert re.search(r"^note = (\d)\1{399}$", text, re.M), text
            assert text.endswith("\n") and "[zone_caps]" in text
            dm.start()
            dm.wait_ready()
            g = dm.request("GET", "/api/v1/profiles/" + pid).json()
            assert g["revision"] == on_disk and g["ini"] == text
            acked = on_disk
            assert [f for f in os.listdir(store_dir(dm))
                    if f.endswith(".tmp")] == []
    finally:
        dm.stop()
    assert dm.sanitizer_report() == ""
