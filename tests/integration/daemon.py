"""daemon: start, drive and stop the real massaged in tests.

Standard library only. The daemon binary is $MASSAGED_BUILD/massaged
(MASSAGED_BUILD defaults to "build").

    from simctl import Sim
    from daemon import Daemon, sim_controllers

    with Sim(tmp_path, controllers=sim_controllers()) as sim, \\
            Daemon(tmp_path, sim) as d:
        d.wait_ready()                              # every controller up
        r = d.request("POST", "/api/v1/session",
                      {"program": "api_test", "profile": "standard"})
        assert r.status == 201, r.text
        st = d.status()                             # GET /api/v1/status

The default table is the demo table (config/massaged.ini: controllers
"pelvis" with 16 channels and "legs" with 10) with every controller's
address pointed at the simulator's ports; sim_controllers() gives the
matching simulator options. Everything else is configurable: tick_hz,
watchdog_ms, response_timeout_ms, extra [daemon] and [safety] keys, extra
or replaced controllers and zones, profiles, programs and rules.

Every process started here is stopped by its PID (SIGTERM, then SIGKILL).
"""

import configparser
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time

__all__ = [
    "Daemon", "DaemonError", "Response", "sim_controllers", "demo_table",
    "daemon_binary", "ctl_binary", "free_port", "threads", "REPO", "DEVICES",
    "TEST_PROGRAMS", "TOKEN",
]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEVICES = os.path.join(REPO, "config", "devices")
TOKEN = "test-token-0123456789abcdef"
LISTEN_RE = re.compile(r"api: listening on (http://(\[[^\]]+\]|[^:/]+):(\d+)/)")
# MASSAGED_WRAPPER runs the daemon under a tool, e.g. "valgrind
# --error-exitcode=99 ..." (make check-valgrind): it is slower to start and
# to stop, and its error exit status fails the test that stops the daemon.
WRAPPER = shlex.split(os.environ.get("MASSAGED_WRAPPER", ""))
WRAPPER_SLOW = 4 if WRAPPER else 1
WRAPPER_ERROR_EXIT = 99

# Programs every Daemon gets (besides config/programs): short, gentle and
# predictable, so tests do not depend on the shipped programs' lengths.
TEST_PROGRAMS = {
    "api_test": """\
[program]
name = API test: Swedish on the glutes
description = Two short Swedish steps for the integration tests.

[step warmup]
routine = swedish
duration_s = 30
zones = gluteus_maximus_*, gluteus_medius_*
stroke = kneading
pressure_kpa = 14
contact_kpa = 4

[step glide]
routine = swedish
duration_s = 30
zones = gluteus_*, hamstring_upper_*
stroke = effleurage
pressure_kpa = 10
""",
    "api_test_deep": """\
[program]
name = API test: deep tissue on the glutes
description = One deep tissue step: refused for clients on blood thinners.

[step deep]
routine = deep_tissue
duration_s = 60
zones = gluteus_maximus_*
pressure_kpa = 20
warmup_s = 10
""",
}


class DaemonError(Exception):
    """The daemon failed to start, or died."""


def daemon_binary(build=None):
    build = build or os.environ.get("MASSAGED_BUILD", "build")
    return os.path.abspath(os.path.join(build, "massaged"))


def ctl_binary(build=None):
    build = build or os.environ.get("MASSAGED_BUILD", "build")
    return os.path.abspath(os.path.join(build, "massagectl"))


def demo_table(path=None):
    """(controllers, zones) of the demo table: lists of (name, {key: value})
    in file order."""
    cp = configparser.ConfigParser(interpolation=None,
                                   inline_comment_prefixes=(";", "#"),
                                   comment_prefixes=(";", "#"))
    cp.optionxform = str
    cp.read(path or os.path.join(REPO, "config", "massaged.ini"))
    ctls, zones = [], []
    for sect in cp.sections():
        if sect.startswith("controller "):
            ctls.append((sect[11:], dict(cp[sect])))
        elif sect.startswith("zone "):
            zones.append((sect[5:], dict(cp[sect])))
    return ctls, zones


def sim_controllers(max_kpa=40.0, **kw):
    """Simulator controller options matching the demo table: one dict per
    controller with enough channels for its zones."""
    ctls, zones = demo_table()
    out = []
    for name, _ in ctls:
        used = [int(z["channel"]) for _, z in zones
                if z.get("controller") == name]
        c = dict(channels=max(used) + 1 if used else 1, max_kpa=max_kpa)
        c.update(kw)
        out.append(c)
    return out


