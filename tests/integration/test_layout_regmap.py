"""The register map has one home in the daemon.

Its names (REGMAP_*, regmap_*(), the header massaged/regmap.h) are known
in daemon/engine/ctl-regmap.c alone, the register map's controller backend;
the rest of the daemon speaks intent and neutral readings (ctl.h), so a
new kind of controller is a new backend, not an edit everywhere. The
simulator and the tests keep using the header.
"""

import os
import re

from daemon import REPO

HOME = "daemon/engine/ctl-regmap.c"
NAMES = re.compile(r"\bREGMAP_|\bregmap_|massaged/regmap\.h")


def daemon_sources():
    for top, _dirs, names in os.walk(os.path.join(REPO, "daemon")):
        for n in names:
            if n.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(top, n), REPO)


def test_register_map_known_in_one_daemon_file():
    found = {}
    for path in daemon_sources():
        with open(os.path.join(REPO, path), encoding="utf-8") as f:
            for no, line in enumerate(f, 1):
                if NAMES.search(line):
                    found.setdefault(path, []).append(
                        "%d: %s" % (no, line.strip()))
    assert HOME in found, "the backend no longer uses the register map?"
    del found[HOME]
    assert found == {}, "register map names outside %s: %r" % (HOME, found)


def test_backend_has_a_row():
    """Adding a kind is a file and a row: the row of this one is there."""
    with open(os.path.join(REPO, "daemon/engine/ctl.c"),
              encoding="utf-8") as f:
        assert "&ctl_regmap," in f.read()
