"""Roles, tokens and event streams (daemon/api/api-view.c, api-auth.c,
api-stream.c; issue 24, cases 4, 6 and 7).

- Case 4: a viewer sees no client's name, condition or note anywhere. The
  table of every route and field by role is docs/api.md's "Roles"; these
  tests read it, check it names every route of daemon/api/api.c, and walk
  it for each role with a session run for a client with a condition and a
  note.
- Case 6: a named token line states its role; a line cut short is refused
  with file:line (at start and on SIGHUP, where the old tokens stay), and a
  file rewritten while SIGHUPs arrive never makes the viewer an operator.
- Case 7: event streams are capped per token and per role: viewers cannot
  take every stream, an operator's and an admin's stream are still served.

Every test runs the real daemon against the real simulator.
"""

import json
import os
import re
import signal
import threading
import time

import pytest

from daemon import Daemon, TOKEN, sim_controllers
from simctl import Sim
from test_api import Stream

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SLACK = dict(response_timeout_ms=200, watchdog_ms=1000)
OPERATOR = "tablet-token-0123456789abc"
VIEWER = "viewer-token-0123456789abc"
ROLES = {"admin": TOKEN, "operator": OPERATOR, "viewer": VIEWER}
TOKENS = [TOKEN, "tablet %s operator" % OPERATOR, "hall %s viewer" % VIEWER]

NAME = "Ottilie Brankovic-Roles"
NOTE = "Mind the left knee; talks about her cardiologist"
CLIENT = {"name": NAME, "conditions": ["varicose_veins"],
          "pressure": "medium", "ramp": "gentle",
          "zones": {"cap": ["piriformis_left"], "avoid": ["lumbar_left"]},
          "note": NOTE}
# What must never reach a viewer: the name, the note, the condition (its
# name and the rule's reason both say "varicose").
HEALTH = [NAME.lower(), NOTE.lower(), "varicose"]


def health_in(text):
    low = text.lower()
    return [h for h in HEALTH if h in low]


class RoleStream(Stream):
    """A reader of /api/v1/events with a token of our choice."""

    def __init__(self, d, token):
        saved = d.token
        d.token = token
        try:
            super().__init__(d)
        finally:
            d.token = saved


@pytest.fixture
def sim(tmp_path):
    with Sim(tmp_path, controllers=sim_controllers()) as s:
        yield s


@pytest.fixture
def d(tmp_path, sim):
    # Without the shipped example profiles: their ids name conditions
    # ("pregnant"), as a clinic's own files must not (docs/api.md, Roles).
    std = open(os.path.join(REPO, "config", "profiles",
                            "standard.ini")).read()
    dm = Daemon(tmp_path, sim, tokens=TOKENS, copy_profiles=False,
                profiles={"standard": std}, **SLACK)
    try:
        dm.wait_ready()
        yield dm
    finally:
        dm.stop()
    assert dm.sanitizer_report() == ""


# --- case 4: the table of routes and fields by role ----------------------------

