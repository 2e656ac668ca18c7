"""The walkthroughs of docs/guide/ run as written, so they cannot rot.

Each guide marks the fenced blocks that take part (see docs/guide/README.md):

  ```sh guide          commands, run in order in one bash session per guide
                       (variables, exports and `cd` carry over); each must
                       exit 0 (`sh guide retry`: run again, up to 20 times
                       0.5 s apart, until its output is the one shown, for
                       a status that settles within moments of a start)
  ```sh guide-bg       one long-running command (the daemon, the simulator,
                       make demo), started in the background as if in a
                       second terminal, in a process group of its own;
                       stopped when the guide is done, last started first,
                       as the terminal's Ctrl-C would stop it: SIGTERM to
                       its process group (its PID), then waiting until
                       the group is gone (SIGKILL after 30 s)
  ```text guide-output what the block before printed: every line must be
                       in its output (runs of blanks count as one, `...`
                       stands for anything); for a guide-bg block the
                       runner waits for these lines before it goes on
  ```text guide-log    lines the last guide-bg command has logged by then
                       (for the administrator, what the journal shows)

Any other block is only for the reader (systemctl, journalctl, sudo
systemd-sysusers: this test has no systemd as PID 1 and no root to give).

The guides are written for a real machine; the runner maps them onto a
scratch one, the same way for every guide:

- one build for PREFIX=/usr in a directory of the test's (BUILD, PREFIX in
  the environment), HOME a fresh directory;
- `sudo` and `sudo -u massaged` are dropped, and so is `-o massaged -g
  massaged`: the user running the tests stands for the massaged user;
- for the administrator, DESTDIR is the scratch root: `sudo make install`
  installs there, the installed /usr/sbin, /usr/bin are first on PATH, and
  the paths /etc/massaged, /var/lib/massaged, /usr/lib/massaged,
  /usr/share/massaged are rewritten into it; /var/lib/massaged is created,
  as systemd-tmpfiles would; MASSAGED_URL and MASSAGED_TOKEN_FILE say what
  massagectl's built-in defaults say on a real install; the daemon, built
  for PREFIX=/usr, gets -o plugin_dir= and -o panel_dir= of the scratch
  root;
- a socat pty pair per adapter stands in for /dev/ttyUSB0 and /dev/ttyUSB1,
  with the simulator on the other end; a pty has no parity bit (the kernel
  clears PARENB, and libmodbus refuses the port), so `parity = E` becomes
  `parity = N` on both ends; the unit's RuntimeDirectory= (the endpoint
  locks) is a directory of the test's, in RUNTIME_DIRECTORY as systemd
  sets it;
- the fixed ports 8080, 1502, 1503 and 1600 become free ones, in the
  commands, the expected output and the installed massaged.ini.

The administrator's guide (first-table.md) runs twice, once per way it
offers (`sh guide from=WAY` blocks run only on their way): from source as
above, and from the packages, where `make deb` is the test run's one build
of the packages (conftest.py's deb_packages, which test_package.py shares:
`make deb` with DEB_BUILD_OPTIONS=nocheck, in a copy of the tree) and
`apt-get install ./build/deb/...` unpacks them into the scratch root and
runs their postinst there with DPKG_ROOT set (chown, systemd-sysusers,
systemd-tmpfiles and the systemd helpers are stand-ins, as the rest of
the guide has no root and no systemd).

The spa's guide (second-table.md) starts where first-table.md ends: the
runner installs into the scratch root and writes a token first (both
tables stay on the simulator over TCP, as the installed massaged.ini has
them; the RS-485 part is first-table.md's); /var/lib/massaged/table2 is
created, as the template unit's StateDirectory= would. A throwaway
PostgreSQL server (pgserver.py) stands in for Debian's: `sudo -u postgres
psql` becomes its psql as the superuser on its socket, and its port 5432
the server's; 1504, 1505 and 8081 (table 2's) become free ones.
"""

import os
import re
import signal
import subprocess
import time

import pytest

import debpkg
from daemon import REPO
from pgserver import PgServer, pg_bindir
from simctl import PtyPair, Sim, wait_for
from test_demo import free_ports

