"""Session records (daemon/engine/record*.c): STATE_DIR/sessions.jsonl.

Every session's start and end is one JSON line, on disk before the API
answers; a torn last line (a crash mid-write) is skipped on read and the
next line starts on a fresh one; a session whose end was never written
gets an end with reason "unknown" at the next start; a full disk
(sessions.jsonl -> /dev/full, so every write fails with ENOSPC) is logged
once, counted in /metrics, and neither stops nor delays the control loop.
"""

import csv
import datetime
import errno
import grp
import io
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time

import pytest

from daemon import REPO, TOKEN, WRAPPER, Daemon, sim_controllers
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
        # the warning goes through the log writer thread: it may follow
        # the record by a moment
        d.wait_for(lambda: "has no end record" in d.logs(since_start=True),
                   what="the warning logged")
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


# --- what an auditor needs -------------------------------------------------

def test_step_intensity_changes_and_refused_starts(tmp_path, sim):
    d = Daemon(tmp_path, sim, **SLACK)
    try:
        d.wait_ready()
        r = d.request("POST", "/api/v1/session",
                      {"program": "no_such_program", "profile": "standard"})
        assert r.status == 404, r.text
        t0 = datetime.datetime.now(datetime.timezone.utc)
        sid = start_session(d).json()["session_id"]
        d.wait_state("running")
        for pct in (50, 50, 90):        # the same value again is no change
            r = d.request("PUT", "/api/v1/session/intensity",
                          {"percent": pct})
            assert r.status == 200, r.text
        r = d.request("POST", "/api/v1/session",
                      {"program": "api_test", "profile": "standard"})
        assert r.status == 409, r.text
        busy = r.json()["message"]
        r = d.request("POST", "/api/v1/session/stop")
        assert r.status == 200, r.text
        d.wait_state("idle", timeout=20)
        d.wait_for(lambda: len(parsed(d)) == 4, what="four lines")
        t1 = datetime.datetime.now(datetime.timezone.utc)

        nf, start, refused, end = parsed(d)
        assert (nf["phase"], nf["id"], nf["error"]) == \
            ("refused", None, "not_found")
        assert nf["program"] == "no_such_program"
        assert nf["profile"] == "standard"
        assert "no_such_program" in nf["reason"]
        assert (refused["phase"], refused["error"], refused["reason"]) == \
            ("refused", "busy", busy)
        assert t0 <= iso(refused["start"]) + datetime.timedelta(
            seconds=0.001) <= t1
        assert start["intensity_changes"] == [] and start["step"] is None
        assert end["id"] == sid
        # The step reached: the first of two (30 s each).
        assert end["step"] == {"index": 0, "count": 2, "name": "warmup"}
        ch = end["intensity_changes"]
        assert [c["pct"] for c in ch] == [50, 90]
        assert iso(start["start"]) <= iso(ch[0]["time"]) <= \
            iso(ch[1]["time"]) <= iso(end["end"])
        assert end["intensity_pct"] == 90

        # The API answers the refused starts too, newest start first.
        got = d.request("GET", "/api/v1/sessions").json()["sessions"]
        assert [(x["phase"], x.get("error")) for x in got] == \
            [("refused", "busy"), ("end", None), ("refused", "not_found")]
        out = d.run_ctl("sessions")
        assert out.returncode == 0, out.stderr
        assert "refused: busy: %s" % busy in out.stdout
        assert "refused: not_found" in out.stdout
    finally:
        check_clean(d)


def fill(path):
    """Fills the file system of path: writes until ENOSPC."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e


def mount_tmpfs(path, size="256k"):
    """A small tmpfs at path (root only); False if it cannot be mounted."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size,
                        "tmpfs", path], capture_output=True, text=True)
    return r.returncode == 0


SHIM = r"""
/* Fails writes to files whose path holds $ENOSPC_PATH with ENOSPC while
 * the file $ENOSPC_FLAG exists: a full disk without a file system. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
full(int fd)
{
	const char *p = getenv("ENOSPC_PATH"), *f = getenv("ENOSPC_FLAG");
	char link[64], buf[4096];
	ssize_t n;

	if (p == NULL || f == NULL || access(f, F_OK) != 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, buf, sizeof(buf) - 1)) <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, p) != NULL;
}

ssize_t
write(int fd, const void *b, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);

	if (full(fd)) {
		errno = ENOSPC;
		return -1;
	}
	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT,
		    "write");
	return real(fd, b, n);
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
	static int (*real)(int, int, off_t, off_t);

	if (full(fd)) {
		errno = ENOSPC;
		return -1;
	}
	if (real == NULL)
		real = (int (*)(int, int, off_t, off_t))dlsym(RTLD_NEXT,
		    "fallocate");
	return real(fd, mode, off, len);
}
"""