def roles_table():
    """docs/api.md's Roles table: {"METHOD /path": (admin_operator, viewer)}."""
    text = open(os.path.join(REPO, "docs", "api.md")).read()
    sec = text[text.index("\n## Roles\n"):]
    sec = sec[:sec.index("\n## ", 1)]
    rows = {}
    for line in sec.splitlines():
        m = re.match(r"\| `([A-Z]+ /[^`]*)` \| (.*?) \| (.*) \|$", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def api_routes():
    """Every route of daemon/api/api.c's table, as "METHOD /path"."""
    src = open(os.path.join(REPO, "daemon", "api", "api.c")).read()
    out = set()
    for path, macro, method in re.findall(
            r'\{\s*(?:"([^"]+)"|(API_PROFILE_ROUTE)),\s*EVHTTP_REQ_(\w+)',
            src):
        if macro:
            out.add("%s /api/v1/profiles/ID" % method)
            if method == "GET":
                out.add("GET /api/v1/profiles/ID/sessions")
        else:
            out.add("%s %s" % (method, path))
    return out


# One request per route: harmless for an admin or operator (refused for
# its body, or a read), so the walk changes nothing but the e-stop.
def requests_for(pid):
    return {
        "GET /api/v1/status": ("GET", "/api/v1/status", None),
        "GET /api/v1/events": None,             # walked by streams
        "GET /api/v1/sessions": ("GET", "/api/v1/sessions?limit=50", None),
        "GET /api/v1/profiles": ("GET", "/api/v1/profiles", None),
        "POST /api/v1/profiles": ("POST", "/api/v1/profiles", {}),
        "GET /api/v1/profiles/ID": ("GET", "/api/v1/profiles/" + pid, None),
        "GET /api/v1/profiles/ID/sessions":
            ("GET", "/api/v1/profiles/%s/sessions" % pid, None),
        "PUT /api/v1/profiles/ID": ("PUT", "/api/v1/profiles/" + pid, {}),
        "DELETE /api/v1/profiles/ID":
            ("DELETE", "/api/v1/profiles/no_such_client", None),
        "GET /api/v1/intake": ("GET", "/api/v1/intake", None),
        "POST /api/v1/intake/preview": ("POST", "/api/v1/intake/preview", {}),
        "GET /api/v1/programs": ("GET", "/api/v1/programs", None),
        "GET /api/v1/routines": ("GET", "/api/v1/routines", None),
        "GET /api/v1/causes": ("GET", "/api/v1/causes", None),
        "GET /api/v1/whoami": ("GET", "/api/v1/whoami", None),
        "POST /api/v1/session": ("POST", "/api/v1/session",
                                 {"program": "no_such_program",
                                  "profile": pid}),
        "POST /api/v1/session/pause": ("POST", "/api/v1/session/pause", None),
        "POST /api/v1/session/resume": ("POST", "/api/v1/session/resume",
                                        None),
        "POST /api/v1/session/stop": ("POST", "/api/v1/session/stop", None),
        "PUT /api/v1/session/intensity": ("PUT", "/api/v1/session/intensity",
                                          {"percent": 50}),
        "POST /api/v1/reset": ("POST", "/api/v1/reset", None),
        "POST /api/v1/estop": ("POST", "/api/v1/estop", None),
        "GET /metrics": ("GET", "/metrics", None),
    }


def test_roles_table_names_every_route():
    rows = roles_table()
    assert rows, "docs/api.md has no Roles table"
    assert set(rows) == api_routes(), (
        "docs/api.md's Roles table and daemon/api/api.c's routes differ: "
        "%s" % sorted(set(rows) ^ api_routes()))
    assert set(rows) == set(requests_for("x")), \
        sorted(set(rows) ^ set(requests_for("x")))


def run_session(d, pid):
    """A session for the client, watched by a stream of every role; the
    streams' events by role."""
    streams = {role: RoleStream(d, tok).start() for role, tok in
               ROLES.items()}
    try:
        for s in streams.values():
            assert s.resp.status == 200
        r = d.request("POST", "/api/v1/session", {"program": "api_test",
                                                  "profile": pid},
                      token=OPERATOR)
        assert r.status == 201, r.text
        assert health_in(r.text), "the operator's reply lacks the name"
        d.wait_state("running")
        for s in streams.values():
            s.wait("started")
            s.wait("status", lambda st: st["state"] == "running")
        running = {role: d.request("GET", "/api/v1/status", token=tok)
                   for role, tok in ROLES.items()}
        r = d.request("POST", "/api/v1/session/stop", token=OPERATOR)
        assert r.status == 200, r.text
        d.wait_state("idle", timeout=60)
        for s in streams.values():
            s.wait("stopped")
        time.sleep(0.3)             # a few idle snapshots too
        return running, {role: list(s.events) for role, s in
                         streams.items()}
    finally:
        for s in streams.values():
            s.close()


def test_viewer_sees_no_health_data_anywhere(d):
    """Walks docs/api.md's Roles table for admin, operator and viewer after
    a session for a client with a condition and a note: the viewer gets no
    name, condition or note from any route, stream or CSV; the others do
    where the table says so (which shows the check can see a leak)."""
    rows = roles_table()
    r = d.request("POST", "/api/v1/profiles", CLIENT)
    assert r.status == 201, r.text
    pid = r.json()["id"]
    running, events = run_session(d, pid)

    # The status while the session ran, and the stream of each role.
    for role, r in running.items():
        assert r.status == 200
        if role == "viewer":
            assert health_in(r.text) == [], r.text
            assert r.json()["profile_name"] is None
            assert r.json()["profile"] == pid
        else:
            assert r.json()["profile_name"] == NAME
    for role, evs in events.items():
        assert any(typ == "status" and st["state"] == "running"
                   for _, typ, st in evs)
        leaks = [(typ, health_in(str(st))) for _, typ, st in evs
                 if health_in(str(st))]
        if role == "viewer":
            assert leaks == [], leaks[:3]
        else:
            assert leaks, "%s's stream never had the name" % role

    # The walk: every route of the table, for each role.
    reqs = requests_for(pid)
    for role, tok in ROLES.items():
        for route, (priv, view) in rows.items():
            if reqs[route] is None:
                continue
            method, path, body = reqs[route]
            r = d.request(method, path, body, token=tok,
                          headers={"If-Match": '"999"'})
            want_403 = role == "viewer" and view.startswith("403")
            where = "%s as %s: %d %s" % (route, role, r.status, r.text[:300])
            if want_403:
                assert r.status == 403, where
                assert r.json()["error"] == "forbidden", where
            else:
                assert r.status not in (401, 403), where
            if role == "viewer" and route == "GET /api/v1/intake":
                # The clinic's list of every rule, the client in none.
                assert health_in(r.text) == ["varicose"], where
            elif role == "viewer":
                assert health_in(r.text) == [], where
            elif route in ("GET /api/v1/sessions", "GET /api/v1/profiles",
                           "GET /api/v1/profiles/ID"):
                assert health_in(r.text), "%s as %s lacks the name" % (
                    route, role)
    # The records as the viewer gets them: none of the profile's fields.
    recs = d.request("GET", "/api/v1/sessions?limit=50",
                     token=VIEWER).json()["sessions"]
    ours = [x for x in recs if x.get("profile") == pid]
    assert any(x["phase"] == "end" for x in ours), ours
    for x in recs:
        assert not set(x) & {"client", "conditions", "limits", "excluded"}, x
    full = d.request("GET", "/api/v1/sessions?limit=50").json()["sessions"]
    mine = [x for x in full if x.get("profile") == pid and
            x["phase"] == "end"][0]
    assert mine["client"] == NAME and mine["conditions"] == ["varicose_veins"]
    profs = d.request("GET", "/api/v1/profiles", token=VIEWER).json()
    assert all(set(p) == {"id", "revision", "writable"}
               for p in profs["profiles"])

    # massagectl's CSV export, with the viewer's token and the operator's.
    p = d.run_ctl("sessions", "--csv", "--limit", "50", token=False,
                  env={"MASSAGED_TOKEN": VIEWER})
    assert p.returncode == 0, p.stderr
    assert pid in p.stdout and health_in(p.stdout) == [], p.stdout
    p = d.run_ctl("sessions", "--csv", "--limit", "50", token=False,
                  env={"MASSAGED_TOKEN": OPERATOR})
    assert p.returncode == 0, p.stderr
    assert "varicose_veins" in p.stdout

    # The walk pressed the e-stop: the table ends in a fault, reset it.
    assert d.request("POST", "/api/v1/reset").status == 200


# --- case 6: a token line states its role ---------------------------------------

VIEW1 = "view1-token-0123456789abcdef"


def whoami(d, token):
    r = d.request("GET", "/api/v1/whoami", token=token)
    return r.json()["role"] if r.status == 200 else r.status


@pytest.mark.parametrize("tail", ["view1 %s\n" % VIEW1, "view1 %s" % VIEW1,
                                  "view1 %s vie" % VIEW1])
def test_cut_token_line_refused_at_start(tmp_path, tail):
    """A last line cut short (no role, no newline, half a role) stops the
    start with its file:line; the token never becomes an operator."""
    d = Daemon(tmp_path, [1, 2], start=False)
    with open(d.token_path, "w") as f:
        f.write("# tokens\n%s\n%s" % (TOKEN, tail))
    os.chmod(d.token_path, 0o600)
    d.spawn()
    try:
        assert d.wait_exit(30) != 0
        log = d.logs()
        assert "%s:3: " % d.token_path in log, log
        assert ("no role" in log or "no newline" in log or
                "unknown role" in log), log
    finally:
        d.stop()


@pytest.mark.parametrize("tail", ["view1 %s\n" % VIEW1, "view1 %s" % VIEW1])
def test_cut_token_line_keeps_the_old_tokens_on_sighup(d, tail):
    d.write_tokens(TOKENS + ["view1 %s viewer" % VIEW1])
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: whoami(d, VIEW1) == "viewer", 10,
               what="view1 loaded")
    with open(d.token_path, "w") as f:
        f.write("# tokens\n%s\ntablet %s operator\n%s" % (TOKEN, OPERATOR,
                                                          tail))
    n0 = d.logs().count("tokens not reloaded")
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: d.logs().count("tokens not reloaded") > n0, 10,
               what="the refused reload")
    assert "tokens not reloaded, the old ones stay: %s:4: " % \
        d.token_path in d.logs()
    assert whoami(d, VIEW1) == "viewer"
    assert whoami(d, VIEWER) == "viewer"    # the old set, whole
    r = d.request("POST", "/api/v1/reset", token=VIEW1)
    assert r.status == 403 and r.json()["error"] == "forbidden"