GUIDES = os.path.join(REPO, "docs", "guide")
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
MAKE_ENV_DROP = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SAN",
                 "OPT", "BUILD", "PREFIX", "DESTDIR", "SYSCONFDIR", "CFLAGS",
                 "LDFLAGS", "CPPFLAGS", "MASSAGED_URL", "MASSAGED_TOKEN",
                 "MASSAGED_TOKEN_FILE", "PKG_CONFIG_PATH",
                 "PKG_CONFIG_SYSROOT_DIR")
INSTALLED = ("/etc/massaged", "/var/lib/massaged", "/usr/lib/massaged",
             "/usr/share/massaged", "/usr/sbin/massaged",
             "/usr/bin/massagectl", "/usr/bin/massaged-sim")
FIXED_PORTS = (8080, 1502, 1503, 1600)
BLOCK_TIMEOUT = 900     # a block may build the whole tree
RETRY_MAX = 20          # runs of a `guide retry` block, 0.5 s apart


class Block:
    def __init__(self, kind, text, line):
        self.kind = kind
        self.text = text
        self.line = line
        self.expect = []        # guide-output lines
        self.log = []           # guide-log lines (for a later point)


def parse(path, way=None):
    """The marked blocks of a guide, in order, outputs attached; a block
    marked `from=WAY` (and the output under it) only on that way."""
    text = open(path, encoding="utf-8").read()
    blocks = []
    last = None
    for m in FENCE.finditer(text):
        info = m.group(1).split()
        line = text.count("\n", 0, m.start()) + 1
        body = m.group(2)
        ways = [w[5:] for w in info[2:] if w.startswith("from=")]
        if ways and way not in ways:
            last = Block("skipped", body, line)   # its output too
            continue
        if info[1:2] == ["guide"] or info[1:2] == ["guide-bg"]:
            last = Block(info[1], body, line)
            last.retry = "retry" in info[2:]
            blocks.append(last)
        elif info[1:2] == ["guide-output"]:
            assert last is not None and not last.expect, \
                "%s:%d: guide-output without a block before it" % (path, line)
            last.expect = [l for l in body.splitlines() if l.strip()]
        elif info[1:2] == ["guide-log"]:
            blocks.append(Block("log", body, line))
            blocks[-1].log = [l for l in body.splitlines() if l.strip()]
    assert blocks, "%s has no guide blocks" % path
    return blocks


def line_re(line):
    """An expected line as a regex: blanks collapse, `...` is anything."""
    parts = [re.escape(" ".join(p.split())) for p in line.split("...")]
    return re.compile(".*".join(parts))


def missing_lines(expect, output):
    flat = [" ".join(l.split()) for l in output.splitlines()]
    return [e for e in expect
            if not any(line_re(e).search(f) for f in flat)]


