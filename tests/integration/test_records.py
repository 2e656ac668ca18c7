"""Session records (daemon/record.c): STATE_DIR/sessions.jsonl.

Every session's start and end is one JSON line, on disk before the API
answers; a torn last line (a crash mid-write) is skipped on read and the
next line starts on a fresh one; a session whose end was never written
gets an end with reason "unknown" at the next start; a full disk
(sessions.jsonl -> /dev/full, so every write fails with ENOSPC) is logged
once, counted in /metrics, and neither stops nor delays the control loop.
"""

import datetime
import json
import os
import re
import signal
import time

import pytest

from daemon import WRAPPER, Daemon, sim_controllers
from simctl import Sim

# Generous Modbus timeouts: these tests are about other things, and a
# loaded test machine must not turn a slow reply into a lost link.
SLACK = dict(response_timeout_ms=200, watchdog_ms=1000)

FIELDS = {"id", "phase", "profile", "program", "start", "end", "end_reason",
          "stop_category", "stop_message", "peak_kpa", "limits",
          "ramp_kpa_s", "max_session_s", "intensity_pct", "conditions"}


@pytest.fixture
def sim(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as s:
        yield s


def records_path(d):
    return os.path.join(d.state_dir, "sessions.jsonl")


def read_lines(d):
    with open(records_path(d), "rb") as f:
        return f.read().decode().split("\n")


def parsed(d):
    return [json.loads(ln) for ln in read_lines(d) if ln]


def iso(s):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", s), s
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def metric(d, name):
    r = d.request("GET", "/metrics", token=False)
    assert r.status == 200
    m = re.search(r"^%s (\S+)$" % re.escape(name), r.text, re.M)
    assert m, (name, r.text[:2000])
    return float(m.group(1))


def start_session(d, program="api_test", profile="standard"):
    r = d.request("POST", "/api/v1/session",
                  {"program": program, "profile": profile})
    assert r.status == 201, r.text
    return r


def writer_failures(d, err):
    """The writer's own log lines of a failure (the API quotes it too)."""
    return len([ln for ln in d.logs().splitlines()
                if "session records: " in ln and " failed" in ln
                and err in ln])


def check_clean(d):
    assert d.stop() == 0, d.logs()
    assert d.sanitizer_report() == ""


def test_start_and_end_lines(tmp_path, sim):
    d = Daemon(tmp_path, sim, **SLACK)
    try:
        d.wait_ready()
        t0 = datetime.datetime.now(datetime.timezone.utc)
        start_session(d)
        # On disk before the API answered: read at once, no waiting.
        lines = parsed(d)
        assert [x["phase"] for x in lines] == ["start"]
        st = d.wait_state("running")
        limits_seen = {z["name"]: z["limit_kpa"] for z in st["zones"]}
        time.sleep(2.5)
        r = d.request("POST", "/api/v1/session/stop")
        assert r.status == 200, r.text
        d.wait_state("idle", timeout=20)
        d.wait_for(lambda: len(parsed(d)) == 2, what="the end line")

        start_session(d)
        d.wait_state("running")
        r = d.request("POST", "/api/v1/estop")
        assert r.status == 200, r.text
        # A category 0 stop: the end line too is on disk before the answer.
        lines = parsed(d)
        assert [x["phase"] for x in lines] == ["start", "end", "start", "end"]
        t1 = datetime.datetime.now(datetime.timezone.utc)

        s1, e1, s2, e2 = lines
        for x in lines:
            assert FIELDS <= set(x), set(x) ^ FIELDS
            assert x["profile"] == "standard"
            assert x["program"] == "api_test"
            assert x["intensity_pct"] == 75
            assert x["conditions"] == []
            assert x["ramp_kpa_s"] == 6.0
            assert x["max_session_s"] == 3600.0
            assert x["limits"] == pytest.approx(limits_seen, abs=0.05)
        assert s1["id"] == e1["id"] and s2["id"] == e2["id"] != s1["id"]
        assert s1["start"] == e1["start"] and s2["start"] == e2["start"]
        for s in (s1, s2):
            assert s["end"] is None and s["end_reason"] is None
            assert s["stop_category"] is None and s["peak_kpa"] is None
        assert t0 - datetime.timedelta(seconds=1) <= iso(s1["start"]) \
            <= iso(e1["end"]) <= iso(s2["start"]) <= iso(e2["end"]) \
            <= t1 + datetime.timedelta(seconds=1)
        assert (iso(e1["end"]) - iso(e1["start"])).total_seconds() >= 2.5

        assert e1["end_reason"] == "operator" and e1["stop_category"] == 1
        assert "operator" in e1["stop_message"], e1
        assert e2["end_reason"] == "estop" and e2["stop_category"] == 0
        assert "emergency stop" in e2["stop_message"]
        # The highest pressure per zone: the glutes were worked, the calves
        # were not, and nothing went above its limit.
        peak = e1["peak_kpa"]
        assert set(peak) == set(limits_seen)
        assert peak["gluteus_maximus_left"] > 3, peak
        assert peak["calf_left"] == 0.0, peak
        for z, kpa in peak.items():
            assert kpa <= limits_seen[z] + 2.0, (z, kpa)

        # /api/v1/sessions: one per session, newest first, torn-free.
        r = d.request("GET", "/api/v1/sessions?limit=10")
        assert r.status == 200, r.text
        got = r.json()["sessions"]
        assert [(x["id"], x["phase"]) for x in got] == \
            [(e2["id"], "end"), (e1["id"], "end")]
        assert got[0] == e2 and got[1] == e1
        r = d.request("GET", "/api/v1/sessions?limit=1")
        assert [x["id"] for x in r.json()["sessions"]] == [e2["id"]]
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


def test_torn_and_corrupt_lines_are_skipped(tmp_path, sim):
    d = Daemon(tmp_path, sim, start=False, **SLACK)
    old_end = {"id": 7, "phase": "end", "profile": "gentle",
               "program": "relaxation", "start": "2024-05-01T10:00:00.000Z",
               "end": "2024-05-01T10:30:00.000Z", "end_reason": "program_end",
               "stop_category": 1, "stop_message": "the program finished",
               "peak_kpa": {}, "limits": {}, "ramp_kpa_s": 4.0,
               "max_session_s": 1800.0, "intensity_pct": 60,
               "conditions": []}
    orphan = dict(old_end, id=8, phase="start", start="2024-05-02T09:00:00.000Z",
                  end=None, end_reason=None, stop_category=None,
                  stop_message=None, peak_kpa=None)
    with open(records_path(d), "w") as f:
        f.write(json.dumps(dict(old_end, phase="start", end=None)) + "\n")
        f.write("this line is not JSON\n")
        f.write(json.dumps(old_end) + "\n")
        f.write(json.dumps(orphan) + "\n")
        f.write('{"id": 9, "phase": "st')          # torn: no newline
    d.start()
    try:
        d.wait_ready()
        # Session 8 started and never ended: recorded as ended, reason
        # unknown, at startup.
        d.wait_for(lambda: any(x.get("id") == 8 and x.get("phase") == "end"
                               for x in _good(d)), what="the end of 8")
        start_session(d)
        r = d.request("POST", "/api/v1/estop")
        assert r.status == 200, r.text

        lines = read_lines(d)
        # The torn fragment stayed a line of its own; every line after it
        # is whole.
        i = lines.index('{"id": 9, "phase": "st')
        tail = [json.loads(ln) for ln in lines[i + 1:] if ln]
        assert [(x["id"], x["phase"]) for x in tail] == \
            [(8, "end"), (9, "start"), (9, "end")]
        assert tail[0]["end_reason"] == "unknown"
        assert tail[0]["start"] == orphan["start"]

        r = d.request("GET", "/api/v1/sessions?limit=10")
        assert r.status == 200, r.text
        got = r.json()["sessions"]
        assert [(x["id"], x["phase"], x["end_reason"]) for x in got] == \
            [(9, "end", "estop"), (8, "end", "unknown"),
             (7, "end", "program_end")]
        logs = d.logs()
        assert "is torn" in logs
        assert "corrupt line" in logs and "skipped" in logs
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


def _good(d):
    out = []
    for ln in read_lines(d):
        try:
            out.append(json.loads(ln))
        except ValueError:
            pass
    return out


def test_crash_mid_session_is_recorded_at_next_start(tmp_path, sim):
    d = Daemon(tmp_path, sim, **SLACK)
    try:
        d.wait_ready()
        start_session(d)
        d.wait_state("running")
        sid = parsed(d)[0]["id"]
        d.signal(signal.SIGKILL)
        d.wait_exit()
        d.start()
        d.wait_for(lambda: len(parsed(d)) == 2, what="the end record")
        end = parsed(d)[1]
        assert (end["id"], end["phase"], end["end_reason"]) == \
            (sid, "end", "unknown")
        assert "has no end record" in d.logs(since_start=True)
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


def test_full_disk_never_stops_the_loop(tmp_path, sim):
    """sessions.jsonl -> /dev/full: the file opens, every write fails with
    ENOSPC. The start's own line fails, so the session is stopped at once
    and the start answered 503; later starts are refused before anything
    starts; the loop ticks on; the lines wait and are written as soon as
    the disk takes them again."""
    d = Daemon(tmp_path, sim, start=False, **SLACK)
    os.symlink("/dev/full", records_path(d))
    d.start()
    try:
        d.wait_ready()
        ticks0 = metric(d, "massaged_ticks_total")
        missed0 = metric(d, "massaged_missed_ticks_total")
        t = time.monotonic()
        r = d.request("POST", "/api/v1/session",
                      {"program": "api_test", "profile": "standard"})
        assert WRAPPER or time.monotonic() - t < 2.0
        assert r.status == 503, r.text
        assert r.json()["error"] == "records_failing"
        assert "No space left on device" in r.json()["message"]
        st = d.status()
        assert st["state"] == "idle", st
        assert st["last_stop"]["reason"] == "record_failed", st
        assert st["last_stop"]["category"] == 0
        assert st["records"]["ok"] is False
        assert "No space left on device" in st["records"]["error"]
        sid = st["session_id"]
        # Now refused before anything starts: no new session id.
        for _ in range(2):
            r = d.request("POST", "/api/v1/session",
                          {"program": "api_test", "profile": "standard"})
            assert r.status == 503, r.text
            assert "No space left on device" in r.json()["message"]
            assert d.status()["session_id"] == sid
            assert d.status()["state"] == "idle"
        time.sleep(1.0)
        # start + end of the stopped session, two refused starts: waiting.
        assert d.status()["records"]["pending"] == 4
        assert metric(d, "massaged_record_pending_lines") == 4
        assert metric(d, "massaged_records_failing") == 1
        assert metric(d, "massaged_record_lost_total") == 0
        assert writer_failures(d, "No space left on device") == 1, d.logs()
        # The loop ticked all along, on time (idle: 10 Hz).
        ticks1 = metric(d, "massaged_ticks_total")
        elapsed = time.monotonic() - t
        assert ticks1 > ticks0
        if not WRAPPER:         # valgrind cannot keep time
            assert ticks1 - ticks0 >= 10 * elapsed * 0.5, (ticks1 - ticks0,
                                                           elapsed)
            assert metric(d, "massaged_missed_ticks_total") - missed0 <= 2
        r = d.request("GET", "/api/v1/sessions")
        assert r.status == 200 and r.json()["sessions"] == []

        # Room on the disk again: the waiting lines are written, in order,
        # without any request, and starts work again.
        os.unlink(records_path(d))
        d.wait_for(lambda: d.status()["records"]["ok"], timeout=10,
                   what="records written again")
        lines = parsed(d)
        assert [(x["phase"], x["id"]) for x in lines] == \
            [("start", sid), ("end", sid), ("refused", None),
             ("refused", None)]
        assert lines[1]["end_reason"] == "record_failed"
        assert lines[2]["error"] == "records_failing"
        assert "No space left on device" in lines[2]["reason"]
        assert "writing %s again" % records_path(d) in d.logs()
        start_session(d)
        assert d.status()["session_id"] == sid + 1
        assert metric(d, "massaged_record_lost_total") == 0
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


def test_each_kind_of_failure_is_logged_once(tmp_path, sim):
    d = Daemon(tmp_path, sim, start=False, **SLACK)
    os.mkdir(records_path(d))       # open() fails: EISDIR
    d.start()
    try:
        d.wait_ready()
        for _ in range(3):
            r = d.request("POST", "/api/v1/session",
                          {"program": "api_test", "profile": "standard"})
            assert r.status == 503, r.text
            assert "Is a directory" in r.json()["message"]
        # Nothing started: the file could not even be opened.
        assert d.status()["session_id"] is None
        os.rmdir(records_path(d))
        os.symlink("/dev/full", records_path(d))
        d.wait_for(lambda: "No space left on device" in
                   (d.status()["records"]["error"] or ""), timeout=10,
                   what="the retry to meet the full disk")
        time.sleep(2.5)         # more retries: not logged again
        assert writer_failures(d, "Is a directory") == 1, d.logs()
        assert writer_failures(d, "No space left on device") == 1, d.logs()
        assert d.status()["records"]["pending"] == 3
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


def test_query_reads_a_long_file_backwards(tmp_path, sim):
    """The reader goes backwards in 64 KiB chunks: many records of varied
    length (lines cross chunk boundaries), one line longer than a chunk,
    corrupt lines and a torn tail."""
    d = Daemon(tmp_path, sim, start=False, **SLACK)
    want = []
    with open(records_path(d), "w") as f:
        for i in range(1, 801):
            rec = {"id": i, "phase": "end", "profile": "standard",
                   "program": "relaxation",
                   "start": "2024-05-01T10:%02d:%02d.000Z" % divmod(i, 60),
                   "end": None, "end_reason": "operator",
                   "stop_category": 1,
                   "stop_message": "x" * (i * 7919 % 900),
                   "peak_kpa": {}, "limits": {}, "ramp_kpa_s": 4.0,
                   "max_session_s": 1800.0, "intensity_pct": 60,
                   "conditions": []}
            if i == 400:
                rec["stop_message"] = "y" * 150000     # > 2 chunks
            f.write(json.dumps(rec) + "\n")
            want.append((i, len(rec["stop_message"])))
            if i % 97 == 0:
                f.write('{"id": "not a record"}\n\n')
        f.write('{"id": 801, "phase": "end", "prof')    # torn
    size = os.path.getsize(records_path(d))
    assert size > 10 * 65536
    d.start()
    try:
        d.wait_ready()
        r = d.request("GET", "/api/v1/sessions?limit=1000")
        assert r.status == 200, r.text
        got = [(x["id"], len(x["stop_message"]))
               for x in r.json()["sessions"]]
        assert got == want[::-1]
        r = d.request("GET", "/api/v1/sessions?limit=5")
        assert [x["id"] for x in r.json()["sessions"]] == \
            [800, 799, 798, 797, 796]
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


def test_session_ids_go_on_after_a_restart(tmp_path, sim):
    d = Daemon(tmp_path, sim, **SLACK)
    try:
        d.wait_ready()
        first = start_session(d).json()["session_id"]
        assert d.request("POST", "/api/v1/session/stop").status == 200
        d.wait_state("idle", timeout=30)
        d.restart()
        d.wait_ready()
        second = start_session(d).json()["session_id"]
        assert second == first + 1
        ids = [s["id"] for s in
               d.request("GET", "/api/v1/sessions").json()["sessions"]]
        assert ids == [second, first]
    finally:
        check_clean(d)