def full_disk(tmp_path, d, monkeypatch):
    """Makes d's state directory a disk that can fill up: a 256 KiB tmpfs
    (as root), else a preloaded shim that fails its writes with ENOSPC
    while a flag file exists. Returns (fill, free) callables."""
    filler = os.path.join(d.state_dir, "filler")
    if mount_tmpfs(d.state_dir):
        return (lambda: fill(filler), lambda: os.unlink(filler),
                lambda: subprocess.run(["umount", d.state_dir]))
    cc = shutil.which("cc")
    if cc is None or WRAPPER:
        pytest.skip("neither a tmpfs (needs root) nor a preloaded shim "
                    "(needs cc, no wrapper) can fill a disk here")
    so = str(tmp_path / "enospc.so")
    src = tmp_path / "enospc.c"
    src.write_text(SHIM)
    subprocess.run([cc, "-shared", "-fPIC", "-o", so, str(src), "-ldl"],
                   check=True)
    flag = str(tmp_path / "disk-full")
    monkeypatch.setenv("LD_PRELOAD", so)
    monkeypatch.setenv("ENOSPC_PATH", d.state_dir)
    monkeypatch.setenv("ENOSPC_FLAG", flag)
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") +
                       ":verify_asan_link_order=0")
    return (lambda: open(flag, "w").close(), lambda: os.unlink(flag),
            lambda: None)


def test_full_disk_refuses_starts_until_it_has_room(tmp_path, sim,
                                                     monkeypatch):
    d = Daemon(tmp_path, sim, start=False, **SLACK)
    fill_disk, free_disk, done = full_disk(tmp_path, d, monkeypatch)
    try:
        d.start()
        d.wait_ready()
        first = start_session(d).json()["session_id"]
        assert d.request("POST", "/api/v1/estop").status == 200
        assert d.request("POST", "/api/v1/reset").status == 200
        d.wait_state("idle")
        fill_disk()
        # Refused before anything starts: no room for the record.
        for _ in range(2):
            r = d.request("POST", "/api/v1/session",
                          {"program": "api_test", "profile": "standard"})
            assert r.status == 503, r.text
            assert r.json()["error"] == "records_failing"
            assert "No space left on device" in r.json()["message"]
            st = d.status()
            assert st["state"] == "idle" and st["session_id"] == first
            assert st["last_stop"]["reason"] == "estop"
            assert st["records"]["ok"] is False
            assert "No space left on device" in st["records"]["error"]
        free_disk()
        d.wait_for(lambda: d.status()["records"]["ok"], timeout=10,
                   what="records written again")
        lines = parsed(d)
        assert [(x["phase"], x["id"]) for x in lines] == \
            [("start", first), ("end", first), ("refused", None),
             ("refused", None)]
        assert all("No space left on device" in x["reason"]
                   for x in lines[2:])
        second = start_session(d).json()["session_id"]
        assert second > first
        assert d.request("POST", "/api/v1/estop").status == 200
        d.restart()
        d.wait_ready()
        assert d.request("POST", "/api/v1/reset").status == 200
        assert start_session(d).json()["session_id"] == second + 1
        assert metric(d, "massaged_record_lost_total") == 0
    finally:
        d.stop()
        done()
    assert d.sanitizer_report() == ""