class Runner:
    """One bash session running one guide's blocks."""

    def __init__(self, tmp, build, ports, root=None, ttys=None, env=None,
                 pg=None, debs=None):
        self.tmp = str(tmp)
        self.out = os.path.join(self.tmp, "blocks")
        os.makedirs(self.out)
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.root = root
        self.ttys = ttys or {}
        self.ports = ports
        self.pg = pg
        self.debs = debs
        self.bg = []
        self.retries = 0
        e = {k: v for k, v in os.environ.items() if k not in MAKE_ENV_DROP}
        e.update(HOME=self.home, BUILD=build, PREFIX="/usr", LC_ALL="C.UTF-8")
        e.update(env or {})
        self.env = e
        self.log_path = os.path.join(self.tmp, "bash.log")
        self._log = open(self.log_path, "wb")
        self.bash = subprocess.Popen(["bash", "--noprofile", "--norc"],
                                     stdin=subprocess.PIPE,
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     cwd=REPO, env=e,
                                     start_new_session=True)

    def rewrite(self, text):
        if self.pg:
            text = re.sub(r"\bsudo -u postgres psql\b", "%s -h %s -p %d -U "
                          "postgres" % (os.path.join(self.pg.bindir, "psql"),
                                        self.pg.dir, self.pg.port), text)
        text = re.sub(r"\bsudo (-u massaged )?", "", text)
        text = text.replace(" -o massaged -g massaged", "")
        for dev, pty in self.ttys.items():
            text = text.replace(dev, pty)
        if self.ttys:
            text = re.sub(r"parity = E\b", "parity = N", text)
        if self.debs:
            text = re.sub(r"^make deb$", "ls %s/*.deb" % self.debs, text,
                          flags=re.M)
            text = text.replace("./build/deb/", self.debs + "/")
        if self.root:
            for p in INSTALLED:
                text = re.sub(r"(?<![\w/.-])%s" % re.escape(p),
                              self.root + p, text)
            # Built for PREFIX=/usr, the daemon looks for its plugins and
            # panel there: point it at the scratch root's.
            text = re.sub(r"(?<![\w.-])massaged(?= -)",
                          "massaged -o plugin_dir=%s/usr/lib/massaged/routines"
                          " -o panel_dir=%s/usr/share/massaged/panel"
                          % (self.root, self.root), text)
        for old, new in self.ports.items():
            text = re.sub(r"(?<=:)%d\b" % old, str(new), text)
        return text

    def send(self, script):
        if self.bash.poll() is not None:
            raise AssertionError("the guide's shell exited (%s)"
                                 % self.bash.returncode)
        self.bash.stdin.write(script.encode())
        self.bash.stdin.flush()

    def remap_installed_config(self):
        """The installed massaged.ini names the fixed ports too."""
        for base in filter(None, [self.root, os.path.join(
                self.home, "massaged-sdk")]):
            ini = os.path.join(base, "etc", "massaged", "massaged.ini")
            if os.path.isfile(ini):
                with open(ini) as f:
                    text = f.read()
                new = text
                for old, port in self.ports.items():
                    new = re.sub(r"(?<=127\.0\.0\.1:)%d\b" % old, str(port),
                                 new)
                if new != text:
                    with open(ini, "w") as f:
                        f.write(new)

    def run(self, i, block, where):
        text = self.rewrite(block.text)
        if block.kind == "log":
            assert self.bg, "%s: guide-log before any guide-bg" % where
            log = self.bg[-1][1]
            expect = [self.rewrite(l) for l in block.log]
            wait_for(lambda: not missing_lines(expect, read(log)), 60,
                     what="%s: the log lines" % where)
            return ""
        out = os.path.join(self.out, "%d.out" % i)
        if block.kind == "guide-bg":
            pidf = os.path.join(self.out, "%d.pid" % i)
            # set -m: the job gets a process group of its own, whose
            # id is its PID, as a terminal's foreground job has.
            self.send("set -m\n%s >%s 2>&1 </dev/null &\necho $! >%s\n"
                      "set +m\n" % (text.rstrip("\n"), out, pidf))
            pid = int(wait_for(lambda: read(pidf).strip(), 30,
                               what="%s: started" % where))
            self.bg.append((pid, out))
            expect = [self.rewrite(l) for l in block.expect]

            def up():
                if not os.path.exists("/proc/%d" % pid):
                    raise AssertionError("%s: exited:\n%s"
                                         % (where, read(out)))
                return not missing_lines(expect, read(out))
            wait_for(up, 600, interval=0.1, what="%s: ready" % where)
            return read(out)
        # Sourced, so that cd and variables carry over; with errexit and
        # pipefail, so that any failing command fails the block (the
        # session then exits with its status).
        script = os.path.join(self.out, "%d.sh" % i)
        with open(script, "w") as f:
            f.write(text)
        rcf = os.path.join(self.out, "%d.rc" % i)
        self.send("set -eo pipefail\n. %s >%s 2>&1 </dev/null\n"
                  "set +eo pipefail\necho 0 >%s\n" % (script, out, rcf))

        def done():
            if read(rcf).strip():
                return True
            if self.bash.poll() is not None:
                raise AssertionError("%s: exit status %s:\n%s\n--- output:"
                                     "\n%s" % (where, self.bash.returncode,
                                                text, read(out)[-6000:]))
            return False
        wait_for(done, BLOCK_TIMEOUT, interval=0.1, what="%s: done" % where)
        output = read(out)
        self.remap_installed_config()
        expect = [self.rewrite(l) for l in block.expect]
        miss = missing_lines(expect, output)
        if miss and block.retry and self.retries < RETRY_MAX:
            # A status that settles within moments of a start: as a
            # reader would, ask again.
            self.retries += 1
            time.sleep(0.5)
            return self.run(i, block, where)
        assert not miss, "%s: not in the output: %r\n--- output:\n%s" % (
            where, miss, output[-6000:])
        return output

    def close(self):
        """Stops the background commands, last started first: SIGTERM to
        each one's process group (make demo, for one, is make and the
        demo script, which stops what it started), then waits until the
        group is gone."""
        for pid, _ in reversed(self.bg):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                wait_for(lambda: not group_alive(pid), 30, interval=0.05)
            except TimeoutError:
                os.killpg(pid, signal.SIGKILL)
        try:
            self.bash.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.bash.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.bash.pid, signal.SIGKILL)
            self.bash.wait()
        self._log.close()


