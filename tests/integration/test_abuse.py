"""Abuse: the API against clients that misbehave, on purpose or not.

Oversized bodies and headers, slowloris-style slow clients, thousands of
event-stream clients that connect and vanish, malformed UTF-8 in bodies and
paths, missing/wrong/short tokens and the wrong scheme, path traversal on
the static panel (encodings, symlinks out of panel_dir), request smuggling
basics and methods that are not allowed. Every test ends by checking that
the daemon is alive, answers, that its control loop still ticks (the
simulator sees the heartbeat change at the tick rate) and that no sanitizer
said anything.

Everything is on 127.0.0.1, bounded in connections and time. Most tests
share one daemon (the `rig` fixture); those that hold many connections or
count file descriptors get their own. Under $MASSAGED_WRAPPER (valgrind)
the timing checks are relaxed and the tests that are about timing skipped.
docs/security.md points here.
"""

import base64
import json
import os
import re
import socket
import struct
import threading
import time

import pytest

from daemon import TOKEN, WRAPPER, Daemon, sim_controllers
from simctl import Sim, monotonic_ns

SECRET = "ABUSE-SECRET-OUTSIDE-THE-PANEL-5b1e"
MAX_BODY = 16 * 1024          # API_MAX_BODY in daemon/api/api.c
API_TIMEOUT_S = 30            # API_TIMEOUT_S in daemon/api/api.c
API_REQUEST_S = 5             # API_REQUEST_S in daemon/api/api-conn.c
TICK_HZ = 50
IDLE_HZ = 10                  # IDLE_HZ in daemon/engine/tick.c: no session
WATCHDOG_MS = 500


# -- helpers -------------------------------------------------------------------

