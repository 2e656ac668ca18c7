"""`massagectl --help` says what each command does (issue 27): a line per
command, its name and a short description, and `massagectl help NAME`
explains each one it lists."""

import re
import subprocess

from daemon import ctl_binary


def ctl(*args):
    return subprocess.run([ctl_binary()] + list(args), capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_top_level_help_describes_every_command():
    r = ctl("--help")
    assert r.returncode == 0, r.stderr
    block = r.stdout.split("\nCommands")[1].split("\n\n")[0]
    lines = block.splitlines()[1:]
    described = {}
    for ln in lines:
        m = re.match(r"^  ([a-z]+) +(\S.*)$", ln)
        assert m, "a command without its description: %r" % ln
        assert len(m.group(2).split()) >= 3, ln
        described[m.group(1)] = m.group(2)
    for name in ("status", "programs", "profiles", "routines", "sessions",
                 "start", "pause", "resume", "stop", "estop", "reset",
                 "intensity", "watch", "preview", "help"):
        assert name in described, (name, block)
    # Every command listed has its own help.
    for name in described:
        if name in ("help", "preview"):
            continue
        h = ctl("help", name)
        assert h.returncode == 0 and h.stdout.startswith(
            "usage: massagectl [options] %s" % name), (name, h.stdout)
    p = ctl("preview", "--help")
    assert p.returncode == 0 and "usage" in p.stdout + p.stderr