def group_alive(pgid):
    """True while a process of group pgid exists and is not a zombie."""
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # state ppid pgrp ...
        if int(rest[2]) == pgid and rest[0] != "Z":
            return True
    return False


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def run_guide(name, runner, way=None):
    path = os.path.join(GUIDES, name)
    outputs = []
    try:
        for i, b in enumerate(parse(path, way)):
            outputs.append(runner.run(i, b, "%s:%d" % (name, b.line)))
    finally:
        runner.close()
    return outputs


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """One build directory for PREFIX=/usr, shared by the guides."""
    return str(tmp_path_factory.mktemp("guide-build"))


def fixed_ports():
    """The guides' fixed ports mapped to free ones; 1503 follows 1502, as
    make demo takes it."""
    ports = {p: free_ports(1)[0] for p in FIXED_PORTS}
    ports[1502], ports[1503] = free_ports(2)
    return ports


def test_guide_first_session(tmp_path, build):
    """The operator's guide: make demo, with the panel on its address (the
    panel steps themselves run in tests/browser/guide.test.mjs)."""
    ports = fixed_ports()
    r = Runner(tmp_path, build, ports, env={
        "DEMO_PORT": str(ports[8080]), "DEMO_SIM_PORT": str(ports[1502]),
        "DEMO_SIM_CONTROL_PORT": str(ports[1600]),
        "DEMO_DIR": os.path.join(str(tmp_path), "demo")})
    run_guide("first-session.md", r)


def test_guide_first_routine(tmp_path, build):
    """The integrator's guide: the SDK from a DESTDIR install, one C file
    built with pkg-config, previewed, loaded by the daemon on the
    simulator, run."""
    r = Runner(tmp_path, build, fixed_ports())
    out = run_guide("first-routine.md", r)
    assert any("routine wave 0.1.0 loaded from" in o for o in out)
    home = r.home
    assert os.path.isfile(os.path.join(home, "wave", "wave.so"))
    assert os.path.isfile(os.path.join(home, "wave",
                                       "wave_demo-standard.svg"))


APT_GET = """#!/bin/sh
# apt-get install ./PACKAGE.deb ... onto the guide's scratch root: each
# package unpacked there, then each postinst configured with DPKG_ROOT set
# (the commands that need root or systemd are stand-ins).
set -e
[ "$1" = install ] || { echo "apt-get: only install here" >&2; exit 100; }
shift
for deb in "$@"; do
	dpkg-deb -x "$deb" "$DPKG_ROOT"
done
for deb in "$@"; do
	ctl=$(mktemp -d)
	dpkg-deb -e "$deb" "$ctl"
	if [ -f "$ctl/postinst" ]; then
		PATH=%s:$PATH sh "$ctl/postinst" configure ""
	fi
	rm -rf "$ctl"
done
"""


def packaged(tmp_path, deb_packages, env):
    """The environment of the packaged path: apt-get (APT_GET) first on
    PATH, DPKG_ROOT the scratch root."""
    bindir = os.path.join(str(tmp_path), "apt-bin")
    os.makedirs(bindir)
    stand = debpkg.stand_ins(os.path.join(str(tmp_path), "stand-ins"))
    with open(os.path.join(bindir, "apt-get"), "w") as f:
        f.write(APT_GET % stand)
    os.chmod(os.path.join(bindir, "apt-get"), 0o755)
    env["PATH"] = bindir + ":" + env["PATH"]
    env["DPKG_ROOT"] = env["DESTDIR"]
    del env["DESTDIR"]
    return deb_packages["out"]


