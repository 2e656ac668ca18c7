"""The tree keeps the shape docs/architecture.md draws.

No source file over 1,000 lines, no function over 100 (tests excepted),
and the daemon's layers as folders: daemon/core, daemon/engine,
daemon/api. (The symbols the core library may use are checked in
test_layers.py, the register map's one home in test_layout_regmap.py.)
"""

import os
import re
import subprocess

from daemon import REPO

FILE_MAX = 1000
FUNCTION_MAX = 100


def tracked(*patterns):
    out = subprocess.run(["git", "ls-files", "--", *patterns], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    files = [f for f in out.split() if not f.startswith("tests/")]
    if not files:       # a copy of the tree without .git (the package build)
        for top, _dirs, names in os.walk(REPO):
            rel = os.path.relpath(top, REPO)
            if rel.startswith(("tests", "build", ".git", "debian")) or \
                    "node_modules" in rel:
                continue
            for n in names:
                if any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"),
                                    n) for p in patterns):
                    files.append(os.path.normpath(os.path.join(rel, n)))
    return sorted(files)


def functions(text):
    """(name, first line, lines) of each function defined in C text in the
    project's style: the opening brace alone on a line, the closing one at
    column 0."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == "{":
            j = i - 1
            while j >= 0 and "(" not in lines[j]:
                j -= 1
            m = re.search(r"([A-Za-z_]\w*)\s*\(", lines[j]) if j >= 0 \
                else None
            k = i + 1
            while k < len(lines) and lines[k] != "}":
                k += 1
            out.append((m.group(1) if m else "?", j + 1, k - i + 1))
            i = k
        i += 1
    return out


def test_functions_finds_long_ones():
    """The function counter sees a function's length (so the limit test
    below can fail)."""
    body = "\n".join("\tx++;" for _ in range(120))
    text = "static int\nlong_one(int x)\n{\n%s\n}\n\nint\nshort_one(void)\n" \
           "{\n\treturn 0;\n}\n" % body
    got = {name: n for name, _line, n in functions(text)}
    assert got["long_one"] == 122
    assert got["short_one"] == 3


def test_no_file_over_1000_lines():
    too_long = []
    for f in tracked("*.c", "*.h", "*.js"):
        with open(os.path.join(REPO, f), encoding="utf-8") as fh:
            n = sum(1 for _ in fh)
        if n > FILE_MAX:
            too_long.append("%s (%d lines)" % (f, n))
    assert not too_long, "over %d lines: %s" % (FILE_MAX, ", ".join(too_long))


def test_no_function_over_100_lines():
    too_long = []
    for f in tracked("*.c"):
        with open(os.path.join(REPO, f), encoding="utf-8") as fh:
            for name, line, n in functions(fh.read()):
                if n > FUNCTION_MAX:
                    too_long.append("%s:%d %s() %d lines" % (f, line, name, n))
    assert not too_long, "functions over %d lines: %s" % (
        FUNCTION_MAX, "; ".join(too_long))


def test_daemon_is_in_layers():
    """Every daemon source is in one of the three layer folders (and main in
    daemon/massaged.c)."""
    loose = [f for f in tracked("*.c", "*.h") if f.startswith("daemon/")
             and f != "daemon/massaged.c"
             and not re.match(r"daemon/(core|engine|api)/[^/]+$", f)]
    assert not loose, "daemon files outside the layers: %s" % loose


def test_no_file_names_that_differ_by_an_s():
    """table.c beside tables.c reads as a pair that is not one."""
    names = {os.path.splitext(os.path.basename(f))[0]
             for f in tracked("*.c") if f.startswith("daemon/")}
    pairs = sorted(n for n in names if n + "s" in names)
    assert not pairs, "names that differ by an s: %s" % [
        (n, n + "s") for n in pairs]