def test_rewrite_during_sighups_never_makes_the_viewer_an_operator(d):
    """A writer rewrites the token file in place, in two pieces (cut after
    the viewer's token, before its role), while SIGHUPs arrive; the
    viewer's whoami stays viewer every time (bounded: 400 calls, 30 s)."""
    head = "# tokens\n%s\ntablet %s operator\nview1 %s" % (TOKEN, OPERATOR,
                                                           VIEW1)
    with open(d.token_path, "w") as f:
        f.write(head + " viewer\n")
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: whoami(d, VIEW1) == "viewer", 10,
               what="view1 loaded")
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            fd = os.open(d.token_path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, head.encode())
                time.sleep(0.02)
                os.write(fd, b" viewer\n")
            finally:
                os.close(fd)
            time.sleep(0.001)

    def hupper():
        while not stop.is_set():
            d.signal(signal.SIGHUP)
            time.sleep(0.01)

    threads = [threading.Thread(target=writer, daemon=True),
               threading.Thread(target=hupper, daemon=True)]
    for t in threads:
        t.start()
    seen = {}
    try:
        deadline = time.monotonic() + 30
        for _ in range(400):
            if time.monotonic() > deadline:
                break
            role = whoami(d, VIEW1)
            seen[role] = seen.get(role, 0) + 1
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    refused = d.logs().count("tokens not reloaded")
    print("whoami of the viewer while rewritten: %s; reloads refused: %d"
          % (seen, refused))
    assert set(seen) == {"viewer"}, seen
    assert refused > 0, "no reload ever saw the file cut: the test did not"
    assert d.alive()


