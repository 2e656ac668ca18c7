"""The daemon's layers, read from the libraries the build made.

daemon/core is pure: its library ($MASSAGED_BUILD/libmassaged-core.a)
calls nothing of libevent, libmodbus or libpq, starts no process or thread, opens
no socket, and calls nothing of the layers above it (the engine reaches
it through ports such as core/routine-port.h). The engine does not call
the API. Checked with nm on the archives: what each one's objects leave
undefined, against what the layers above define.
"""

import os
import re
import shutil
import subprocess

import pytest

# Libraries and calls the core must not use: I/O, processes, threads.
FORBIDDEN = re.compile(
    r"^(event_|evhttp_|evbuffer_|bufferevent_|evutil_|evconn"  # libevent
    r"|modbus_"                                                 # libmodbus
    r"|sd_"                                                     # libsystemd
    r"|PQ"                                                      # libpq
    r"|posix_spawn|exec"
    r"|(fork|vfork|clone|clone3|socket|socketpair|connect|bind|listen"
    r"|accept|accept4|memfd_create|pthread_create|kill|killpg|waitpid"
    r"|waitid|prctl|dlopen)$)")


def build_dir():
    return os.path.abspath(os.environ.get("MASSAGED_BUILD", "build"))


def archive(layer):
    path = os.path.join(build_dir(), "libmassaged-%s.a" % layer)
    if not os.path.exists(path):
        pytest.fail("%s not built (set MASSAGED_BUILD)" % path)
    return path


def nm(path, *flags):
    """{symbol: [object, ...]} from nm's POSIX output of an archive."""
    if shutil.which("nm") is None:
        pytest.skip("nm is not installed (binutils)")
    out = subprocess.run(["nm", "-A", "-P", *flags, path],
                         capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        # "lib.a[obj.o]: name T value size" or "lib.a:obj.o: name U"
        head, _, rest = line.rpartition(": ")
        fields = rest.split()
        if len(fields) < 2:
            continue
        name = fields[0].split("@")[0]
        obj = re.sub(r"^.*[\[:]", "", head).rstrip("]")
        syms.setdefault(name, []).append(obj)
    return syms


def undefined(layer):
    return nm(archive(layer), "--undefined-only")


def defined(layer):
    return nm(archive(layer), "--defined-only", "-g")


def forbidden_calls(layer):
    return sorted("%s (in %s)" % (s, ", ".join(sorted(set(objs))))
                  for s, objs in undefined(layer).items()
                  if FORBIDDEN.match(s))


def calls_up(layer, above):
    """Symbols layer leaves undefined that a layer above defines."""
    up = {}
    for a in above:
        up.update(defined(a))
    return sorted("%s (in %s, defined in %s)" % (s, ", ".join(sorted(
                  set(objs))), ", ".join(sorted(set(up[s]))))
                  for s, objs in undefined(layer).items() if s in up)


def test_core_does_no_io():
    bad = forbidden_calls("core")
    assert bad == [], "daemon/core calls I/O, process or thread " \
        "functions:\n  " + "\n  ".join(bad)


def test_core_does_not_call_up():
    bad = calls_up("core", ("engine", "api"))
    assert bad == [], "daemon/core calls the layers above it:\n  " + \
        "\n  ".join(bad)


def test_engine_does_not_call_the_api():
    bad = calls_up("engine", ("api",))
    assert bad == [], "daemon/engine calls daemon/api:\n  " + \
        "\n  ".join(bad)


def test_the_checks_can_fail():
    """The same checks on the engine, which does the I/O, find it: the
    test above is not passing because nm found nothing."""
    bad = forbidden_calls("engine")
    assert any(s.startswith("modbus_") for s in bad), bad
    assert any(s.split()[0] in ("posix_spawn", "socketpair",
                                "memfd_create", "waitpid", "kill")
               for s in bad), bad
    assert any(s.startswith("event_") for s in bad), bad
    assert any(s.startswith("PQ") for s in bad), bad
    # and the engine does call the core, as the API calls the engine
    assert calls_up("engine", ("core",)) != []
    assert calls_up("api", ("engine",)) != []
