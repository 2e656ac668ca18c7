"""The simulator's files form layers, with no circle between them.

sim/main.c owns the command line and the loop and calls the subsystems;
each subsystem (ctlsock.c, wire.c, plant.c, evlog.c, net.c, pollset.c)
calls only files below it, so none calls back into the file that calls it
(sim/sim.h draws the layers). This reads the sources, not the binary: a
file depends on another when it includes that file's own header
(`#include "wire.h"` for wire.c) or names a function the other defines
without `static`. A circle in that graph fails the test.
"""

import glob
import os
import re

from daemon import REPO

SIM = os.path.join(REPO, "sim")

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# A definition in the project's style: the type on the line before, the
# name at column 0, the opening brace alone on a later line.
DEFINITION = re.compile(r"^(?P<type>[^\n]*)\n(?P<name>[A-Za-z_]\w*)\(", re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\\n])*"' + r"|'(?:\\.|[^'\\\n])*'")


def strip(text):
    """C text without comments and string literals (kept as empty ones,
    so `#include "x.h"` is read before this is applied)."""
    text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return STRING.sub('""', text)


def externs(text):
    """Names of the functions a C file defines without `static`."""
    out = set()
    for m in DEFINITION.finditer(strip(text)):
        if re.match(r"\s*static\b", m.group("type")) or \
                m.group("type").strip().startswith("#"):
            continue
        out.add(m.group("name"))
    return out


def graph(sources):
    """{file: {other file: why}} for sources {file name: C text}."""
    defined = {f: externs(t) for f, t in sources.items()}
    edges = {f: {} for f in sources}
    for f, text in sources.items():
        body = strip(text)
        for other, names in defined.items():
            if other == f:
                continue
            for name in sorted(names):
                if re.search(r"\b%s\b" % re.escape(name), body):
                    edges[f][other] = name + "()"
                    break
        for h in INCLUDE.findall(text):
            target = os.path.splitext(os.path.basename(h))[0] + ".c"
            if target in sources and target != f:
                edges[f].setdefault(target, '#include "%s"' % h)
    return edges


def find_cycle(edges):
    """A list of files [a, b, ..., a] going round a circle, or None."""
    state = {}
    stack = []

    def visit(f):
        state[f] = "open"
        stack.append(f)
        for g in sorted(edges.get(f, {})):
            if state.get(g) == "open":
                return stack[stack.index(g):] + [g]
            if g not in state:
                found = visit(g)
                if found:
                    return found
        stack.pop()
        state[f] = "done"
        return None

    for f in sorted(edges):
        if f not in state:
            found = visit(f)
            if found:
                return found
    return None


def describe(edges, cycle):
    return " -> ".join(
        "%s (%s)" % (a, edges[a][b]) for a, b in zip(cycle, cycle[1:])) + \
        " -> " + cycle[-1]


def sim_sources():
    out = {}
    for path in sorted(glob.glob(os.path.join(SIM, "*.c"))):
        with open(path, encoding="utf-8") as fh:
            out[os.path.basename(path)] = fh.read()
    return out


def test_checker_sees_a_circle():
    """The reader finds calls, includes and circles (so the test below
    can fail), and is not fooled by statics, comments or strings."""
    sources = {
        "a.c": '#include "sim.h"\n\nint\na_run(void)\n{\n\treturn '
               '(b_get());\n}\n',
        "b.c": '/* b.c: a_run() is named here only in a comment */\n'
               'static int\nb_helper(void)\n{\n\treturn (0);\n}\n\n'
               'int\nb_get(void)\n{\n\tlog("a_run(");\n\treturn (1);\n}\n',
        "c.c": '#include "a.h"\n\nvoid\nc_go(void)\n{\n}\n',
    }
    edges = graph(sources)
    assert externs(sources["b.c"]) == {"b_get"}
    assert edges == {"a.c": {"b.c": "b_get()"}, "b.c": {},
                     "c.c": {"a.c": '#include "a.h"'}}
    assert find_cycle(edges) is None
    sources["b.c"] += "\nvoid\nb_back(void)\n{\n\ta_run();\n}\n"
    cycle = find_cycle(graph(sources))
    assert cycle is not None and set(cycle) == {"a.c", "b.c"}


def test_sim_has_no_circle():
    sources = sim_sources()
    assert "main.c" in sources and "wire.c" in sources
    edges = graph(sources)
    cycle = find_cycle(edges)
    assert cycle is None, "sim/ calls round a circle: " + \
        describe(edges, cycle)


def test_sim_main_is_on_top():
    """Nothing calls into main.c: it defines main() and nothing else
    the other files could call."""
    sources = sim_sources()
    assert externs(sources["main.c"]) == {"main"}
    edges = graph(sources)
    callers = sorted(f for f, out in edges.items() if "main.c" in out)
    assert not callers, "call into main.c: %s" % callers