# --- case 7: event streams per role and per token -------------------------------

VIEWER2 = "viewer2-token-0123456789ab"
VIEWER3 = "viewer3-token-0123456789ab"
ADMIN2 = "admin2-token-0123456789abc"


def test_viewers_cannot_starve_operators_of_streams(tmp_path, sim):
    """Viewers open every stream they may (16 per token, 32 together), and
    more, which are refused with 503 and the cap named; an operator's and
    an admin's streams are still served, up to their own cap of 16; when
    all 64 places are taken, an admin token without a stream still gets
    one, in the place of a viewer's oldest."""
    tokens = TOKENS + ["hall2 %s viewer" % VIEWER2,
                       "hall3 %s viewer" % VIEWER3,
                       "boss %s admin" % ADMIN2]
    opened = []

    def open_stream(tok):
        s = RoleStream(d, tok)
        opened.append(s)
        if s.resp.status == 200:
            s.start()
        return s

    def refused(s, what):
        assert s.resp.status == 503, s.resp.status
        assert s.resp.getheader("Retry-After") == "5"
        doc = json.loads(s.resp.read())
        assert doc["error"] == "too_many_streams", doc
        assert what in doc["message"], doc

    with Daemon(tmp_path, sim, tokens=tokens, **SLACK) as d:
        d.wait_ready()
        try:
            for _ in range(16):
                assert open_stream(VIEWER).resp.status == 200
            refused(open_stream(VIEWER), "at most 16 per token")
            for _ in range(16):
                assert open_stream(VIEWER2).resp.status == 200
            refused(open_stream(VIEWER3), "at most 32 together")
            # The operator and the admin are served all the same.
            op = open_stream(OPERATOR)
            adm = open_stream(TOKEN)
            for s in (op, adm):
                assert s.resp.status == 200
                s.wait("status")
            for _ in range(15):
                assert open_stream(OPERATOR).resp.status == 200
                assert open_stream(TOKEN).resp.status == 200
            refused(open_stream(OPERATOR), "at most 16 per token")
            # 64 taken: a second admin without a stream gets one.
            first_viewer = opened[0]
            boss = open_stream(ADMIN2)
            assert boss.resp.status == 200
            boss.wait("status")
            assert "dropping an event stream client: every place is " \
                "taken and its token hall holds 16 streams: boss (admin) " \
                "gets its place" in d.logs()
            d.wait_for(lambda: not first_viewer.thread.is_alive(), 10,
                       what="the viewer's oldest stream closed")
            # Viewers hold 31 now, but every place is taken: a viewer
            # never takes one.
            refused(open_stream(VIEWER3), "(at most 64)")
            assert op.thread.is_alive() and adm.thread.is_alive()
        finally:
            for s in opened:
                s.close()
        assert d.request("GET", "/api/v1/status").status == 200


def test_reload_ends_the_streams_of_changed_tokens(d):
    """A stream never outlives what its token may see: on a reload that
    revokes the viewer and makes the operator a viewer, their streams end
    (the reader reconnects as what its token is now); the admin's stays."""
    streams = {role: RoleStream(d, tok).start() for role, tok in
               ROLES.items()}
    try:
        for s in streams.values():
            s.wait("status")
        d.write_tokens([TOKEN, "tablet %s viewer" % OPERATOR])
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: not streams["operator"].thread.is_alive() and
                   not streams["viewer"].thread.is_alive(), 10,
                   what="the changed tokens' streams ended")
        assert d.logs().count("its token was revoked, or its name or "
                              "role changed") == 2
        n = len(streams["admin"].of("status"))
        d.wait_for(lambda: len(streams["admin"].of("status")) > n + 2, 10,
                   what="the admin's stream going on")
        s = RoleStream(d, OPERATOR).start()
        streams["again"] = s
        st = s.wait("status")
        assert st["state"] == "idle"
        assert whoami(d, OPERATOR) == "viewer"
    finally:
        for s in streams.values():
            s.close()