def ro_bind(path):
    """path made read-only where it is: a bind mount over itself (root
    only); the files the daemon holds open stay writable through the
    mount below. Returns the umount callable, or None."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return None
    r = subprocess.run(["mount", "--bind", "-o", "ro", path, path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return lambda: subprocess.run(["umount", path], check=True)


@pytest.mark.parametrize("before", ["fresh", "after_a_session"])
def test_a_state_dir_turned_read_only_is_reported(tmp_path, sim, before):
    """Issue 24, case 9: the state directory turns read-only while the
    daemon runs (the record file it holds open stays writable; after a
    session the session-id file too): the status says records fail,
    massaged_records_failing is 1 (the alert MassageRecordsFailing in
    contrib/prometheus fires on it), starts are refused with 503, and all
    of it clears once the directory is writable again; session ids go on
    from the last one reserved."""
    d = Daemon(tmp_path, sim, start=False, **SLACK)
    with open(os.path.join(d.state_dir, "session-id"), "w") as f:
        f.write("%020d\n" % 41)
    d.start()
    undo = None
    try:
        d.wait_ready()
        phases = []
        if before == "after_a_session":
            assert start_session(d).json()["session_id"] == 42
            assert d.request("POST", "/api/v1/session/stop").status == 200
            d.wait_state("idle", timeout=60)
            phases = ["start", "end"]
        undo = ro_bind(d.state_dir)
        if undo is None:
            pytest.skip("needs root to bind-mount the state dir read-only")
        # Noticed with nothing asked of the records (the writer's check).
        d.wait_for(lambda: not d.status()["records"]["ok"], timeout=15,
                   what="records failing while idle")
        assert metric(d, "massaged_records_failing") == 1
        for _ in range(2):
            r = d.request("POST", "/api/v1/session",
                          {"program": "api_test", "profile": "standard"})
            assert r.status == 503, r.text
            assert r.json()["error"] == "records_failing"
            assert "Read-only file system" in r.json()["message"]
            st = d.status()
            assert st["state"] == "idle"
            # The refused line is written (the file is open), and still
            # the records are failing.
            assert st["records"]["ok"] is False, st["records"]
            assert d.state_dir in st["records"]["error"]
            assert metric(d, "massaged_records_failing") == 1
        undo()
        undo = None
        d.wait_for(lambda: d.status()["records"]["ok"], timeout=10,
                   what="records written again")
        assert metric(d, "massaged_records_failing") == 0
        want = 43 if before == "after_a_session" else 42
        with open(os.path.join(d.state_dir, "session-id")) as f:
            assert int(f.read()) == want - 1      # never rewritten lower
        assert start_session(d).json()["session_id"] == want
        assert d.request("POST", "/api/v1/session/stop").status == 200
        d.wait_state("idle", timeout=60)
        assert [x["phase"] for x in parsed(d)] == \
            phases + ["refused", "refused", "start", "end"]
        with open(os.path.join(d.state_dir, "session-id")) as f:
            assert int(f.read()) == want
    finally:
        if undo is not None:
            undo()
        d.stop()
    assert d.sanitizer_report() == ""


def test_pending_end_is_retried_and_ids_are_never_reused(tmp_path, sim):
    d = Daemon(tmp_path, sim, **SLACK)
    path = records_path(d)
    aside = path + ".aside"
    try:
        d.wait_ready()
        first = start_session(d).json()["session_id"]
        d.wait_state("running")
        # The disk fills during the session: its end line waits.
        os.rename(path, aside)
        os.symlink("/dev/full", path)
        assert d.request("POST", "/api/v1/estop").status == 200
        st = d.status()
        assert st["records"]["ok"] is False and st["records"]["pending"] == 1
        time.sleep(1.5)         # retried, still failing
        assert d.status()["records"]["pending"] == 1
        os.unlink(path)
        d.wait_for(lambda: d.status()["records"]["ok"], timeout=10,
                   what="the end line retried")
        assert [(x["phase"], x["id"], x["end_reason"])
                for x in parsed(d)] == [("end", first, "estop")]
        with open(aside) as f:
            old = f.read()
        with open(aside, "a") as f:
            f.write(open(path).read())
        os.unlink(path)
        os.rename(aside, path)
        assert d.request("POST", "/api/v1/reset").status == 200

        # A start whose own line fails: stopped at once, its id spent.
        os.rename(path, aside)
        os.symlink("/dev/full", path)
        r = d.request("POST", "/api/v1/session",
                      {"program": "api_test", "profile": "standard"})
        assert r.status == 503, r.text
        spent = d.status()["session_id"]
        assert spent == first + 1
        # The daemon stops with the lines still waiting: they are lost,
        # and it says so.
        assert d.stop() == 0
        assert "could not be written" in d.logs() and \
            "are lost" in d.logs()
        os.unlink(path)
        os.rename(aside, path)
        assert old in open(path).read()
        d.start()
        d.wait_ready()
        # The records know only the first session; the id file knows more.
        nxt = start_session(d).json()["session_id"]
        assert nxt == spent + 1, (first, spent, nxt)
        with open(os.path.join(d.state_dir, "session-id")) as f:
            assert int(f.read()) == nxt
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


def test_rotation_by_size_and_reopen_on_sighup(tmp_path, sim):
    old_umask = os.umask(0o077)     # as under the unit's UMask=0077
    try:
        d = Daemon(tmp_path, sim, daemon={"records_max_bytes": 4000,
                                          "records_keep": 2}, **SLACK)
    finally:
        os.umask(old_umask)
    path = records_path(d)
    try:
        d.wait_ready()
        ids = []
        for _ in range(5):
            ids.append(start_session(d).json()["session_id"])
            assert d.request("POST", "/api/v1/estop").status == 200
            assert d.request("POST", "/api/v1/reset").status == 200
            d.wait_state("idle")
        assert "rotated to %s.1" % path in d.logs()
        assert os.path.exists(path + ".1") and os.path.exists(path + ".2")
        assert not os.path.exists(path + ".3")
        lines = []
        for p in (path + ".2", path + ".1", path):
            with open(p) as f:
                got = [json.loads(x) for x in f.read().splitlines() if x]
            assert got, p
            assert os.path.getsize(p) <= 4000 or len(got) == 1, p
            assert os.stat(p).st_mode & 0o777 == 0o640, p
            lines += got
        # The newest lines, in order, none lost inside the kept files.
        want = [(i, ph) for i in ids for ph in ("start", "end")]
        assert [(x["id"], x["phase"]) for x in lines] == want[-len(lines):]
        # Queries read across the rotated files.
        got = d.request("GET", "/api/v1/sessions?limit=100").json()
        have = sorted({x["id"] for x in lines})
        assert [x["id"] for x in got["sessions"]] == have[::-1]

        # Rotated from outside (logrotate): SIGHUP reopens.
        os.rename(path, path + ".moved")
        size = os.path.getsize(path + ".moved")
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: "reopened" in d.logs(), what="the reopen")
        sid = start_session(d).json()["session_id"]
        assert [x["id"] for x in parsed(d)] == [sid]
        assert os.path.getsize(path + ".moved") == size
        assert os.stat(path).st_mode & 0o777 == 0o640
    finally:
        check_clean(d)


def _rec(i, start, end=None, phase="end", **kw):
    o = {"id": i, "phase": phase, "profile": "standard",
         "program": "relaxation", "start": start, "end": end,
         "end_reason": "operator" if phase == "end" else None,
         "stop_category": 1 if phase == "end" else None,
         "stop_message": "stopped by the operator" if phase == "end"
         else None, "active_s": 60.0 if phase == "end" else None,
         "peak_kpa": {"calf_left": 3.5} if phase == "end" else None,
         "step": {"index": 1, "count": 3, "name": "kneading"}
         if phase == "end" else None,
         "limits": {}, "excluded": [], "ramp_kpa_s": 4.0,
         "max_session_s": 1800.0, "intensity_pct": 60,
         "intensity_changes": [], "conditions": []}
    o.update(kw)
    return o


def _refused(t, why="a session is running", error="busy"):
    return {"id": None, "phase": "refused", "start": t,
            "program": "relaxation", "profile": "standard", "error": error,
            "reason": why}


def test_export_with_a_date_range_and_paging(tmp_path, sim):
    d = Daemon(tmp_path, sim, start=False, **SLACK)
    path = records_path(d)
    lines = []
    for day in range(1, 21):            # one session a day, May 2024
        s = "2024-05-%02dT10:00:00.000Z" % day
        e = "2024-05-%02dT10:30:00.000Z" % day
        lines.append(_rec(day, s, phase="start"))
        if day == 7:                    # refused while it ran, same ms
            lines.append(_refused("2024-05-07T10:10:00.000Z"))
            lines.append(_refused("2024-05-07T10:10:00.000Z",
                                  why="a session is paused"))
        if day != 12:                   # 12 never ended
            lines.append(_rec(day, s, e, intensity_changes=[
                {"time": "2024-05-%02dT10:05:00.000Z" % day, "pct": 70}],
                stop_message='said "stop", then left' if day == 3
                else "stopped by the operator"))
        if day == 15:
            lines.append(_refused("2024-05-15T18:00:00.000Z",
                                  why="no profile 'x'", error="not_found"))
    # The first half rotated away into sessions.jsonl.1.
    with open(path + ".1", "w") as f:
        for x in lines[:len(lines) // 2]:
            f.write(json.dumps(x) + "\n")
    with open(path, "w") as f:
        for x in lines[len(lines) // 2:]:
            f.write(json.dumps(x) + "\n")
            if x["phase"] == "start" and x["id"] == 12:
                pass
    # What an export must answer: one item per session (its last line),
    # one per refused start, newest start first.
    items = {}
    order = []
    for n, x in enumerate(lines):
        k = (x["id"], x["start"]) if x["phase"] != "refused" else ("r", n)
        if k not in items:
            order.append(k)
        items[k] = x
    want = sorted((items[k] for k in order),
                  key=lambda x: (x["start"], -1 if x["id"] is None
                                 else x["id"]), reverse=True)
    # Equal keys keep the newest-line-first order.
    r7 = [x for x in want if x["start"] == "2024-05-07T10:10:00.000Z"]
    assert len(r7) == 2
    i7 = want.index(r7[0])
    want[i7], want[i7 + 1] = _refused("2024-05-07T10:10:00.000Z",
                                      why="a session is paused"), \
        _refused("2024-05-07T10:10:00.000Z")

    d.start()
    try:
        d.wait_ready()

        def pages(query, limit):
            got, cursor, n = [], None, 0
            while True:
                q = query + "&limit=%d" % limit
                if cursor:
                    q += "&cursor=" + cursor
                r = d.request("GET", "/api/v1/sessions?" + q)
                assert r.status == 200, r.text
                doc = r.json()
                assert len(doc["sessions"]) <= limit
                got += doc["sessions"]
                cursor = doc["next_cursor"]
                n += 1
                if cursor is None:
                    return got, n
                assert n < 100

        got, n = pages("since=2024-01-01", 3)
        assert got == want
        assert n >= len(want) // 3
        # A range: from the 5th to the 16th, the whole day.
        rng = [x for x in want
               if "2024-05-05" <= x["start"] < "2024-05-17"]
        for limit in (1, 2, 5, 1000):
            got, _ = pages("since=2024-05-05&until=2024-05-16", limit)
            assert got == rng, limit
        got, _ = pages("since=2024-05-07T10:10:00Z&until="
                       "2024-05-07T10:10:00.001Z", 1)
        assert [x["reason"] for x in got] == ["a session is paused",
                                             "a session is running"]
        for bad in ("since=yesterday", "until=2024-13-01", "cursor=x",
                    "since=2024-02-30", "until=2024-05-01T12:00:00+02:00",
                    "since=2024-05-01T25:00:00Z", "limit=0", "order=asc"):
            r = d.request("GET", "/api/v1/sessions?" + bad)
            assert r.status == 400, (bad, r.text)

        # massagectl: every page, as CSV.
        out = d.run_ctl("sessions", "--since", "2024-05-05", "--until",
                        "2024-05-16", "--csv")
        assert out.returncode == 0, out.stderr
        rows = list(csv.DictReader(io.StringIO(out.stdout, newline="")))
        assert [(r["id"], r["phase"], r["start"]) for r in rows] == \
            [("" if x["id"] is None else str(x["id"]), x["phase"],
              x["start"]) for x in rng]
        assert out.stdout.startswith("id,phase,table,start,end,")
        r3 = [r for r in rows if r["id"] == "12"][0]
        assert (r3["phase"], r3["end"]) == ("start", "")
        r9 = [r for r in rows if r["id"] == "9"][0]
        assert (r9["step"], r9["step_count"], r9["step_name"]) == \
            ("2", "3", "kneading")
        assert r9["intensity_changes"] == "2024-05-09T10:05:00.000Z=70"
        assert r9["peak_kpa_max"] == "3.5"
        rr = [r for r in rows if r["phase"] == "refused"]
        assert {r["error"] for r in rr} == {"busy", "not_found"}
        out = d.run_ctl("sessions", "--since", "2024-05-03", "--until",
                        "2024-05-03", "--csv")
        rows = list(csv.DictReader(io.StringIO(out.stdout, newline="")))
        assert [r["stop_message"] for r in rows] == \
            ['said "stop", then left']
        out = d.run_ctl("--json", "sessions", "--since", "2024-01-01")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["sessions"] == want
        out = d.run_ctl("sessions", "--since", "May 1st")
        assert out.returncode == 1 and "since" in out.stderr
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


FORMULAS = {"program": '=HYPERLINK("http://evil.example/","x")',
            "reason": "+1+cmd|' /C calc'!A0", "started_by": "@SUM(1)",
            "stop_message": "-2+3", "step_name": "\tnext",
            "profile": "\rstandard"}
OPERATOR = "tablet-token-0123456789abc"


def test_export_is_safe_in_a_spreadsheet(tmp_path, sim):
    """Issue 24, case 8: in `massagectl sessions --csv` a cell that starts
    with = + - @, a tab or a carriage return gets a single quote before it
    and is quoted (OWASP); the API refuses ids that are not [a-z0-9_]+ with
    a 400 naming the field, before anything is recorded; a refused start
    names who tried (started_by)."""
    d = Daemon(tmp_path, sim, start=False, tokens=[
        TOKEN, "tablet %s operator" % OPERATOR], **SLACK)
    refused = dict(_refused("2024-05-02T10:00:00.000Z",
                            why=FORMULAS["reason"]),
                   program=FORMULAS["program"],
                   started_by=FORMULAS["started_by"])
    ended = _rec(1, "2024-05-01T10:00:00.000Z", "2024-05-01T10:30:00.000Z",
                 stop_message=FORMULAS["stop_message"],
                 profile=FORMULAS["profile"],
                 step={"index": 0, "count": 1,
                       "name": FORMULAS["step_name"]},
                 conditions=["=cmd", "dvt"])
    with open(records_path(d), "w") as f:
        f.write(json.dumps(ended) + "\n" + json.dumps(refused) + "\n")
    d.start()
    try:
        d.wait_ready()
        # As bytes: text mode would turn the CR into a newline.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MASSAGED_TOKEN")}
        out = subprocess.run([d.ctl, "--url", "http://%s:%d" % (d.host,
                                                                d.port),
                              "sessions", "--csv"], capture_output=True,
                             stdin=subprocess.DEVNULL, timeout=30,
                             env=dict(env, MASSAGED_TOKEN=TOKEN))
        assert out.returncode == 0, out.stderr
        text = out.stdout.decode()
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert [r["phase"] for r in rows] == ["refused", "end"]
        for k in ("program", "reason", "started_by"):
            assert rows[0][k] == "'" + FORMULAS[k], (k, rows[0][k])
        for k in ("stop_message", "step_name", "profile"):
            assert rows[1][k] == "'" + FORMULAS[k], (k, rows[1][k])
        assert rows[1]["conditions"] == "'=cmd;dvt"
        assert rows[1]["program"] == "relaxation"       # left as it is
        assert rows[1]["active_s"] == "60"
        assert '"\'=HYPERLINK(""http://evil.example/"",""x"")"' in text

        # Ids that are not [a-z0-9_]+: refused, field named, not recorded.
        before = read_lines(d)
        for field, bad in [("program", FORMULAS["program"]),
                           ("program", "+cmd"), ("program", "-x"),
                           ("program", "@x"), ("program", "Api_test"),
                           ("profile", "stand ard"),
                           ("profile", "\tstandard"),
                           ("profile", "x" * 48)]:
            body = {"program": "api_test", "profile": "standard"}
            body[field] = bad
            r = d.request("POST", "/api/v1/session", body, token=OPERATOR)
            assert r.status == 400, (field, bad, r.text)
            msg = r.json()["message"]
            assert r.json()["error"] == "bad_request"
            assert "field '%s'" % field in msg and "[a-z0-9_]+" in msg, msg
        assert read_lines(d) == before

        # A refused start names who tried.
        r = d.request("POST", "/api/v1/session",
                      {"program": "no_such_program", "profile": "standard"},
                      token=OPERATOR)
        assert r.status == 404, r.text
        start_session(d)
        r = d.request("POST", "/api/v1/session",
                      {"program": "api_test", "profile": "standard"},
                      token=OPERATOR)
        assert r.status == 409, r.text
        assert d.request("POST", "/api/v1/session/stop").status == 200
        d.wait_state("idle", timeout=60)
        mine = [x for x in parsed(d)[2:] if x["phase"] == "refused"]
        assert [(x["error"], x["started_by"]) for x in mine] == \
            [("not_found", "tablet"), ("busy", "tablet")]
        got = d.request("GET", "/api/v1/sessions").json()["sessions"]
        assert [x["started_by"] for x in got if x["phase"] == "refused"][:2] \
            == ["tablet", "tablet"]
    finally:
        d.stop()
    assert d.sanitizer_report() == ""


def test_the_shipped_logrotate_file(tmp_path, sim):
    """systemd/massaged.logrotate, pointed at a test's state directory and
    its daemon's PID, run by logrotate itself: the old file becomes
    sessions.jsonl.1, the daemon reopens and writes a new file 0640, and
    queries read both."""
    if shutil.which("logrotate") is None:
        pytest.skip("logrotate is not installed (make deps installs it)")
    d = Daemon(tmp_path, sim, **SLACK)
    path = records_path(d)
    try:
        d.wait_ready()
        first = start_session(d).json()["session_id"]
        assert d.request("POST", "/api/v1/estop").status == 200
        assert d.request("POST", "/api/v1/reset").status == 200
        with open(path) as f:
            old = f.read()
        with open(os.path.join(REPO, "systemd", "massaged.logrotate")) as f:
            conf = f.read()
        assert "/var/lib/massaged/sessions.jsonl" in conf
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        conf = conf.replace("/var/lib/massaged/sessions.jsonl "
                            "/var/lib/massaged/*/sessions.jsonl", path)
        conf = conf.replace("massaged massaged", "%s %s" % (user, group))
        conf = re.sub(r"systemctl reload .*", "kill -HUP %d" % d.pid, conf)
        cf = tmp_path / "logrotate.conf"
        cf.write_text(conf)
        os.chmod(str(tmp_path), 0o755)
        out = subprocess.run(["logrotate", "-f", "-s",
                              str(tmp_path / "logrotate.state"), str(cf)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        with open(path + ".1") as f:
            assert f.read() == old
        d.wait_for(lambda: "reopened" in d.logs(), what="the reopen")
        second = start_session(d).json()["session_id"]
        assert [x["id"] for x in parsed(d)] == [second]
        assert os.stat(path).st_mode & 0o777 == 0o640
        got = d.request("GET", "/api/v1/sessions").json()["sessions"]
        assert [x["id"] for x in got] == [second, first]
    finally:
        check_clean(d)


def test_an_end_written_at_restart_on_a_full_disk_is_retried(tmp_path, sim):
    """The daemon died during session 5 (its start is the last line, here
    in a rotated file); at start-up the end line it owes cannot be written
    (sessions.jsonl -> /dev/full): it waits, is retried, starts are refused
    meanwhile, and it is written once the disk takes it."""
    d = Daemon(tmp_path, sim, start=False, **SLACK)
    path = records_path(d)
    with open(path + ".1", "w") as f:
        f.write(json.dumps(_rec(5, "2024-05-02T09:00:00.000Z",
                                phase="start")) + "\n")
    os.symlink("/dev/full", path)
    d.start()
    try:
        d.wait_ready()
        d.wait_for(lambda: d.status()["records"]["pending"] == 1,
                   what="the end line to wait")
        assert "session 5 has no end record" in d.logs()
        r = d.request("POST", "/api/v1/session",
                      {"program": "api_test", "profile": "standard"})
        assert r.status == 503, r.text
        assert d.status()["session_id"] == 5
        time.sleep(2.5)                 # retried, still failing
        assert d.status()["records"]["pending"] == 2
        assert writer_failures(d, "No space left on device") == 1, d.logs()
        os.unlink(path)
        d.wait_for(lambda: d.status()["records"]["ok"], timeout=10,
                   what="the end line retried")
        end, refused = parsed(d)
        assert (end["id"], end["phase"], end["end_reason"]) == \
            (5, "end", "unknown")
        assert end["start"] == "2024-05-02T09:00:00.000Z"
        assert refused["phase"] == "refused"
        assert start_session(d).json()["session_id"] == 6
    finally:
        check_clean(d)
