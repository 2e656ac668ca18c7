"""Routine containment: hostile plugins against the real daemon and the
real simulator.

Every routine instance runs in its own sandboxed worker (massaged-worker),
so nothing a plugin does may hold pressure on the client, stop the
daemon, or reach the next session. Each hostile routine
(tests/plugins/hostile_*.c) behaves for a second, writes one line
"hostile NAME pid PID misbehaves at NS" to stderr, then misbehaves; each
case asserts:

  vent      on the simulator's event log, every controller received
            CONTROL = 0 (FC06) at most VENT_BOUND_MS (HANG_BOUND_MS) after the
            misbehaviour: step() is asked a tick ahead, so a dead worker
            is found when the loop next wakes (a link's answer, or the
            next tick), a bad value at the next tick, a hanging worker
            asleep or computing at the next tick (HANG_BOUND_MS leaves
            one more tick for a worker found late); then the write; plus
            SLACK_MS of slack for a loaded machine running sanitizer
            builds;
  operator  status: a category 0 routine_error naming the routine and the
            cause (the signal, the exit, the sandbox, the deadline); the
            session record says the same;
  process   the misbehaviour happened in another process than the daemon,
            and no worker is left (no child of the daemon, zombie or not);
  effects   what it tried did not happen (no file created, no connection
            made, no process left running);
  daemon    it answers the API, resets, and runs the next session.

The constructors (tests/plugins/ctor_*.c), a wrong ABI and a file that is
not a library are refused at load: the daemon starts, those programs are
marked unavailable with the reason, the constructors ran in a worker and
did nothing, and another program runs a session.
"""

import ctypes
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from daemon import daemon_binary, threads
from simctl import monotonic_ns
from test_faults import (BUILD, LEGS, PELVIS, SLACK_S, TICK_MS, fault_program,
                         note, plugin_dir, rig)  # noqa: F401 (a fixture)

SLACK_MS = 500                  # scheduling slack on a shared, loaded box
VENT_BOUND_MS = TICK_MS + SLACK_MS              # crash, exit, bad value
HANG_BOUND_MS = 2 * TICK_MS + SLACK_MS          # asked, judged a tick on
SIGSYS = r"killed by the sandbox \(SIGSYS"

STEP_CASES = [
    # id, routine, extra program keys, what the stop message says
    ("nan", "hostile_output", "how = nan",
     r"returned -?nan kPa for zone gluteus_max"),
    ("huge", "hostile_output", "how = huge",
     r"returned 1e\+12 kPa for zone gluteus_max"),
    ("write_past_outputs", "hostile_output", "how = past_end", r"SIGSEGV"),
    ("sigsegv", "hostile_segv", "", r"SIGSEGV"),
    ("abort", "hostile_abort", "", r"SIGABRT"),
    ("exit_0", "hostile_exit", "", r"the worker exited with status 0"),
    ("infinite_loop", "hostile_loop", "",
     r"step\(\) was still computing [\d.]+ ms after it was asked "
     r"\([\d.]+ ms of CPU [^)]*\); the worker was killed"),
    ("sleep", "hostile_sleep", "",
     r"step\(\) was asleep in the kernel [\d.]+ ms after it was asked; "
     r"the worker was killed"),
    # the worker's memory is limited: malloc() says no, the routine
    # reports it (RLIMIT_AS; under ASan its allocation cap)
    ("alloc_1gb", "hostile_alloc", "", r"reported an error"),
    ("fork_child_returns", "hostile_fork", "", SIGSYS),
    ("fork_child_exits", "hostile_fork", "child_exits = yes", SIGSYS),
    ("thread_outlives_step", "hostile_thread", "", SIGSYS),
    ("open_file_to_write", "hostile_open", "", SIGSYS),
    ("open_file_to_read", "hostile_open", "read_only = yes", SIGSYS),
    ("open_socket", "hostile_socket", "port = %(port)d", SIGSYS),
    ("exec_shell", "hostile_exec", "", SIGSYS),
]

# What a hostile plugin would leave behind if it got its way.
TRACES = ("/tmp/massaged-hostile-open", "/tmp/massaged-hostile-exec",
          "/tmp/massaged-hostile-ctor-open", "/tmp/massaged-hostile-ctor-exec")

LOAD_CASES = [
    # plugin file (without .so), what its program's "unavailable" says
    ("ctor_fork", SIGSYS),
    ("ctor_exec", SIGSYS),
    ("ctor_socket", SIGSYS),
    ("ctor_open", SIGSYS),
    ("ctor_thread", SIGSYS),
    ("ctor_segv", r"SIGSEGV"),
    ("ctor_exit", r"the worker exited with status 0"),
    ("ctor_loop", r"no answer within \d+ ms"),
    ("loader_abi", r"ABI version 2, expected 1"),
    ("not_a_library", r"cannot load routine: "),
]


