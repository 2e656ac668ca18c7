"""simctl: start, drive and stop the table simulator from Python tests.

Standard library only. The simulator binary is $MASSAGED_BUILD/massaged-sim
(MASSAGED_BUILD defaults to "build").

    from simctl import Sim, ModbusTcp

    with Sim(tmp_path, controllers=[dict(channels=4, max_kpa=30)]) as sim:
        port = sim.ports[0]                  # real port, picked by the kernel
        sim.cmd("estop 0 on")                # -> "ok"
        state = sim.get(0)                   # dict, see docs/simulator.md
        sim.wait_for(lambda: sim.get(0)["fault_code"] == 3, timeout=2)
        events = sim.events(kind="fc16")     # parsed event log lines

Also here: a minimal Modbus TCP client (ModbusTcp), a Modbus RTU client
over a tty (ModbusRtu), the CRC (crc16, rtu_frame) and a socat pty pair
(PtyPair) to put the simulator on a serial line without hardware.

Every process started here is stopped by its PID (terminate, then kill).
"""

import json
import os
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
import tty

__all__ = [
    "Sim", "SimError", "Event", "ModbusTcp", "ModbusRtu", "ModbusError",
    "PtyPair", "crc16", "rtu_frame", "sim_binary", "wait_for", "monotonic_ns",
]

# Command line options of one controller and their defaults; every
# controller gets all of them, since the simulator's options are sticky.
CONTROLLER_DEFAULTS = {
    "channels": 8,
    "max_kpa": 40.0,
    "tau_ms": 150.0,
    "vent_tau_ms": 40.0,
    "unit_id": 1,
    "map_version": 1,
    "watchdog_ms": 1000,
    "baud": 19200,
    "parity": "N",
    "data_bits": 8,
    "stop_bits": 1,
}

# Device options (docs/simulator.md, --personality): given to every
# controller, with these defaults, only when one of them sets one, so
# that a table of regmap controllers gets the same command line as ever.
DEVICE_DEFAULTS = {
    "personality": "regmap",
    "dropout_ms": 200,
    "idle_ms": 0,
}


class SimError(Exception):
    """The simulator failed to start, died, or answered 'err ...'."""


def sim_binary(build=None):
    build = build or os.environ.get("MASSAGED_BUILD", "build")
    return os.path.join(build, "massaged-sim")