@pytest.mark.parametrize("way", ["source", "packages"])
def test_guide_first_table(tmp_path, build, request, way):
    """The administrator's guide, both ways: `make install` into a scratch
    root, or the packages (`apt-get install ./*.deb`: unpacked there, their
    postinst run with DPKG_ROOT); a token, the table on RS-485 (socat ptys
    and the simulator stand in for the two adapters and the controllers),
    massaged -n, the daemon started as the unit starts it (without
    systemd: no PID 1 here), its log (the journal) and its metrics."""
    root = os.path.join(str(tmp_path), "root")
    os.makedirs(os.path.join(root, "var", "lib", "massaged"))
    os.makedirs(os.path.join(root, "run", "massaged"))
    ports = fixed_ports()
    env = {"DESTDIR": root,
           "RUNTIME_DIRECTORY": os.path.join(root, "run", "massaged"),
           "PATH": "%s/usr/sbin:%s/usr/bin:%s" % (root, root,
                                                 os.environ["PATH"]),
           # The routine worker is compiled in at its installed place,
           # which is under the scratch root.
           "MASSAGED_WORKER": root + "/usr/libexec/massaged/massaged-worker",
           "MASSAGED_URL": "http://127.0.0.1:%d" % ports[8080],
           "MASSAGED_TOKEN_FILE": root + "/etc/massaged/tokens"}
    debs = None
    if way == "packages":
        debs = packaged(tmp_path, request.getfixturevalue("deb_packages"),
                        env)
    with PtyPair(tmp_path) as p0, PtyPair(tmp_path) as p1, \
            Sim(tmp_path, controllers=[], rtu=[
                dict(rtu=p0.a, channels=16, baud=19200, parity="N",
                     map_version=2),
                dict(rtu=p1.a, channels=10, baud=19200, parity="N",
                     map_version=2)]):
        r = Runner(tmp_path, build, ports, root=root,
                   ttys={"/dev/ttyUSB0": p0.b, "/dev/ttyUSB1": p1.b},
                   env=env, debs=debs)
        run_guide("first-table.md", r, way)
    if way == "packages":
        # The postinst made the site's files, and nothing was built.
        assert os.path.isfile(os.path.join(root, "etc", "massaged",
                                           ".package-files"))
        ran = "".join(read(os.path.join(r.out, f))
                      for f in os.listdir(r.out) if f.endswith(".sh"))
        assert "apt-get install" in ran and "make PREFIX" not in ran, ran


def test_guide_second_table(tmp_path, build):
    """The spa's guide: a second table and a PostgreSQL server (a
    throwaway one) for both; the roles and database, --migrate, both
    table files on the store, massaged -n, both daemons linked, a client
    taken in on table 1 started on table 2, that session in table 1's
    history with its table."""
    if pg_bindir() is None:
        pytest.skip("no PostgreSQL server installed (Debian's postgresql "
                    "package; make deps installs it)")
    root = os.path.join(str(tmp_path), "root")
    os.makedirs(os.path.join(root, "var", "lib", "massaged", "table2"))
    os.makedirs(os.path.join(root, "run", "massaged"))
    ports = fixed_ports()
    ports.update({p: free_ports(1)[0] for p in (1504, 1505, 8081)})
    with PgServer() as pg:
        ports[5432] = pg.port
        r = Runner(tmp_path, build, ports, root=root, pg=pg, env={
            "DESTDIR": root,
            "RUNTIME_DIRECTORY": os.path.join(root, "run", "massaged"),
            "PATH": "%s/usr/sbin:%s/usr/bin:%s" % (root, root,
                                                  os.environ["PATH"]),
            "MASSAGED_WORKER": root + "/usr/libexec/massaged/massaged-worker",
            "MASSAGED_URL": "http://127.0.0.1:%d" % ports[8080],
            "MASSAGED_TOKEN_FILE": root + "/etc/massaged/tokens"})
        # Where first-table.md ends: installed, a token.
        first = Block("guide", "make PREFIX=/usr\n"
                      "sudo make install PREFIX=/usr\n"
                      "install -m 0600 /dev/null /etc/massaged/tokens\n"
                      "openssl rand -hex 24 >>/etc/massaged/tokens\n", 0)
        first.retry = False
        try:
            r.run(1000, first, "second-table.md: the first table")
        except BaseException:
            r.close()
            raise
        out = run_guide("second-table.md", r)
    assert any("Table 2 " in o and "relaxation" in o for o in out)
