"""The tests never read this machine's own state: /var/lib/massaged (the
profiles saved at the table, health data, the daemon's user's) and
/etc/massaged (its configuration and tokens), which an installed package
fills. When they did, `make check` on a machine with the package installed
failed wherever a test ran massaged -n, a preview or an installed binary
on a configuration that left state_dir at its default, the installed
/var/lib/massaged.

tests/run.sh runs the unit and integration suites through tests/isolate.sh:
as root, in a mount namespace whose /var/lib/massaged and /etc/massaged
hold what an installed package leaves there, each file wrong for a test (a
saved profile owned by uid 995, which massaged refuses as root; a
massaged.ini that does not load; a token file of uid 995). Here: that a
reader of either directory fails there and one that keeps to its own
passes; that the machine's own directories are hidden and left as they
were; that run.sh puts both suites there; and that the tests that once
read them pass there.
"""

import os
import stat
import subprocess

import pytest

from daemon import REPO, ctl_binary, daemon_binary

ISOLATE = os.path.join(REPO, "tests", "isolate.sh")
MACHINE = ("/var/lib/massaged", "/etc/massaged")
SAVED = "/var/lib/massaged/profiles/client_0123456789abcdef.ini"
# The tests that read the machine's state once (docs/testing.md); the
# quick ones, run again in the isolated namespace.
ONCE_READERS = ("tests/integration/test_core.py::test_check_shipped_config_ok",
                "tests/integration/test_core.py::"
                "test_check_everything_in_one_run",
                "tests/integration/test_preview_cli.py")


def can_isolate():
    if os.geteuid() != 0:
        return False
    p = subprocess.run([ISOLATE, "sh", "-c",
                        '[ "${MASSAGED_ISOLATED:-}" = 1 ]'],
                       capture_output=True, timeout=60)
    return p.returncode == 0


NEEDS_ISOLATE = pytest.mark.skipif(
    not can_isolate(), reason="needs root and a private mount namespace "
    "(tests/isolate.sh runs its command as it is)")


def isolated(*argv, timeout=120, cwd=REPO):
    return subprocess.run([ISOLATE] + list(argv), capture_output=True,
                          text=True, timeout=timeout, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def machine_view():
    """What this machine has at MACHINE: (path, mode, uid, entries)."""
    out = []
    for d in MACHINE:
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            out.append((d, None))
            continue
        names = sorted(os.listdir(d)) if stat.S_ISDIR(st.st_mode) else None
        out.append((d, st.st_mode, st.st_uid, names))
    return out


def plugin_dir():
    return os.path.join(os.path.dirname(daemon_binary()), "plugins")


@NEEDS_ISOLATE
def test_isolate_fails_a_reader_and_hides_the_machine(tmp_path):
    before = machine_view()
    p = isolated("sh", "-c", "cd /var/lib/massaged && ls -A . profiles && "
                 "ls -A /etc/massaged")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [
        ".:", "profiles", "sessions.jsonl",
        "profiles:", "client_0123456789abcdef.ini",
        "massaged.ini", "tables", "tokens"], p.stdout

    tokens = tmp_path / "tokens"
    tokens.write_text("0123456789abcdef0123\n")
    os.chmod(tokens, 0o600)
    check = [daemon_binary(), "-n", "-f", "config/massaged.ini",
             "-o", "plugin_dir=" + plugin_dir(),
             "-o", "token_file=%s" % tokens]
    # state_dir left at its default: the saved profile is read, and
    # refused.
    p = isolated(*check)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "%s: refused: the file is owned by uid 995" % SAVED in p.stderr, \
        p.stderr
    # A state directory of its own: passes.
    p = isolated(*(check + ["-o", "state_dir=%s" % tmp_path]))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "configuration OK\n"
    # The default configuration, the daemon's and the preview's.
    p = isolated(daemon_binary(), "-n")
    assert p.returncode == 1
    assert "/etc/massaged/massaged.ini:3: [daemon] read_by_a_test: " \
        "unknown key" in p.stderr, p.stderr
    p = isolated(ctl_binary(), "preview", "relaxation", "--profile",
                 "standard", "-o", "plugin_dir=" + plugin_dir(),
                 cwd=str(tmp_path))
    assert p.returncode == 3
    assert "/etc/massaged/massaged.ini: 3 errors" in p.stderr, p.stderr
    assert not list(tmp_path.glob("*.csv"))
    # Nothing of it reached the machine.
    assert machine_view() == before


@NEEDS_ISOLATE
def test_run_sh_isolates_unit_and_integration(tmp_path):
    """tests/run.sh with a stand-in unit test and a stand-in pytest (its
    PYTHON) that pass only where the saved profile of isolate.sh is."""
    probe = ('[ "${MASSAGED_ISOLATED:-}" = 1 ] && [ -f %s ] && '
             '[ "$(stat -c %%u %s)" = 995 ]' % (SAVED, SAVED))
    build = tmp_path / "build"
    (build / "tests").mkdir(parents=True)
    unit = build / "tests" / "test_probe"
    unit.write_text("#!/bin/sh\nif %s; then echo '[  PASSED  ] 1 test(s).'"
                    "; exit 0; fi\necho '[  FAILED  ] 1 test(s).'; exit 1\n"
                    % probe)
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nif %s; then echo '1 passed in 0.01s'; "
                      "exit 0; fi\necho '1 failed in 0.01s'; exit 1\n" % probe)
    for f in (unit, python):
        os.chmod(f, 0o755)
    env = dict(os.environ, PYTHON=str(python))
    env.pop("MASSAGED_ISOLATED", None)
    p = subprocess.run([os.path.join(REPO, "tests", "run.sh"), str(build),
                        "unit", "integration"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[-1] == "2 passed, 0 failed", p.stdout


@NEEDS_ISOLATE
def test_tests_that_read_it_once_pass_beside_it():
    if os.environ.get("MASSAGED_ISOLATED") == "1":
        pytest.skip("this suite runs isolated (tests/run.sh): every test "
                    "in it is this check")
    p = isolated("/usr/bin/python3", "-m", "pytest", "-q", "-p",
                 "no:cacheprovider", *ONCE_READERS, timeout=600)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