def connect(d, timeout=5.0):
    s = socket.create_connection((d.host, d.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reset_close(s):
    """Close with a reset: no TIME_WAIT, the daemon sees an error."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def whole(out):
    """True once out holds a reply whose Content-Length is all there."""
    head, sep, body = out.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return bool(sep and m and len(body) >= int(m.group(1)))


def raw(d, data, timeout=5.0, shut=False, until_length=False):
    """Sends data on a fresh connection, reads until the daemon closes (or
    timeout; with until_length, until the reply's Content-Length is all
    there, as a client does); returns the bytes."""
    s = connect(d, timeout)
    out = b""
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while not (until_length and whole(out)):
            try:
                c = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not c:
                break
            out += c
    finally:
        reset_close(s)
    return out


class Reply:
    def __init__(self, data):
        self.raw = data
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status_line = lines[0].decode("latin-1")
        parts = self.status_line.split()
        self.status = int(parts[1]) if len(parts) > 1 and \
            parts[1].isdigit() else None
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.decode("latin-1").partition(":")
            self.headers[k.strip().lower()] = v.strip()
        n = self.headers.get("content-length")
        if n is not None and n.isdigit():
            self.body = self.body[:int(n)]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def count(self):
        """Number of HTTP replies in the raw bytes."""
        return self.raw.count(b"HTTP/1.1 ") + self.raw.count(b"HTTP/1.0 ")

    def __repr__(self):
        return "Reply(%r)" % self.raw[:300]


def request(d, method, path, headers=(), body=b"", token=True,
            version=b"HTTP/1.1", timeout=5.0, until_length=False):
    """One raw request with Connection: close; returns a Reply."""
    if isinstance(method, str):
        method = method.encode()
    if isinstance(path, str):
        path = path.encode()
    h = [b"Host: 127.0.0.1", b"Connection: close"]
    if token is True:
        h.append(b"Authorization: Bearer " + TOKEN.encode())
    elif token:
        h.append(b"Authorization: " + (token.encode()
                                       if isinstance(token, str) else token))
    if body:
        h.append(b"Content-Type: application/json")
        h.append(b"Content-Length: %d" % len(body))
    h += [x.encode() if isinstance(x, str) else x for x in headers]
    data = method + b" " + path + b" " + version + b"\r\n" + \
        b"\r\n".join(h) + b"\r\n\r\n" + body
    return Reply(raw(d, data, timeout, until_length=until_length))


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def heartbeats(sim, c, t0, t1):
    """Times (s) of the daemon's writes to controller c between t0 and t1
    (monotonic ns): one per tick."""
    return [e.ns / 1e9 for e in sim.events("fc16", c=c)
            if t0 <= e.ns <= t1 and "heartbeat" in e.kv]


def assert_ticking(sim, t0, t1, what="", hz=IDLE_HZ, rate=0.7, max_gap=0.8):
    """Between t0 and t1 the control loop kept ticking: at least `rate` of
    the ticks at `hz` (tick_hz in a session, IDLE_HZ without), and never a
    gap of `max_gap` of the controllers' watchdog (a full one vents a
    running session). Under deliberate overload the rate may drop (the API
    shares the loop with the tick)."""
    span = (t1 - t0) / 1e9
    if WRAPPER:
        rate, max_gap = 0, 1e9          # valgrind: only "still ticking"
    # the simulator's log has caught up with t1 (and the loop goes on)
    sim.wait_for(lambda: all(heartbeats(sim, c, t1, 2 ** 63)
                             for c in (0, 1)),
                 timeout=10, what="a tick after the period checked")
    for c in (0, 1):
        ts = heartbeats(sim, c, t0, t1)
        assert len(ts) >= max(2, rate * span * hz - 2), \
            "%scontroller %d: %d ticks in %.1f s" % (what, c, len(ts), span)
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        assert max(gaps) < max_gap * WATCHDOG_MS / 1000, \
            "%scontroller %d: %.0f ms without a tick" % (what, c,
                                                         1000 * max(gaps))


def assert_healthy(d, sim, what=""):
    """Alive, answering, ticking, controllers up, no sanitizer report."""
    assert d.alive(), "massaged died %s:\n%s" % (what, d.logs()[-4000:])
    t0 = monotonic_ns()
    r = d.request("GET", "/api/v1/status", timeout=10)
    assert r.status == 200, r
    st = r.json()
    assert all(c["connected"] for c in st["controllers"]), st["controllers"]
    time.sleep(0.5)
    assert_ticking(sim, t0, monotonic_ns(), what,
                   hz=TICK_HZ if st["state"] == "running" else IDLE_HZ)
    for c in (0, 1):
        assert sim.get(c)["fault_code"] == 0, sim.get(c)
    assert d.sanitizer_report() == "", d.sanitizer_report()


def start_session(d):
    """A session of the test program (60 s): the tick at tick_hz and the
    controllers' watchdogs armed while the test attacks."""
    r = d.request("POST", "/api/v1/session",
                  {"program": "api_test", "profile": "standard"})
    assert r.status == 201, r
    d.wait_state("running")


def stop_session(d):
    r = d.request("POST", "/api/v1/session/stop", timeout=10)
    assert r.status == 200, r
    d.wait_state("idle", timeout=30)


def make_panel(base):
    """A panel directory with files, a subdirectory and every kind of way
    out; a secret next to it. Returns (panel_dir, secret_path)."""
    base = str(base)
    panel = os.path.join(base, "panel")
    os.makedirs(os.path.join(panel, "sub"))
    with open(os.path.join(panel, "index.html"), "w") as f:
        f.write("<!doctype html><title>abuse panel</title>\n")
    with open(os.path.join(panel, "app.js"), "w") as f:
        f.write('"use strict";\n')
    with open(os.path.join(panel, "sub", "page.html"), "w") as f:
        f.write("<p>sub page</p>\n")
    secret = os.path.join(base, "secret.txt")
    with open(secret, "w") as f:
        f.write(SECRET + "\n")
    # a sibling whose name starts like the panel's
    os.makedirs(os.path.join(base, "panel2"))
    with open(os.path.join(base, "panel2", "index.html"), "w") as f:
        f.write(SECRET + "\n")
    os.symlink("../secret.txt", os.path.join(panel, "leak.txt"))
    os.symlink(secret, os.path.join(panel, "abs-leak.txt"))
    os.symlink("/etc/passwd", os.path.join(panel, "passwd"))
    os.symlink("..", os.path.join(panel, "up"))
    os.symlink("/", os.path.join(panel, "root"))
    os.symlink("../panel2", os.path.join(panel, "twin"))
    return panel, secret


# -- the shared rig --------------------------------------------------------------

class Rig:
    def __init__(self, d, sim, panel, secret):
        self.d, self.sim, self.panel, self.secret = d, sim, panel, secret

    def healthy(self, what=""):
        assert_healthy(self.d, self.sim, what)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("abuse")
    panel, secret = make_panel(tmp)
    with Sim(tmp, controllers=sim_controllers()) as sim, \
            Daemon(tmp, sim, panel_dir=panel, tick_hz=TICK_HZ,
                   watchdog_ms=WATCHDOG_MS) as d:
        d.wait_ready()
        r = Rig(d, sim, panel, secret)
        r.healthy("at start")
        yield r
        r.healthy("at the end of the module")


# -- oversized bodies and headers ----------------------------------------------

def test_oversized_body_refused(rig):
    d = rig.d
    # one byte over the limit, and far over it
    for n in (MAX_BODY + 1, 4 * MAX_BODY, 1024 * 1024):
        body = b'{"program": "' + b"a" * (n - 15) + b'"}'
        assert len(body) == n
        r = request(d, "POST", "/api/v1/session", body=body, timeout=20)
        assert r.status == 413, r
    # at the limit: read, and refused for what it says, not for its size
    body = b'{"program": "no_such_program", "profile": "standard"}'
    body = body[:-1] + b" " * (MAX_BODY - len(body)) + b"}"
    assert len(body) == MAX_BODY
    r = request(d, "POST", "/api/v1/session", body=body)
    assert r.status == 404 and r.json()["error"] == "not_found", r
    # chunked, adding up to more than the limit
    chunk = b"a" * 4096
    data = (b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Content-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" +
            (b"1000\r\n" + chunk + b"\r\n") * 8 + b"0\r\n\r\n")
    r = Reply(raw(d, data, timeout=20))
    assert r.status == 413, r
    # a chunk size no integer holds
    data = (b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            b"ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n")
    r = Reply(raw(d, data))
    assert r.status in (400, 413), r
    assert d.status()["state"] == "idle"
    rig.healthy("after oversized bodies")


def test_huge_claimed_length_does_not_stall(rig):
    """A client that announces a gigabyte and trickles: the daemon keeps
    answering others meanwhile, and nothing is started."""
    d = rig.d
    s = connect(d)
    try:
        s.sendall(b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: 1000000000\r\n\r\n")
        for _ in range(8):
            s.sendall(b"x" * 65536)
            assert d.request("GET", "/api/v1/status").status == 200
    finally:
        reset_close(s)
    # and with Expect: 100-continue (what curl sends)
    s = connect(d)
    try:
        s.sendall(b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Expect: 100-continue\r\n"
                  b"Content-Length: 1000000000\r\n\r\n")
        s.settimeout(1.0)
        try:
            got = s.recv(4096)
        except socket.timeout:
            got = b""
        assert b"100 Continue" not in got, got
    finally:
        reset_close(s)
    assert d.status()["state"] == "idle"
    rig.healthy("after a huge claimed length")


@pytest.mark.parametrize("what,data", [
    ("one 10 KiB header",
     b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10240 +
     b"\r\n\r\n"),
    ("2000 small headers",
     b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n" +
     b"".join(b"X-%d: y\r\n" % i for i in range(2000)) + b"\r\n"),
    ("a 16 KiB request line",
     b"GET /" + b"a" * 16384 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("a 64 KiB header without end",
     b"GET /api/v1/status HTTP/1.1\r\nX-Big: " + b"a" * 65536),
    ("a 100 KiB token",
     b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
     b"a" * 102400 + b"\r\n\r\n"),
])
def test_oversized_headers_refused(rig, what, data):
    out = raw(rig.d, data, timeout=10)
    if out:
        r = Reply(out)
        assert r.status in (400, 413, 414, 431), (what, r)
    rig.healthy("after " + what)


# -- slow clients ----------------------------------------------------------------

SLOW_TRICKLE = 100        # connections sending a header byte a second
SLOW_SILENT = 50          # connections that send half a request, then nothing
SLOW_SECONDS = API_REQUEST_S + 10   # every slow client closed by then


timing = pytest.mark.skipif(bool(WRAPPER), reason="about timing: "
                            "meaningless under $MASSAGED_WRAPPER")


@pytest.fixture(scope="module")
def slowloris(tmp_path_factory):
    """One slowloris run against a daemon of its own, with a session
    running (the tick at full rate, the controllers' watchdogs armed),
    observed every second: its results for the tests below."""
    tmp = tmp_path_factory.mktemp("slowloris")
    res = {"latency": [], "failed": [], "silent_closed": {},
           "trickle_closed": {}}
    with Sim(tmp, controllers=sim_controllers()) as sim, \
            Daemon(tmp, sim, tick_hz=TICK_HZ, watchdog_ms=WATCHDOG_MS,
                   args=()) as d:
        d.wait_ready()
        fd0 = fds(d.pid)
        start_session(d)
        t0 = monotonic_ns()
        start = time.monotonic()
        silent, trickle = [], []
        try:
            for _ in range(SLOW_SILENT):
                s = connect(d)
                s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: 12")
                s.setblocking(False)
                silent.append(s)
            for _ in range(SLOW_TRICKLE):
                s = connect(d)
                s.sendall(b"GET /api/v1/status HTTP/1.1\r\nX-Slow: ")
                s.setblocking(False)
                trickle.append(s)
            while time.monotonic() - start < SLOW_SECONDS:
                now = time.monotonic() - start
                for i, s in enumerate(trickle):
                    if i in res["trickle_closed"]:
                        continue
                    try:
                        s.send(b"a")
                        if s.recv(1) == b"":
                            res["trickle_closed"][i] = now
                    except BlockingIOError:
                        pass
                    except OSError:
                        res["trickle_closed"][i] = now
                for i, s in enumerate(silent):
                    if i in res["silent_closed"]:
                        continue
                    try:
                        if s.recv(4096) == b"":
                            res["silent_closed"][i] = now
                    except BlockingIOError:
                        pass
                    except OSError:
                        res["silent_closed"][i] = now
                t = time.monotonic()
                try:
                    r = d.request("GET", "/api/v1/status", timeout=5)
                    res["latency"].append(time.monotonic() - t)
                    if r.status != 200:
                        res["failed"].append(repr(r))
                except OSError as e:
                    res["failed"].append(repr(e))
                time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
            res["t0"], res["t1"] = t0, monotonic_ns()
            res["alive"] = d.alive()
            res["fds_during"] = fds(d.pid)
            res["state"] = d.status()["state"]
            stop_session(d)
        finally:
            for s in silent + trickle:
                reset_close(s)
        res["fd0"] = fd0
        res["sim"], res["d"] = sim, d
        # connections gone, the descriptors come back
        deadline = time.monotonic() + 15
        while fds(d.pid) > fd0 + 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        res["fds_after"] = fds(d.pid)
        assert_healthy(d, sim, "after slowloris")
        yield res


@timing
def test_slowloris_daemon_keeps_answering(slowloris):
    res = slowloris
    assert res["alive"]
    assert res["state"] == "running"        # the session went on
    assert res["failed"] == []
    assert len(res["latency"]) >= SLOW_SECONDS * 0.7
    assert max(res["latency"]) < 2.0, max(res["latency"])
    assert res["fds_after"] <= res["fd0"] + 2, res


@timing
def test_slowloris_control_loop_keeps_ticking(slowloris):
    res = slowloris
    assert_ticking(res["sim"], res["t0"], res["t1"], "during slowloris: ",
                   hz=TICK_HZ)


@timing
def test_slowloris_silent_connections_time_out(slowloris):
    """Half a request, then silence: closed once API_REQUEST_S have passed
    without a complete request."""
    closed = slowloris["silent_closed"]
    assert len(closed) == SLOW_SILENT, closed
    assert min(closed.values()) >= API_REQUEST_S - 1, closed
    assert max(closed.values()) <= API_REQUEST_S + 5, closed


@timing
def test_slowloris_trickling_connections_time_out(slowloris):
    """A header byte a second keeps no connection: the deadline is for the
    whole request, not restarted by every byte (libevent's own timeout
    is)."""
    closed = slowloris["trickle_closed"]
    assert len(closed) == SLOW_TRICKLE, "%d of %d trickling connections " \
        "closed in %d s" % (len(closed), SLOW_TRICKLE, SLOW_SECONDS)
    assert max(closed.values()) <= API_REQUEST_S + 5, closed


# -- event-stream clients that come and go ---------------------------------------

STREAM_CONNECTS = 2000
STREAM_BATCH = 50
STREAM_SECONDS = 180      # the bound on the whole churn


def stream_request():
    return (b"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Accept: text/event-stream\r\n\r\n")


@timing
def test_event_stream_churn(tmp_path):
    """2000 event-stream clients in batches of 50, while a session runs:
    some vanish with a reset before reading, some read a little and close,
    some never finish their request. The session goes on, the tick never
    misses a watchdog period, the daemon answers, ends with the descriptors
    it started with, and a new client still gets its stream."""
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, tick_hz=TICK_HZ, watchdog_ms=WATCHDOG_MS,
                   args=()) as d:
        d.wait_ready()
        assert d.request("GET", "/api/v1/status").status == 200
        fd0 = fds(d.pid)
        start_session(d)
        t0 = monotonic_ns()
        start = time.monotonic()
        req = stream_request()
        statuses = {}
        for b in range(STREAM_CONNECTS // STREAM_BATCH):
            socks = []
            for i in range(STREAM_BATCH):
                s = connect(d)
                kind = (b * STREAM_BATCH + i) % 3
                s.sendall(req if kind != 2 else req[:len(req) // 2])
                socks.append((kind, s))
            for kind, s in socks:
                if kind == 1:
                    s.settimeout(5)
                    try:
                        head = s.recv(64)
                    except OSError:
                        head = b""
                    code = head[9:12].decode("latin-1") or "closed"
                    statuses[code] = statuses.get(code, 0) + 1
                    s.close()               # FIN
                else:
                    reset_close(s)
            assert d.alive(), d.logs()[-3000:]
            assert time.monotonic() - start < STREAM_SECONDS, \
                "churn too slow: batch %d after %.0f s" % (
                    b, time.monotonic() - start)
            r = d.request("GET", "/api/v1/status", timeout=10)
            assert r.status == 200, r
        t1 = monotonic_ns()
        assert d.status()["state"] == "running"   # the session went on
        stop_session(d)
        # every stream that was answered was a stream (or refused: busy)
        assert set(statuses) <= {"200", "503", "closed"}, statuses
        assert statuses.get("200", 0) > 0, statuses
        deadline = time.monotonic() + 20
        while fds(d.pid) > fd0 + 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert fds(d.pid) <= fd0 + 2, "descriptors: %d before, %d after" % (
            fd0, fds(d.pid))
        ts = heartbeats(sim, 0, t0, t1)
        gaps = sorted(b - a for a, b in zip(ts, ts[1:]))
        print("churn: %.1f s, %d ticks, gaps median %.0f ms, max %.0f ms, %s"
              % ((t1 - t0) / 1e9, len(ts), 1000 * gaps[len(gaps) // 2],
                 1000 * gaps[-1], statuses))
        assert_ticking(sim, t0, t1, "during the churn: ", hz=TICK_HZ,
                       rate=0.2, max_gap=1.0)
        # a new client gets its stream and status events
        s = connect(d, timeout=10)
        try:
            s.sendall(req)
            buf = b""
            deadline = time.monotonic() + 10
            while buf.count(b"event: status") < 2 and \
                    time.monotonic() < deadline:
                buf += s.recv(65536)
            assert buf.startswith(b"HTTP/1.1 200"), buf[:200]
            assert buf.count(b"event: status") >= 2
        finally:
            reset_close(s)
        assert_healthy(d, sim, "after the churn")


@timing
def test_stream_burst_keeps_existing_readers(rig):
    d = rig.d
    req = stream_request()
    reader = connect(d)
    reader.sendall(req)
    state = {"bytes": 0, "end": None, "stop": False}

    def read():
        reader.settimeout(0.5)
        while not state["stop"]:
            try:
                c = reader.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                state["end"] = repr(e)
                return
            if not c:
                state["end"] = "closed by the daemon"
                return
            state["bytes"] += len(c)

    th = threading.Thread(target=read, daemon=True)
    th.start()
    burst = []
    try:
        time.sleep(0.5)
        for _ in range(60):
            s = connect(d)
            s.sendall(req)
            burst.append(s)
        time.sleep(1.5)
        assert state["end"] is None, "the reading client was dropped " \
            "(%s) after %d bytes" % (state["end"], state["bytes"])
    finally:
        for s in burst:
            reset_close(s)
        state["stop"] = True
        th.join(5)
        reset_close(reader)
        rig.healthy("after a burst of stream clients")


# -- malformed UTF-8 --------------------------------------------------------------

BAD_UTF8_BODIES = [
    b'{"program": "\xc3\x28", "profile": "standard"}',       # bad continuation
    b'{"program": "\xc0\xaf", "profile": "standard"}',       # overlong '/'
    b'{"program": "\xed\xa0\x80", "profile": "standard"}',   # a surrogate
    b'{"program": "\xf4\x90\x80\x80", "profile": "standard"}',  # > U+10FFFF
    b'{"program": "api_test\xe2\x82", "profile": "standard"}',  # cut short
    b'{"program": "api_test", "profile": "standard\xff"}',
    b'{"\xfe\xff": 1}',                                       # in a key
    b'{"program": "\\ud800", "profile": "standard"}',        # lone surrogate
    b'{"program": "api\\u0000test", "profile": "standard"}',  # escaped NUL
    b'{"program": "api_test", "profile": "standard"}\x80',   # trailing junk
]


@pytest.mark.parametrize("body", BAD_UTF8_BODIES)
def test_malformed_utf8_body_refused(rig, body):
    d = rig.d
    r = request(d, "POST", "/api/v1/session", body=body)
    assert r.status == 400, r
    doc = r.json()                  # the reply itself is valid UTF-8 JSON
    assert doc["error"] == "bad_request" and doc["message"], doc
    r = request(d, "PUT", "/api/v1/session/intensity",
                body=body.replace(b'"program"', b'"percent"'))
    assert r.status == 400, r
    assert d.status()["state"] == "idle"
    rig.healthy()


BAD_UTF8_PATHS = [b"/api/v1/stat\xffus", b"/api/v1/\xed\xa0\x80",
                  b"/\xc3\x28", b"/index.html\xff", b"/sub/\xc0\xae\xc0\xae"]


@pytest.mark.parametrize("path", BAD_UTF8_PATHS)
def test_malformed_utf8_path_never_served(rig, path):
    for method in ("GET", "POST", "HEAD"):
        r = request(rig.d, method, path)
        assert r.status is not None and 400 <= r.status < 500, r
        if method != "HEAD":
            assert r.json()["error"] in ("bad_request", "not_found",
                                         "method_not_allowed"), r
    rig.healthy()


@pytest.mark.parametrize("path", BAD_UTF8_PATHS[:3])
def test_malformed_utf8_path_error_has_message(rig, path):
    r = request(rig.d, "GET", path)
    assert "message" in r.json(), r


@pytest.mark.parametrize("path", BAD_UTF8_PATHS[:3])
def test_malformed_utf8_path_is_bad_request(rig, path):
    r = request(rig.d, "GET", path)
    assert r.status == 400, r


# -- tokens -------------------------------------------------------------------------

def wrong_authorizations():
    t = TOKEN
    b64 = base64.b64encode
    return [
        ("none", None),
        ("empty bearer", "Bearer "),
        ("bearer alone", "Bearer"),
        ("same length, wrong", "Bearer " + "x" * len(t)),
        ("one byte off", "Bearer " + t[:-1] + chr(ord(t[-1]) ^ 1)),
        ("short", "Bearer " + t[:8]),
        ("prefix", "Bearer " + t[:-1]),
        ("longer", "Bearer " + t + "x"),
        ("twice", "Bearer " + t + " " + t),
        ("other case", "Bearer " + t.upper()),
        ("300 bytes", "Bearer " + t + "a" * (300 - len(t))),
        ("no scheme", t),
        ("basic, token", "Basic " + b64(t.encode()).decode()),
        ("basic, user:token", "Basic " + b64(b"operator:" +
                                             t.encode()).decode()),
        ("token scheme", "Token " + t),
        ("digest", 'Digest username="operator", response="' + t + '"'),
        ("bearer, NUL inside", b"Bearer " + t.encode()[:4] + b"\x00" +
         t.encode()[4:]),
        ("bearer, UTF-8", "Bearer " + t[:-2] + "\u00e9"),
    ]


PROTECTED = [("GET", "/api/v1/status", b""), ("GET", "/api/v1/programs", b""),
             ("GET", "/api/v1/sessions?limit=5", b""),
             ("POST", "/api/v1/session",
              b'{"program": "api_test", "profile": "standard"}'),
             ("PUT", "/api/v1/session/intensity", b'{"percent": 50}'),
             ("POST", "/api/v1/estop", b""), ("POST", "/api/v1/reset", b""),
             ("GET", "/api/v1/events", b"")]


@pytest.mark.parametrize("what,auth", wrong_authorizations(),
                         ids=[w for w, _ in wrong_authorizations()])
def test_wrong_tokens_refused(rig, what, auth):
    d = rig.d
    for method, path, body in PROTECTED:
        r = request(d, method, path, body=body,
                    token=auth if auth is not None else None)
        assert r.status == 401, (what, method, path, r)
        assert r.json()["error"] == "unauthorized"
        assert r.headers.get("www-authenticate", "").startswith(
            'Bearer realm="massaged"'), r.headers
    st = d.status()
    assert st["state"] == "idle" and not st.get("fault"), st
    rig.healthy()


def test_token_elsewhere_than_the_header_refused(rig):
    d = rig.d
    for path, headers in [
            ("/api/v1/status?access_token=" + TOKEN, ()),
            ("/api/v1/status?token=" + TOKEN, ()),
            ("/api/v1/status", ("Cookie: token=" + TOKEN,)),
            ("/api/v1/status", ("X-Auth-Token: " + TOKEN,)),
            ("/api/v1/status", ("Proxy-Authorization: Bearer " + TOKEN,))]:
        r = request(d, "GET", path, headers=headers, token=None)
        assert r.status in (400, 401), (path, headers, r)
    rig.healthy()


def test_tokens_never_logged(rig):
    """Neither a refused guess nor the good token sent in the header ends
    up in the log (the daemon runs with -v: debug messages too). A token
    put in a URL is logged with the URL at debug level: clients must not."""
    d = rig.d
    before = len(d.logs())
    guess = "guess-" + "q" * 20
    assert request(d, "GET", "/api/v1/status",
                   token="Bearer " + guess).status == 401
    assert request(d, "POST", "/api/v1/estop",
                   token="Basic " + guess).status == 401
    assert d.request("GET", "/api/v1/status").status == 200
    assert d.request("GET", "/api/v1/events?x=1", timeout=2,
                     token=guess).status == 401
    # after the floods above, the 401 lines may be rate-limited: then
    # they are summed up when the window ends, with the first one's text
    d.wait_for(lambda: "no valid bearer token" in d.logs()[before:],
               timeout=20, what="a 401 line or its summary")
    log = d.logs()[before:]
    assert guess not in log
    assert TOKEN not in log


# -- the static panel ---------------------------------------------------------------

TRAVERSALS = [
    "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
    "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt", "/.%2e/secret.txt",
    "/sub/../../secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt",
    "/sub/./../../secret.txt", "/%252e%252e/secret.txt",
    "/..\\secret.txt", "/..%5csecret.txt", "/%c0%ae%c0%ae/secret.txt",
    "//etc/passwd", "/etc/passwd", "/%2fetc%2fpasswd", "/./../secret.txt",
    "/leak.txt", "/abs-leak.txt", "/passwd", "/up/secret.txt",
    "/root/etc/passwd", "/twin/index.html", "/../panel2/index.html",
    "/index.html%00", "/index.html%00.js", "/leak.txt%00.html",
    "/up", "/sub/", "/sub",
    "http://127.0.0.1/../secret.txt", "http://127.0.0.1/leak.txt",
    "/" + "../" * 40 + "etc/passwd", "/" + "a/" * 3000 + "x",
]


def secret_in(r):
    return SECRET.encode() in r.raw or b"root:x:0:0" in r.raw


def test_panel_serves_its_files(rig):
    for path, text in [("/", b"abuse panel"), ("/index.html", b"abuse panel"),
                       ("/?../../secret.txt", b"abuse panel"),
                       ("/app.js", b"use strict"),
                       ("/sub/page.html", b"sub page")]:
        r = request(rig.d, "GET", path, token=None)
        assert r.status == 200 and text in r.body, (path, r)
        assert r.headers.get("x-content-type-options") == "nosniff"


@pytest.mark.parametrize("path", TRAVERSALS)
def test_panel_path_traversal(rig, path):
    for method in ("GET", "HEAD"):
        r = request(rig.d, method, path, token=None)
        assert r.status in (400, 404), (method, path, r)
        assert not secret_in(r), (method, path, r)
    # with a token it is no different
    r = request(rig.d, "GET", path)
    assert r.status in (400, 404) and not secret_in(r), (path, r)
    rig.healthy()


def test_panel_fifo_does_not_block_the_loop(tmp_path):
    panel, _ = make_panel(tmp_path)
    fifo = os.path.join(panel, "pipe.txt")
    os.mkfifo(fifo)
    with Sim(tmp_path, controllers=sim_controllers()) as sim, \
            Daemon(tmp_path, sim, panel_dir=panel, tick_hz=TICK_HZ,
                   watchdog_ms=WATCHDOG_MS) as d:
        d.wait_ready()
        s = connect(d)
        try:
            s.sendall(b"GET /pipe.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.5)
            t0 = monotonic_ns()
            try:
                ok = d.request("GET", "/api/v1/status",
                               timeout=3).status == 200
            except OSError:
                ok = False
            blocked = not ok
        finally:
            # let a blocked daemon go on
            try:
                wfd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                os.close(wfd)
            except OSError:
                pass
            reset_close(s)
        assert not blocked, "the daemon stopped answering while opening " \
            "a FIFO of the panel"
        time.sleep(1.0)
        assert_ticking(sim, t0, monotonic_ns(), "while a FIFO was asked: ")
        assert_healthy(d, sim)


# -- request smuggling ------------------------------------------------------------

def auth_line():
    return b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"


def test_content_length_with_chunked_refused(rig):
    d = rig.d
    smuggled = (b"POST /api/v1/estop HTTP/1.1\r\nHost: x\r\n" + auth_line() +
                b"Content-Length: 0\r\n\r\n")
    body = b"0\r\n\r\n" + smuggled
    data = (b"POST /api/v1/session/stop HTTP/1.1\r\nHost: x\r\n" +
            auth_line() + b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
            % len(body) + body)
    r = Reply(raw(d, data))
    assert r.status == 400, r
    assert r.count() == 1, r
    st = d.status()
    assert st["state"] == "idle" and not st.get("fault"), st
    rig.healthy()


@pytest.mark.parametrize("value", [b"2, 40", b"-1", b"0x10", b"1e3",
                                   b"99999999999999999999999"])
def test_invalid_content_length_refused(rig, value):
    data = (b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\n" + auth_line() +
            b"Content-Type: application/json\r\nContent-Length: " + value +
            b"\r\n\r\n{}")
    r = Reply(raw(rig.d, data))
    # refused, or closed without a word: either way nothing was done
    assert r.status in (400, 413) or r.raw == b"", (value, r)
    assert rig.d.status()["state"] == "idle"
    rig.healthy()


def test_conflicting_content_lengths_refused(rig):
    d = rig.d
    smuggled = (b"POST /api/v1/estop HTTP/1.1\r\nHost: x\r\n" + auth_line() +
                b"Content-Length: 0\r\n\r\n")
    body = b"{}" + smuggled
    data = (b"POST /api/v1/session/stop HTTP/1.1\r\nHost: x\r\n" +
            auth_line() + b"Content-Type: application/json\r\n"
            b"Content-Length: 2\r\nContent-Length: %d\r\n\r\n" % len(body) +
            body)
    try:
        r = Reply(raw(d, data, timeout=3))
        st = d.status()
        assert not st.get("fault"), "the smuggled e-stop ran: %r" % r
        assert r.status == 400 and r.count() == 1, r
    finally:
        if d.status().get("fault"):
            d.wait_for(lambda: d.request("POST", "/api/v1/reset").status
                       == 200, timeout=10, what="reset")
            d.wait_state("idle")
        rig.healthy()


# -- methods ------------------------------------------------------------------------

@pytest.mark.parametrize("method", [b"BREW", b"get", b"G\tT", b"X" * 300,
                                    b"PROPFIND", b"PATCH", b"DELETE",
                                    b"OPTIONS", b"TRACE", b"CONNECT"])
def test_odd_methods_refused(rig, method):
    for path in (b"/api/v1/status", b"/api/v1/session", b"/", b"/index.html",
                 b"127.0.0.1:22"):
        # Read as a client reads: the body's end is said (Content-Length,
        # checked below), no need to wait for the close.
        r = request(rig.d, method, path, until_length=True)
        assert r.status in (400, 404, 405, 501), (method, path, r)
        if r.status == 405:
            assert r.headers.get("allow"), r
        # The body's end is said (a client need not wait for the close).
        assert r.headers.get("content-length") == str(len(r.body)), r
        # TRACE never reflects the request (and its token)
        assert TOKEN.encode() not in r.body, (method, path, r)
    rig.healthy()