class Response:
    """An HTTP reply: status, headers (lower-case names), body (bytes)."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.text[:200])


def _stop_pid(proc, timeout=10.0):
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc is not None else None
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait(timeout=timeout)


class Daemon:
    """A running massaged on a test table.

    tmpdir: a directory of its own (config, token file, state, log).
    sim: a simctl.Sim (its .ports are used in controller order), or a list
      of TCP ports, or None with controllers given in full.
    controllers: None for the demo table's, or a list of (name, {key:
      value}) replacing them; "address" is filled in from sim when absent
      (for TCP). A kind = device controller's device, sensors and
      interlock may be bare file names of config/devices/.
    zones: None for the demo table's, or a list of (name, {key: value}).
    tick_hz, watchdog_ms, response_timeout_ms: the usual knobs.
    daemon, safety: dicts of extra [daemon] / [safety] keys.
    profiles, programs: dicts id -> INI text, added to (or replacing) the
      copies of config/profiles and config/programs (and TEST_PROGRAMS).
    copy_profiles, copy_programs: False to start from empty directories.
    rules: INI text replacing config/contraindications.ini.
    intake: INI text replacing config/intake.ini, or False for none (the
      default: the shipped one with the demo zones, none with others).
    tokens: lines of the token file (default [TOKEN]); token_mode: its mode.
    listen: "HOST:PORT" (default 127.0.0.1:0, a port the kernel picks).
    panel_dir: default panel/ of the repository.
    args: extra command line arguments; start: False to start later.
    """

    def __init__(self, tmpdir, sim=None, controllers=None, zones=None,
                 tick_hz=50, watchdog_ms=500, response_timeout_ms=50,
                 daemon=None, safety=None, profiles=None, programs=None,
                 copy_profiles=True, copy_programs=True, rules=None,
                 intake=None,
                 tokens=None, token_mode=0o600, listen="127.0.0.1:0",
                 panel_dir=None, args=("-v",), build=None, start=True,
                 start_timeout=30.0, name="massaged"):
        self.tmpdir = os.path.join(str(tmpdir), name)
        self.binary = daemon_binary(build)
        self.ctl = ctl_binary(build)
        self.build = os.path.dirname(self.binary) or "."
        self.proc = None
        self.port = None
        self.host = None
        self.url = None
        self.token = TOKEN
        self.listen = listen
        self.args = list(args)
        self.start_timeout = start_timeout * WRAPPER_SLOW
        self.exit_status = None
        self.log_path = os.path.join(self.tmpdir, "massaged.log")
        self._logf = None
        self._log_off = 0
        os.makedirs(self.tmpdir, exist_ok=True)

        ports = []
        if sim is not None:
            ports = list(getattr(sim, "ports", sim))
        ctls, zs = demo_table()
        if controllers is not None:
            ctls = [(n, dict(c)) for n, c in controllers]
        else:
            for _, c in ctls:
                c.pop("address", None)
        if zones is not None:
            zs = [(n, dict(z)) for n, z in zones]
        for i, (n, c) in enumerate(ctls):
            described = c.get("kind") == "device"
            if described:
                # A bare file name is a shipped description.
                for k in ("device", "sensors", "interlock"):
                    if k in c and os.sep not in c[k]:
                        c[k] = os.path.join(DEVICES, c[k])
            if "address" not in c and (
                    c.get("transport", "tcp") == "tcp" if described
                    else "device" not in c):
                if i >= len(ports):
                    raise ValueError("no simulator port for controller %s"
                                     % n)
                c["address"] = "127.0.0.1:%d" % ports[i]
            c["watchdog_ms"] = str(watchdog_ms)
            c["response_timeout_ms"] = str(response_timeout_ms)
        self.controllers = ctls
        self.zones = zs

        self.profile_dir = os.path.join(self.tmpdir, "profiles")
        self.program_dir = os.path.join(self.tmpdir, "programs")
        self.state_dir = os.path.join(self.tmpdir, "state")
        self.rules_path = os.path.join(self.tmpdir, "contraindications.ini")
        self.token_path = os.path.join(self.tmpdir, "tokens")
        self.config_path = os.path.join(self.tmpdir, "massaged.ini")
        for d in (self.profile_dir, self.program_dir):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
        os.makedirs(self.state_dir, exist_ok=True)
        self.run_dir = os.path.join(self.tmpdir, "run")
        os.makedirs(self.run_dir, exist_ok=True)
        if copy_profiles:
            self._copy_ini(os.path.join(REPO, "config", "profiles"),
                           self.profile_dir)
        if copy_programs:
            self._copy_ini(os.path.join(REPO, "config", "programs"),
                           self.program_dir)
            for pid, text in TEST_PROGRAMS.items():
                self.write_program(pid, text)
        for pid, text in (profiles or {}).items():
            self.write_profile(pid, text)
        for pid, text in (programs or {}).items():
            self.write_program(pid, text)
        if rules is None:
            shutil.copy(os.path.join(REPO, "config", "contraindications.ini"),
                        self.rules_path)
        else:
            with open(self.rules_path, "w") as f:
                f.write(rules)
        self.intake_path = os.path.join(self.tmpdir, "intake.ini")
        # The shipped choices fit the demo table's limits; a table of
        # other zones gets no intake unless it asks for one.
        if intake is None and zones is None:
            shutil.copy(os.path.join(REPO, "config", "intake.ini"),
                        self.intake_path)
        elif intake:
            with open(self.intake_path, "w") as f:
                f.write(intake)
        self.write_tokens(tokens if tokens is not None else [TOKEN],
                          token_mode)
        self.daemon_keys = {
            "tick_hz": str(tick_hz),
            "listen": listen,
            "profile_dir": self.profile_dir,
            "program_dir": self.program_dir,
            "rules": self.rules_path,
            "intake": self.intake_path,
            "state_dir": self.state_dir,
            "run_dir": self.run_dir,
            "token_file": self.token_path,
            "plugin_dir": os.path.abspath(os.path.join(self.build,
                                                       "plugins")),
            "panel_dir": panel_dir or os.path.join(REPO, "panel"),
        }
        self.daemon_keys.update({k: str(v) for k, v in (daemon or {}).items()})
        self.safety_keys = {k: str(v) for k, v in (safety or {}).items()}
        self.write_config()
        if start:
            self.start()

    # -- files --------------------------------------------------------------

    @staticmethod
    def _copy_ini(src, dst):
        if os.path.isdir(src):
            for fn in sorted(os.listdir(src)):
                if fn.endswith(".ini"):
                    shutil.copy(os.path.join(src, fn), os.path.join(dst, fn))

    def write_profile(self, pid, text):
        with open(os.path.join(self.profile_dir, pid + ".ini"), "w") as f:
            f.write(text)

    def write_program(self, pid, text):
        with open(os.path.join(self.program_dir, pid + ".ini"), "w") as f:
            f.write(text)

    def write_tokens(self, lines, mode=0o600):
        fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# tokens of the integration tests\n")
            for t in lines:
                f.write(t + "\n")
        os.chmod(self.token_path, mode)

    def write_config(self):
        out = ["; written by tests/integration/daemon.py", "[daemon]"]
        out += ["%s = %s" % kv for kv in self.daemon_keys.items()]
        if self.safety_keys:
            out += ["", "[safety]"]
            out += ["%s = %s" % kv for kv in self.safety_keys.items()]
        for n, c in self.controllers:
            out += ["", "[controller %s]" % n]
            out += ["%s = %s" % kv for kv in c.items()]
        for n, z in self.zones:
            out += ["", "[zone %s]" % n]
            out += ["%s = %s" % kv for kv in z.items()]
        with open(self.config_path, "w") as f:
            f.write("\n".join(out) + "\n")

    # -- process ------------------------------------------------------------

    def argv(self):
        return WRAPPER + [self.binary, "-f", self.config_path] + self.args

    def spawn(self):
        """Starts the process without waiting for anything."""
        if not os.access(self.binary, os.X_OK):
            raise DaemonError("%s not built (set MASSAGED_BUILD)"
                              % self.binary)
        if self._logf is not None:
            self._logf.close()
        self._logf = open(self.log_path, "ab")
        self._log_off = self._logf.tell()
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=self._logf,
                                     cwd=self.tmpdir)
        return self.proc

    def start(self, timeout=None):
        """Starts the daemon and waits for its listening line."""
        self.spawn()
        try:
            self.wait_listening(timeout * WRAPPER_SLOW if timeout else
                                self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_listening(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            m = LISTEN_RE.search(self.logs(since_start=True))
            if m:
                self.url = m.group(1)
                self.host = m.group(2).strip("[]")
                self.port = int(m.group(3))
                return self.url
            if self.proc.poll() is not None:
                raise DaemonError("massaged exited with %s before listening:"
                                  "\n%s" % (self.proc.returncode,
                                            self.logs(since_start=True)))
            if time.monotonic() >= deadline:
                raise DaemonError("massaged not listening after %.1f s:\n%s"
                                  % (timeout, self.logs(since_start=True)))
            time.sleep(0.02)

    def restart(self, same_port=True, timeout=None):
        """Stops the daemon and starts it again (on the same port)."""
        rc = self.stop()
        if same_port and self.port:
            self.daemon_keys["listen"] = "%s:%d" % (self.host, self.port)
            self.write_config()
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while True:
            try:
                return rc, self.start(timeout)
            except DaemonError:
                # the old socket may linger a moment
                if time.monotonic() >= deadline or "in use" not in \
                        self.logs(since_start=True):
                    raise
                time.sleep(0.2)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=15.0):
        """Waits for the process to exit; returns its exit status."""
        try:
            rc = self.proc.wait(timeout=timeout * WRAPPER_SLOW)
        finally:
            if self._logf is not None:
                self._logf.flush()
        self._check_wrapper(rc)
        return rc

    def stop(self, timeout=15.0):
        """SIGTERM, then SIGKILL, by PID; returns the exit status."""
        rc = _stop_pid(self.proc, timeout * WRAPPER_SLOW)
        if self._logf is not None:
            self._logf.close()
            self._logf = None
        self._check_wrapper(rc)
        return rc

    def _check_wrapper(self, rc):
        """Records the exit status; the wrapper's error status (valgrind
        found errors or leaks) fails the test, once per process."""
        if self.proc is None:
            return
        first = self.exit_status is None or self.exit_status[0] != \
            self.proc.pid
        self.exit_status = (self.proc.pid, rc)
        if WRAPPER and rc == WRAPPER_ERROR_EXIT and first:
            raise DaemonError("%s found errors in massaged (exit %d):\n%s"
                              % (WRAPPER[0], rc, self.logs()[-12000:]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def logs(self, since_start=False):
        """What the daemon logged (since the last start, or ever)."""
        try:
            with open(self.log_path, "rb") as f:
                if since_start:
                    f.seek(self._log_off)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def sanitizer_report(self):
        """ASan/UBSan/LSan findings in the log, or ''."""
        log = self.logs()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:", "SUMMARY: UndefinedBehavior"):
            i = log.find(marker)
            if i >= 0:
                return log[max(0, i - 200):i + 4000]
        return ""

    # -- HTTP ---------------------------------------------------------------

    def connection(self, timeout=10.0):
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout)

    def request(self, method, path, body=None, token=True, headers=None,
                raw=None, timeout=10.0, content_type="application/json"):
        """One request on a fresh connection; returns a Response.

        body: a JSON-able object (sent as JSON); raw: bytes sent as they
        are. token: True for the test token, None/False for none, or a
        string.
        """
        h = {}
        if token is True:
            h["Authorization"] = "Bearer " + self.token
        elif token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
        if raw is not None:
            data = raw
        if data is not None and content_type:
            h["Content-Type"] = content_type
        h.update(headers or {})
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return Response(r.status, r.reason, r.getheaders(), r.read())
        finally:
            conn.close()

    def status(self):
        r = self.request("GET", "/api/v1/status")
        if r.status != 200:
            raise DaemonError("GET /api/v1/status: %r" % r)
        return r.json()

    def wait_for(self, pred, timeout=10.0, interval=0.02, what=None):
        """Calls pred() until true; fails at once if the daemon dies."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise DaemonError("massaged exited (%s):\n%s"
                                  % (self.proc.returncode, self.logs()))
            v = pred()
            if v:
                return v
            if time.monotonic() >= deadline:
                raise TimeoutError("timed out after %.1f s waiting for %s"
                                   % (timeout, what or getattr(
                                       pred, "__name__", "condition")))
            time.sleep(interval)

    def wait_ready(self, timeout=15.0):
        """Waits until every controller is connected and reports no fault
        (a described device, kind = device, has no ready or fault flag:
        connected means proven, and its fault_code is 0); returns the
        status."""
        def ready():
            st = self.status()
            ok = st["controllers"] and all(
                c["connected"] and c["status"].get("ready", True) and
                not c["status"].get("fault", c.get("fault_code"))
                for c in st["controllers"])
            return st if ok else None
        return self.wait_for(ready, timeout, what="every controller ready")

    def wait_state(self, state, timeout=10.0):
        return self.wait_for(lambda: (lambda st: st if st["state"] == state
                                      else None)(self.status()),
                             timeout, what="state %s" % state)

    def run_ctl(self, *args, env=None, timeout=30.0, url=True, token=True):
        """Runs massagectl; returns the CompletedProcess (text)."""
        e = dict(os.environ)
        for k in ("MASSAGED_URL", "MASSAGED_TOKEN", "MASSAGED_TOKEN_FILE"):
            e.pop(k, None)
        if token:
            e["MASSAGED_TOKEN_FILE"] = self.token_path
        e.update(env or {})
        argv = [self.ctl]
        if url:
            argv += ["--url", "http://%s:%d" % (self.host, self.port)]
        argv += list(args)
        return subprocess.run(argv, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, env=e,
                              timeout=timeout)


def threads(pid):
    """The thread ids of process pid ([] once it is gone)."""
    try:
        return [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    except FileNotFoundError:
        return []


def free_port():
    """A TCP port that was free a moment ago (for tests of a restart)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
