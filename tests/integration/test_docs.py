"""What the documentation says is what the code does.

Each test here pins one claim of docs/ to the code that makes it true, so
that the two cannot drift apart silently. (The walkthroughs of docs/guide/
are run by test_guides.py.)
"""

import glob
import os
import re

from daemon import REPO, Daemon

# Controller ports nobody listens on: the daemon starts, the links do not.
NO_SIM = [1, 2]


def read(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


def define(path, name):
    m = re.search(r"^#define\s+%s\s+(\S+)" % name, read(path), re.M)
    assert m, "%s not in %s" % (name, path)
    return m.group(1)


def flat(text):
    return re.sub(r"\s+", " ", text)


def test_routine_budget_rule_is_the_documented_one():
    """docs/writing-routines.md states the rule
    daemon/core/session-routine.c enforces (tests/unit/test_session.c tests the rule itself at its boundary: 2
    slow steps of 50 tolerated, 3 stop)."""
    overruns = int(define("daemon/core/session-routine.c",
                          "ROUTINE_OVERRUNS_MAX"))
    window = int(define("daemon/core/session-routine.c",
                        "ROUTINE_OVERRUN_WINDOW"))
    deadline = int(define("daemon/core/session-routine.c",
                          "ROUTINE_DEADLINE_TICKS"))
    doc = flat(read("docs/writing-routines.md"))
    assert "%d in the last %d steps" % (overruns, window) in doc
    assert "has not answered %d ticks" % deadline in doc
    assert "a routine over budget stops the session" not in doc
    # the CPU a late worker may use before it is judged stuck: a quarter
    # tick, as session_routine_init() sets routine_budget_ms
    assert re.search(r"routine_budget_ms = 1000\.0 / s->cfg->table->tick_hz "
                     r"/ 4;", read("daemon/core/session-routine.c"))
    assert "has used a quarter tick of CPU" in doc
    # when step() runs: the worker looks for the question a quarter tick
    # after the tick that asks is due (session_ask())
    assert re.search(r"look = next_ns \+ \(uint64_t\)\(250e6 / "
                     r"s->cfg->table->tick_hz\);",
                     read("daemon/core/session-routine.c"))
    assert "runs a quarter tick after that tick" in doc


def test_routine_out_of_range_stops_the_session_as_documented():
    """docs/profiles.md: a NaN, infinite, negative or too big value stops
    the session (test_faults.py and test_session.c show it does)."""
    limit = float(define("daemon/core/session-routine.c", "ROUTINE_OUT_MAX_KPA"))
    doc = flat(read("docs/profiles.md"))
    assert "negative or above %g kPa" % limit in doc
    assert "the session stops at once (category 0" in doc


def test_routine_version_is_logged_at_load(tmp_path):
    """docs/writing-routines.md: a routine's version "is logged at load",
    at the default verbosity (no -v)."""
    with Daemon(tmp_path, NO_SIM, args=()) as d:
        log = d.logs()
    for name in ("swedish", "deep_tissue", "trigger_point", "myofascial"):
        assert re.search(r"^<6>massaged: routine %s \d+\.\d+\.\d+ loaded "
                         r"from \S+/%s\.so$" % (name, name), log, re.M), log
    assert "logged at load" in flat(read("docs/writing-routines.md"))


def markdown_files():
    files = [os.path.join(REPO, "README.md")]
    files += glob.glob(os.path.join(REPO, "docs", "**", "*.md"),
                       recursive=True)
    return sorted(files)


def test_docs_cite_only_files_in_the_repository():
    """Every relative link and every `file.md` a page names exists here:
    no page cites a contract or a document that is not in the
    repository."""
    missing = []
    for path in markdown_files():
        text = open(path, encoding="utf-8").read()
        here = os.path.dirname(path)
        rel = os.path.relpath(path, REPO)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            target = target.split("#", 1)[0]
            if not os.path.exists(os.path.join(here, target)):
                missing.append("%s: link %s" % (rel, target))
        for name in re.findall(r"`([\w./-]+\.md)`", text):
            if not (os.path.exists(os.path.join(here, name)) or
                    os.path.exists(os.path.join(REPO, name))):
                missing.append("%s: names %s" % (rel, name))
    assert missing == []