def marks(log, name):
    """(pid, ns) of every "hostile NAME pid PID misbehaves at NS" line."""
    return [(int(m.group(1)), int(m.group(2))) for m in re.finditer(
        r"hostile %s pid (\d+) misbehaves at (\d+)" % re.escape(name), log)]


def wait_marks(d, name):
    """The marks of name in the daemon's log once there are any: a
    worker's stderr reaches the log through the daemon's log writer, a
    moment after the daemon has seen the worker go."""
    return d.wait_for(lambda: marks(d.logs(), name), timeout=2.0,
                      what="the mark of %s in the log" % name)


def children(pid):
    """The child processes of pid: [(pid, state)]."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces
        rest = stat[stat.rfind(")") + 2:].split()
        if int(rest[1]) == pid:
            out.append((int(p), rest[0]))
    return out


def wait_no_children(d, timeout=5.0):
    """No worker is left: no child of the daemon, running or zombie."""
    end = time.monotonic() + timeout
    while True:
        left = children(d.pid)
        if not left:
            return
        if time.monotonic() > end:
            pytest.fail("the daemon still has children %r" % left)
        time.sleep(0.05)


def no_traces():
    for t in TRACES:
        assert not os.path.exists(t), "%s was created" % t


def next_session_runs(r):
    """The daemon answers, resets, and runs the next session."""
    d = r.d
    assert d.request("GET", "/api/v1/status").status == 200
    if d.status()["state"] == "fault":
        rr = d.request("POST", "/api/v1/reset")
        assert rr.status == 200, rr.text
        d.wait_state("idle", timeout=SLACK_S + 2)
    r.start_session("api_test")
    r.wait_pressure(2.0, timeout=SLACK_S + 10)
    assert d.status()["state"] == "running"
    assert d.request("POST", "/api/v1/session/stop").status == 200
    d.wait_state("idle", timeout=30)
    wait_no_children(d)


@pytest.fixture
def listener():
    """A TCP port on 127.0.0.1 that nothing may connect to."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    s.setblocking(False)
    yield s
    s.close()


@pytest.mark.parametrize("case", STEP_CASES, ids=[c[0] for c in STEP_CASES])
def test_hostile_step(rig, tmp_path, listener, case):
    """A routine that misbehaves in step(): the session stops at once,
    category 0, naming the routine and the cause; everything vents within
    VENT_BOUND_MS; the worker is gone; the daemon goes on."""
    name, routine, extra, cause = case
    for t in TRACES:
        if os.path.exists(t):
            os.unlink(t)
    extra = extra % {"port": listener.getsockname()[1]}
    r = rig(daemon={"plugin_dir": plugin_dir(tmp_path, [routine])},
            programs={"hostile": fault_program(routine, extra)})
    d = r.d
    d.wait_ready()
    t0 = monotonic_ns()
    r.start_session("hostile")
    st = r.wait_stopped("fault", timeout=1 + SLACK_S + 3)
    r.check_operator(st, "fault", "routine_error", 0,
                     r"routine %s \(step bad\)" % routine, cause)
    m = marks(d.logs(), routine)
    assert len(m) == 1, m
    pid, t_mis = m[0]
    assert t_mis > t0
    assert pid != d.pid, "the plugin ran inside the daemon"
    bound = HANG_BOUND_MS if "after it was asked" in cause \
        else VENT_BOUND_MS
    for c in (PELVIS, LEGS):
        v = r.wait_vent(c, t_mis, timeout=SLACK_S)
        took_ms = (v.ns - t_mis) / 1e6
        assert took_ms <= bound, (c, took_ms, bound)
        note(case=name, controller=c, misbehaviour_to_vent_ms=round(
            took_ms, 1))
    r.wait_vented(timeout=SLACK_S + 2)
    r.check_setpoints()
    r.check_record("routine_error", 0, routine, cause)
    wait_no_children(d)
    no_traces()
    with pytest.raises(BlockingIOError):
        listener.accept()
    next_session_runs(r)
    r.finish()