def wait_for(pred, timeout=5.0, interval=0.01, what=None):
    """Calls pred() until it returns something true; returns that value.

    Raises TimeoutError (naming `what`) after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1f s waiting for %s"
                               % (timeout, what or getattr(pred, "__name__",
                                                           "condition")))
        time.sleep(interval)


def _stop_pid(proc, timeout=5.0):
    """Terminates a Popen by its PID, kills it if it does not exit."""
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc is not None else None
    try:
        os.kill(proc.pid, 15)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, 9)
        except ProcessLookupError:
            pass
        return proc.wait(timeout=timeout)


class Event:
    """One event log line: `<ns> c=<idx> <kind> [arg ...] [key=value ...]`."""

    __slots__ = ("ns", "c", "kind", "args", "kv", "line")

    def __init__(self, line):
        parts = line.split()
        self.line = line
        self.ns = int(parts[0])
        self.c = int(parts[1][2:])
        self.kind = parts[2]
        self.args = []
        self.kv = {}
        for p in parts[3:]:
            if "=" in p:
                k, v = p.split("=", 1)
                self.kv[k] = v
            else:
                self.args.append(p)

    def __getitem__(self, key):
        return self.kv[key]

    def get(self, key, default=None):
        return self.kv.get(key, default)

    def __repr__(self):
        return "Event(%r)" % self.line


class Sim:
    """A running massaged-sim.

    controllers: list of dicts, one per controller, in order (index 0
      first). Keys: those of CONTROLLER_DEFAULTS, plus "tcp" ("HOST:PORT",
      default "127.0.0.1:0") or "rtu" (a device path).
    rtu: more controllers on serial devices, appended after `controllers`:
      a device path, a dict with "rtu" (and options), or a list of these.
    events: True for an event log in tmpdir (sim.events_path), a path, or
      False for none.
    args: extra command line arguments put first (e.g. ["-v"]).
    """

    def __init__(self, tmpdir, controllers=None, rtu=None, events=True,
                 control="127.0.0.1:0", args=(), build=None,
                 start_timeout=10.0, tick_ms=None):
        self.tmpdir = str(tmpdir)
        self.binary = sim_binary(build)
        self.proc = None
        self._sock = None
        self._rbuf = b""
        self._lock = threading.Lock()
        self._ev_off = 0
        self._ev_cache = []
        ctls = [dict(c) for c in (controllers if controllers is not None
                                  else ([] if rtu else [{}]))]
        if rtu is not None:
            for r in (rtu if isinstance(rtu, (list, tuple)) else [rtu]):
                ctls.append(dict(rtu=r) if isinstance(r, str) else dict(r))
        self.controllers = ctls
        if events is True:
            self.events_path = os.path.join(self.tmpdir, "sim-events.log")
        else:
            self.events_path = events or None
        self.log_path = os.path.join(self.tmpdir, "sim-stderr.log")
        self.argv = [self.binary] + list(args)
        if self.events_path:
            self.argv += ["--events", self.events_path]
        if control:
            self.argv += ["--control", control]
        if tick_ms is not None:
            self.argv += ["--tick-ms", str(tick_ms)]
        devices = any(k in DEVICE_DEFAULTS for c in ctls for k in c)
        for c in ctls:
            opts = dict(CONTROLLER_DEFAULTS)
            if devices:
                opts.update(DEVICE_DEFAULTS)
            opts.update({k: v for k, v in c.items()
                         if k not in ("tcp", "rtu")})
            for k, v in opts.items():
                if k not in CONTROLLER_DEFAULTS and \
                        k not in DEVICE_DEFAULTS:
                    raise ValueError("unknown controller option %r" % k)
                self.argv += ["--" + k.replace("_", "-"), str(v)]
            if "rtu" in c:
                self.argv += ["--rtu", c["rtu"]]
            else:
                self.argv += ["--tcp", c.get("tcp", "127.0.0.1:0")]
        self.ports = []          # TCP port per controller, None for RTU
        self.addresses = []      # ("tcp", "host:port") or ("rtu", device)
        self.control_port = None
        self.control_host = None
        self._start(start_timeout)

    # -- process ------------------------------------------------------------

    def _start(self, timeout):
        if not os.access(self.binary, os.X_OK):
            raise SimError("%s not built (set MASSAGED_BUILD)" % self.binary)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=self._log)
        try:
            self._read_banner(timeout)
        except BaseException:
            self.stop()
            raise

    def _read_banner(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                words = line.decode().split()
                if words[:1] == ["ready"]:
                    return
                if words[:1] == ["controller"] and len(words) == 4:
                    self.addresses.append((words[2], words[3]))
                    self.ports.append(int(words[3].rsplit(":", 1)[1])
                                      if words[2] == "tcp" else None)
                elif words[:1] == ["control"] and len(words) == 2:
                    host, port = words[1].rsplit(":", 1)
                    self.control_host = host.strip("[]")
                    self.control_port = int(port)
            left = deadline - time.monotonic()
            if left <= 0:
                raise SimError("simulator not ready after %.1f s: %s"
                               % (timeout, self.stderr()))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(timeout=5)
                    raise SimError("simulator exited with %s before ready: %s"
                                   % (self.proc.returncode, self.stderr()))
                buf += chunk

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self):
        """What the simulator logged so far."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=5.0):
        """Stops the simulator by PID; returns its exit status."""
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        rc = _stop_pid(self.proc, timeout)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- control socket -----------------------------------------------------

    def cmd(self, line, timeout=5.0):
        """Sends one control command; returns the answer line ('ok ...' or
        'err ...')."""
        with self._lock:
            if self._sock is None:
                self._sock = socket.create_connection(
                    (self.control_host, self.control_port), timeout=timeout)
                self._rbuf = b""
            self._sock.settimeout(timeout)
            self._sock.sendall(line.encode() + b"\n")
            while b"\n" not in self._rbuf:
                chunk = self._sock.recv(65536)
                if not chunk:
                    self._sock.close()
                    self._sock = None
                    raise SimError("control socket closed (command %r)" % line)
                self._rbuf += chunk
            ans, self._rbuf = self._rbuf.split(b"\n", 1)
            return ans.decode()

    def ok(self, line, timeout=5.0):
        """Like cmd(), but raises SimError unless the answer is 'ok';
        returns what follows 'ok '."""
        ans = self.cmd(line, timeout)
        if ans != "ok" and not ans.startswith("ok "):
            raise SimError("%r: %s" % (line, ans))
        return ans[3:]

    def get(self, c=0):
        """State of controller c (or 'all': a list) as a dict."""
        return json.loads(self.ok("get %s" % c))

    def quit(self, timeout=5.0):
        ans = self.cmd("quit")
        return ans, self.proc.wait(timeout=timeout)

    # -- event log ----------------------------------------------------------

    def events(self, kind=None, c=None):
        """Parsed event log lines, optionally only one kind/controller.

        The file is read incrementally: each call parses only the complete
        lines added since the last one.
        """
        if not self.events_path:
            raise SimError("no event log (events=False)")
        try:
            with open(self.events_path, "rb") as f:
                f.seek(self._ev_off)
                data = f.read()
        except FileNotFoundError:
            data = b""
        end = data.rfind(b"\n") + 1
        if end > 0:
            self._ev_off += end
            for line in data[:end].decode(errors="replace").split("\n"):
                if line.strip():
                    try:
                        self._ev_cache.append(Event(line))
                    except (ValueError, IndexError):
                        pass
        return [e for e in self._ev_cache
                if (kind is None or e.kind == kind) and
                (c is None or e.c == c)]

    def wait_for(self, pred, timeout=5.0, interval=0.01, what=None):
        """wait_for() that fails at once, with the simulator's stderr, if
        the simulator dies meanwhile."""
        def check():
            if not self.alive():
                raise SimError("simulator exited (%s): %s"
                               % (self.proc.returncode, self.stderr()))
            return pred()
        return wait_for(check, timeout, interval,
                        what or getattr(pred, "__name__", "condition"))

    def wait_event(self, kind, c=None, timeout=5.0, where=None, after_ns=0):
        """Waits for an event of `kind` (optionally matching where(e) and
        later than after_ns); returns the first such event."""
        def found():
            for e in self.events(kind=kind, c=c):
                if e.ns > after_ns and (where is None or where(e)):
                    return e
            return None
        return self.wait_for(found, timeout, what="event %s" % kind)

    # -- Modbus -------------------------------------------------------------

    def client(self, c=0, unit=1, timeout=2.0):
        """A ModbusTcp client connected to controller c."""
        if self.ports[c] is None:
            raise SimError("controller %d is not on TCP" % c)
        host = self.addresses[c][1].rsplit(":", 1)[0].strip("[]")
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        return ModbusTcp(host, self.ports[c], unit=unit, timeout=timeout)


