"""tlsproxy: a throwaway CA and a tiny TLS reverse proxy on 127.0.0.1 for
tests of massagectl's https:// (client/http-tls.c).

Standard library and Debian's openssl command only:

    ca = TestCA(tmp_path)                       # CA, other CA, certificates
    with TlsProxy(daemon.port, ca.cert, ca.key) as p:
        ...  https://127.0.0.1:%d % p.port, --cacert ca.ca_path

The proxy is what nginx or Caddy is in front of a table (docs/deploy.md):
TLS outside, the daemon's plain HTTP on loopback inside. One request a
connection (massagectl sends "Connection: close"): the request is read
whole (headers and Content-Length), passed on, and the daemon's reply
streamed back until the daemon closes, so the event stream works too. It
runs in threads of the test's own process and stops when the test leaves
the with block.
"""

import os
import select
import socket
import ssl
import subprocess
import threading

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ip]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
[dnsonly]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:table1.spa.example
authorityKeyIdentifier = keyid
"""


class TestCA:
    """A CA (ca_path), an unrelated one (other_ca_path), a certificate
    for localhost and 127.0.0.1 (cert, key) and one for another name only
    (dns_cert, dns_key), all made by openssl in dir."""

    __test__ = False    # not a pytest class

    def __init__(self, tmpdir):
        self.dir = os.path.join(str(tmpdir), "tls")
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "openssl.cnf"), "w") as f:
            f.write(OPENSSL_CNF)
        self.ca_path = self._ca("ca", "massaged test CA")
        self.other_ca_path = self._ca("other-ca", "massaged other CA")
        self.cert, self.key = self._leaf("server", "127.0.0.1", "ip", 2)
        self.dns_cert, self.dns_key = self._leaf("dns", "table1.spa.example",
                                                 "dnsonly", 3)

    def _openssl(self, *args):
        env = dict(os.environ, LC_ALL="C",
                   OPENSSL_CONF=os.path.join(self.dir, "openssl.cnf"))
        r = subprocess.run(["openssl"] + list(args), capture_output=True,
                           text=True, timeout=60, cwd=self.dir, env=env)
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr))

    def _ca(self, name, cn):
        self._openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                      name + ".key", "-out", name + ".pem", "-days", "2",
                      "-subj", "/CN=" + cn, "-extensions", "ca")
        return os.path.join(self.dir, name + ".pem")

    def _leaf(self, name, cn, ext, serial):
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                      name + ".key", "-out", name + ".csr", "-subj",
                      "/CN=" + cn)
        self._openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                      "-CAkey", "ca.key", "-set_serial", str(serial),
                      "-days", "2",
                      "-out", name + ".crt", "-extfile", "openssl.cnf",
                      "-extensions", ext)
        return (os.path.join(self.dir, name + ".crt"),
                os.path.join(self.dir, name + ".key"))


class TlsProxy:
    """TLS on 127.0.0.1:port (and [::1]:port) in front of the plain HTTP
    of 127.0.0.1:backend. handshakes_failed counts clients that gave up
    during the handshake (a client refusing the certificate), requests
    the request lines passed on, server_names the SNI names received."""

    def __init__(self, backend, cert, key):
        self.backend = backend
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.server_names = []          # SNI, as the clients sent it
        self.ctx.sni_callback = lambda sock, name, ctx: \
            self.server_names.append(name)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.socks = [self.sock]
        # The same port on ::1 where there is one, so that a client that
        # resolves localhost to ::1 first finds the proxy too.
        try:
            s6 = socket.socket(socket.AF_INET6)
            s6.bind(("::1", self.port))
            s6.listen(64)
            self.socks.append(s6)
        except OSError:
            s6.close()
        self.handshakes_failed = 0
        self.requests = []              # request lines passed on
        self._stop = False
        self._threads = []
        self._lock = threading.Lock()
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def _accept(self):
        while not self._stop:
            ready, _, _ = select.select(self.socks, [], [], 0.2)
            for ls in ready:
                try:
                    c, _ = ls.accept()
                except OSError:
                    continue
                t = threading.Thread(target=self._serve, args=(c,),
                                     daemon=True)
                with self._lock:
                    self._threads.append(t)
                t.start()

    @staticmethod
    def _read_request(s):
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return None
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        length = 0
        for ln in head.split(b"\r\n")[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(body) < length:
            d = s.recv(65536)
            if not d:
                return None
            body += d
        return head + b"\r\n\r\n" + body

    def _serve(self, c):
        c.settimeout(10)
        try:
            s = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            with self._lock:
                self.handshakes_failed += 1
            c.close()
            return
        try:
            req = self._read_request(s)
            if req is None:
                return
            with self._lock:
                self.requests.append(req.split(b"\r\n", 1)[0].decode())
            with socket.create_connection(("127.0.0.1", self.backend),
                                          timeout=10) as b:
                b.sendall(req)
                while not self._stop:
                    try:
                        d = b.recv(65536)
                    except socket.timeout:
                        continue        # an event stream between events
                    if not d:
                        break
                    s.sendall(d)
        except (ssl.SSLError, OSError):
            pass
        finally:
            s.close()

    def close(self):
        self._stop = True
        self._accepter.join(5)
        for ls in self.socks:
            ls.close()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(15)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