def test_hostile_load(rig, tmp_path):
    """Constructors that fork, run a shell, open a socket or a file to
    write, start a thread, crash, exit or loop, a wrong ABI and a file
    that is not a library: each is refused while it loads in a worker,
    only the programs that need it are unavailable (with the reason, in
    GET /api/v1/programs and on start), the daemon starts and runs
    another program, and the same holds for massaged -n."""
    for t in TRACES:
        if os.path.exists(t):
            os.unlink(t)
    names = [n for n, _ in LOAD_CASES if n != "not_a_library"]
    pd = plugin_dir(tmp_path, names)
    junk = os.path.join(pd, "not_a_library.so")
    with open(junk, "w") as f:
        f.write("this is not an ELF file, but it ends in .so\n" * 8)
    os.chmod(junk, 0o644)
    progs = {"uses_" + n: fault_program(n) for n, _ in LOAD_CASES}
    r = rig(daemon={"plugin_dir": pd}, programs=progs)
    d = r.d
    d.wait_ready(timeout=30)
    for n, _ in LOAD_CASES:
        if n.startswith("ctor_"):
            m = wait_marks(d, n)
            assert m, "the constructor of %s never ran" % n
            assert all(pid != d.pid for pid, _ in m), \
                "a constructor ran inside the daemon"
    wait_no_children(d)
    no_traces()

    doc = d.request("GET", "/api/v1/programs").json()
    by_id = {p["id"]: p for p in doc["programs"]}
    assert by_id["api_test"]["available"] is True
    assert by_id["api_test"]["unavailable"] is None
    for n, cause in LOAD_CASES:
        p = by_id["uses_" + n]
        assert p["available"] is False, p
        assert re.search(r"routine %s is not loaded: .*/%s\.so: "
                         % (n, n), p["unavailable"]), p["unavailable"]
        assert re.search(cause, p["unavailable"]), (cause, p["unavailable"])

    t1 = monotonic_ns()
    rr = d.request("POST", "/api/v1/session",
                   {"program": "uses_ctor_fork", "profile": "standard"})
    assert rr.status == 409, rr.text
    assert rr.json()["error"] == "unavailable", rr.text
    assert "ctor_fork" in rr.json()["message"]
    time.sleep(5 * TICK_MS / 1000)
    r.check_quiet(t1)       # nothing was enabled for it
    next_session_runs(r)

    # The check runs the constructors in workers too, and passes.
    proc = subprocess.Popen([daemon_binary(BUILD), "-n", "-f",
                             d.config_path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "configuration OK" in out + err
    for n, _ in LOAD_CASES:
        assert re.search(r"%s\.so: " % n, err), (n, err)
        if n.startswith("ctor_"):
            m = marks(err, n)
            assert m, (n, err)
            assert all(pid != proc.pid for pid, _ in m), \
                "a constructor ran inside massaged -n"
    no_traces()
    r.finish()


def landlock_abi():
    """The kernel's Landlock ABI version, 0 without Landlock."""
    libc = ctypes.CDLL(None, use_errno=True)
    v = libc.syscall(444, None, 0, 1)   # landlock_create_ruleset, VERSION
    return max(v, 0)


@pytest.mark.skipif(landlock_abi() < 1, reason="the kernel has no Landlock")
def test_constructor_cannot_read_files(rig, tmp_path):
    """A constructor that reads a file the daemon's user can read gets
    EACCES: while loading, a worker may read only the plugin's directory
    and the system's libraries (Landlock)."""
    secret = "/tmp/massaged-hostile-secret"
    word = "secret-%d-%d" % (os.getpid(), monotonic_ns())
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, word.encode())
    os.close(fd)
    try:
        r = rig(daemon={"plugin_dir": plugin_dir(tmp_path, ["ctor_read"])},
                programs={"uses_ctor_read": fault_program("ctor_read")})
        d = r.d
        d.wait_ready()
        wait_marks(d, "ctor_read")      # the constructor ran
        log = d.logs()
        assert "ctor_read: denied: Permission denied" in log, log[-2000:]
        assert word not in log
        # The routine itself is harmless: the program is available.
        doc = d.request("GET", "/api/v1/programs").json()
        assert {p["id"]: p for p in doc["programs"]}[
            "uses_ctor_read"]["available"] is True
        r.finish()
    finally:
        os.unlink(secret)


def test_daemon_exports_nothing():
    """The daemon is linked without -rdynamic: plugins (which never run in
    it anyway) could not call its functions; only data that shared
    libraries copy-relocate is in its dynamic symbol table."""
    p = subprocess.run(["nm", "-D", "--defined-only",
                        daemon_binary(BUILD)], capture_output=True,
                       text=True, check=True)
    funcs = [ln for ln in p.stdout.splitlines()
             if len(ln.split()) == 3 and ln.split()[1] in "TtWiV"]
    assert funcs == [], funcs
    for name in ("log_info", "bus_submit", "session_start", "safety_apply"):
        assert not re.search(r"\b%s\b" % name, p.stdout), name


def test_worker_kept_from_running(rig, tmp_path):
    """A worker kept from running (a busy machine; here stopped with
    SIGSTOP for four ticks) is not stuck: neither asleep nor computing, it
    is waited for, its answer is collected late and the session goes on.
    Three such misses in 50 steps stop the session, naming the routine."""
    r = rig()
    d = r.d
    d.wait_ready()
    r.start_session("api_test")
    r.wait_pressure(2.0, timeout=SLACK_S + 10)
    def hold(ms):
        # the step's worker, and the next step's, started ahead
        workers = [p for p, _ in children(d.pid)]
        assert workers
        for w in workers:
            os.kill(w, signal.SIGSTOP)
        time.sleep(ms / 1000)
        for w in workers:
            try:
                os.kill(w, signal.SIGCONT)
            except ProcessLookupError:      # its session stopped
                pass

    # Four ticks: the question asked in the first is still unanswered a
    # tick and a half later, well before the deadline (five ticks, at
    # least 250 ms).
    hold(4 * TICK_MS)
    time.sleep(60 * TICK_MS / 1000)     # past the window of 50 steps
    st = d.status()
    assert st["state"] == "running", st
    t0 = monotonic_ns()
    for _ in range(3):
        hold(4 * TICK_MS)
        time.sleep(5 * TICK_MS / 1000)
    st = r.wait_stopped("fault", timeout=SLACK_S + 2)
    r.check_operator(st, "fault", "routine_error", 0, r"routine \w+",
                     r"had not answered a tick after it was asked 3 times "
                     r"in 50 steps")
    for c in (PELVIS, LEGS):
        r.wait_vent(c, t0, timeout=SLACK_S)
    wait_no_children(d)
    next_session_runs(r)
    r.finish()


def late_ticks(d):
    """massaged_routine_late_ticks_total by cause."""
    text = d.request("GET", "/metrics", token=None).text
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^massaged_routine_late_ticks_total\{cause="(\w+)"\} (\S+)$',
        text, re.M)}