def monotonic_ns():
    """CLOCK_MONOTONIC in ns, the clock of the event log."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# -- Modbus ------------------------------------------------------------------

class ModbusError(Exception):
    """A Modbus exception response."""

    def __init__(self, function, code):
        super().__init__("function %d: exception %d" % (function, code))
        self.function = function
        self.code = code


class _ModbusOps:
    """Register functions on top of request(pdu) -> response pdu."""

    def read_holding(self, addr, n):
        rsp = self.request(struct.pack(">BHH", 3, addr, n))
        return list(struct.unpack(">%dH" % n, rsp[2:2 + 2 * n]))

    def read_input(self, addr, n):
        rsp = self.request(struct.pack(">BHH", 4, addr, n))
        return list(struct.unpack(">%dH" % n, rsp[2:2 + 2 * n]))

    def write_register(self, addr, value):
        self.request(struct.pack(">BHH", 6, addr, value))

    def write_registers(self, addr, values):
        values = list(values)
        self.request(struct.pack(">BHHB%dH" % len(values), 16, addr,
                                 len(values), 2 * len(values), *values))

    def _read_bits(self, fc, addr, n):
        rsp = self.request(struct.pack(">BHH", fc, addr, n))
        return [(rsp[2 + i // 8] >> (i % 8)) & 1 for i in range(n)]

    def read_coils(self, addr, n):
        return self._read_bits(1, addr, n)

    def read_discrete(self, addr, n):
        return self._read_bits(2, addr, n)

    def write_coil(self, addr, on):
        self.request(struct.pack(">BHH", 5, addr, 0xff00 if on else 0))

    def write_coils(self, addr, bits):
        bits = list(bits)
        packed = bytearray((len(bits) + 7) // 8)
        for i, b in enumerate(bits):
            if b:
                packed[i // 8] |= 1 << (i % 8)
        self.request(struct.pack(">BHHB", 15, addr, len(bits),
                                 len(packed)) + bytes(packed))

    @staticmethod
    def _check(pdu):
        if pdu[0] & 0x80:
            raise ModbusError(pdu[0] & 0x7f, pdu[1])
        return pdu


class ModbusTcp(_ModbusOps):
    """A minimal blocking Modbus TCP client (FC1..FC6, FC15, FC16)."""

    def __init__(self, host, port, unit=1, timeout=2.0):
        self.unit = unit
        self.tid = 0
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by the simulator")
            buf += chunk
        return buf

    def recv_adu(self):
        """One response ADU: (transaction id, unit, pdu)."""
        hdr = self._recv_exact(7)
        tid, proto, length, unit = struct.unpack(">HHHB", hdr)
        if proto != 0 or length < 2:
            raise ConnectionError("bad MBAP header %r" % hdr)
        return tid, unit, self._recv_exact(length - 1)

    def send_request(self, pdu):
        """Sends a request; returns its transaction id."""
        self.tid = (self.tid + 1) & 0xffff
        self.sock.sendall(struct.pack(">HHHB", self.tid, 0, len(pdu) + 1,
                                      self.unit) + pdu)
        return self.tid

    def request(self, pdu):
        tid = self.send_request(pdu)
        rtid, _, rsp = self.recv_adu()
        if rtid != tid:
            raise ConnectionError("transaction id %d, expected %d"
                                  % (rtid, tid))
        return self._check(rsp)


def crc16(data):
    """Modbus RTU CRC-16, as the integer sent low byte first."""
    crc = 0xffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xa001 if crc & 1 else crc >> 1
    return crc


def rtu_frame(unit, pdu):
    body = bytes([unit]) + bytes(pdu)
    return body + struct.pack("<H", crc16(body))


class ModbusRtu(_ModbusOps):
    """A minimal Modbus RTU client on a tty (a pty from PtyPair), without
    pyserial: os.open plus raw termios."""

    def __init__(self, path, unit=1, timeout=1.0):
        self.unit = unit
        self.timeout = timeout
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        while data:
            select.select([], [self.fd], [], self.timeout)
            n = os.write(self.fd, data)
            data = data[n:]

    def recv_raw(self, n, timeout=None):
        """Up to n bytes, waiting at most timeout for each; may be short."""
        timeout = self.timeout if timeout is None else timeout
        buf = b""
        deadline = time.monotonic() + timeout
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    buf += os.read(self.fd, n - len(buf))
                except BlockingIOError:
                    pass
        return buf

    def flush_input(self):
        while self.recv_raw(256, timeout=0.02):
            pass

    def recv_response(self, timeout=None):
        """One response frame (unit, pdu); TimeoutError if none comes."""
        head = self.recv_raw(2, timeout)
        if len(head) < 2:
            raise TimeoutError("no RTU response")
        fc = head[1]
        if fc & 0x80:
            need = 5
        elif fc in (1, 2, 3, 4):
            head += self.recv_raw(1, timeout)
            if len(head) < 3:
                raise TimeoutError("short RTU response")
            need = 5 + head[2]
        else:
            need = 8
        frame = head + self.recv_raw(need - len(head), timeout)
        if len(frame) < need:
            raise TimeoutError("short RTU response %r" % frame)
        if struct.unpack("<H", frame[-2:])[0] != crc16(frame[:-2]):
            raise ConnectionError("bad CRC in response %r" % frame)
        return frame[0], frame[1:-2]

    def request(self, pdu, unit=None):
        self.send_raw(rtu_frame(self.unit if unit is None else unit, pdu))
        _, rsp = self.recv_response()
        return self._check(rsp)


class PtyPair:
    """Two linked ptys from `socat -d -d pty,raw,echo=0 pty,raw,echo=0`:
    .a for the simulator, .b for the test (or the daemon)."""

    def __init__(self, tmpdir, timeout=5.0):
        if shutil.which("socat") is None:
            raise SimError("socat is not installed")
        self.log_path = os.path.join(str(tmpdir), "socat-%d.log"
                                     % int(time.monotonic_ns()))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._log)
        try:
            names = wait_for(self._names, timeout, what="socat ptys")
        except BaseException:
            self.stop()
            raise
        self.a, self.b = names

    def _names(self):
        if self.proc.poll() is not None:
            raise SimError("socat exited: %s" % open(self.log_path).read())
        with open(self.log_path, "r", errors="replace") as f:
            found = [line.rsplit(" ", 1)[1].strip() for line in f
                     if "PTY is " in line]
        return found if len(found) >= 2 else None

    def stop(self):
        _stop_pid(self.proc)
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