def pin(pid, cpus):
    """Every thread of pid on these CPUs (gone: nothing to do)."""
    for tid in threads(pid):
        try:
            os.sched_setaffinity(tid, cpus)
        except ProcessLookupError:
            pass


def test_worker_starved_is_waited_for(rig, tmp_path):
    """A worker kept from running by a busy CPU (runnable, on a run queue
    behind a real-time process that never yields: the busy machine itself,
    not a stopped process) is waited for: 6 late answers in 50 steps, the
    session goes on, each counted as the machine's
    (massaged_routine_late_ticks_total{cause="machine"}); counted as the
    routine's, the third would stop it."""
    if os.geteuid() != 0:
        pytest.skip("a SCHED_FIFO process needs root (CAP_SYS_NICE)")
    r = rig()
    d = r.d
    d.wait_ready()
    r.start_session("api_test")
    r.wait_pressure(2.0, timeout=SLACK_S + 10)
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2:
        pytest.skip("needs a CPU for the busy process and one for the rest")
    cpu = min(cpus)
    workers = [p for p, _ in children(d.pid)]
    assert workers
    # The workers on the busy CPU; the daemon and the simulator (every
    # thread) on the others, so that only the workers wait.
    for w in workers:
        pin(w, {cpu})
    for p in (d.pid, r.sim.pid):
        pin(p, cpus - {cpu})
    before = late_ticks(d)
    hog = ["python3", "-c",
           "import os, time\n"
           "os.sched_setaffinity(0, {%d})\n"
           "os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))\n"
           "end = time.monotonic() + %f\n"
           "while time.monotonic() < end:\n"
           "    pass\n" % (cpu, 4 * TICK_MS / 1000)]
    for _ in range(6):              # 6 holds of 4 ticks, 5 ticks apart
        p = subprocess.Popen(hog)
        try:
            assert p.wait(timeout=10) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        time.sleep(5 * TICK_MS / 1000)
    after = late_ticks(d)
    st = d.status()
    assert st["state"] == "running", (st.get("last_stop"), d.logs()[-2000:])
    assert after["machine"] - before["machine"] >= 6, (before, after)
    for p in workers + [d.pid, r.sim.pid]:
        pin(p, cpus)
    r.wait_pressure(2.0, timeout=SLACK_S + 10)
    r.finish()
