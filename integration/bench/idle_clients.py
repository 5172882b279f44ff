#!/usr/bin/python3
"""Opens many idle, authenticated PostgreSQL client connections from one process, to measure what a proxy
pays to hold them.

Each connection sends a StartupMessage (protocol 3.0), answers trust, cleartext or md5 authentication,
and waits for the first ReadyForQuery; then it stays open and silent until closed (Terminate, then close).
One thread, non-blocking sockets and epoll (the selectors module), a bounded number of handshakes in
flight: 10,000 connections need no threads and no libpq, only a high enough RLIMIT_NOFILE, which this
module raises as far as the hard limit allows (as root, past it). SCRAM is not spoken: use a trust or md5
user. Used by compare.py; also a command of its own:

    idle_clients.py --port 6432 --user trustuser --count 10000 --hold 60
"""

import argparse
import hashlib
import resource
import selectors
import socket
import struct
import sys
import time

PROTOCOL_3_0 = 196608  # StartupMessage protocol version 3.0 (3 << 16)
AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10


def raise_nofile(want):
    """Raises RLIMIT_NOFILE to at least `want` (the hard limit too when running as root). Returns the
    soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def startup_message(user, database):
    body = struct.pack("!i", PROTOCOL_3_0)
    for k, v in (("user", user), ("database", database), ("application_name", "sluice-idle-bench")):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def password_message(text):
    payload = text.encode() + b"\0"
    return b"p" + struct.pack("!i", len(payload) + 4) + payload


def md5_password(user, password, salt):
    inner = hashlib.md5(password.encode() + user.encode()).hexdigest()
    return "md5" + hashlib.md5(inner.encode() + salt).hexdigest()


def error_text(payload):
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return f"{fields.get('S', 'ERROR')} {fields.get('C', '?')}: {fields.get('M', '?')}"


class _Conn:
    __slots__ = ("sock", "buf", "state")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.state = "connecting"  # connecting -> authenticating -> ready | failed


class IdleClients:
    """A set of idle authenticated connections to one address. open(n) adds n connections (all or an
    exception); close() ends them all."""

    def __init__(self, host, port, user, database="app", password=None, parallel=64, timeout=120.0):
        self.host, self.port = host, port
        self.user, self.database, self.password = user, database, password
        self.parallel = parallel
        self.timeout = timeout
        self.ready = []  # sockets of established connections
        self.startup = startup_message(user, database)

    def __len__(self):
        return len(self.ready)

    def open(self, n):
        """Opens n more connections, at most `parallel` handshakes at a time. Raises RuntimeError with
        the first failure (after closing the connections that this call had opened)."""
        raise_nofile(len(self.ready) + n + 1024)
        sel = selectors.DefaultSelector()
        started = done = 0
        pending = {}
        opened = []
        deadline = time.monotonic() + self.timeout
        try:
            while done < n:
                while started < n and len(pending) < self.parallel:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    err = s.connect_ex((self.host, self.port))
                    if err not in (0, 115):  # EINPROGRESS
                        s.close()
                        raise RuntimeError(f"connect to {self.host}:{self.port}: errno {err}")
                    c = _Conn(s)
                    pending[s.fileno()] = c
                    sel.register(s, selectors.EVENT_WRITE, c)
                    started += 1
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{done} of {n} connections ready after {self.timeout:.0f} s")
                for key, _ in sel.select(timeout=1.0):
                    c = key.data
                    result = self._step(c, sel)
                    if result is None:
                        continue
                    del pending[c.sock.fileno()]
                    sel.unregister(c.sock)
                    if result is not True:
                        c.sock.close()
                        raise RuntimeError(f"connection {len(self.ready) + done + 1}: {result}")
                    opened.append(c.sock)
                    done += 1
        except BaseException:
            for c in pending.values():
                c.sock.close()
            for s in opened:
                s.close()
            raise
        finally:
            sel.close()
        self.ready.extend(opened)
        return len(self.ready)

    def _step(self, c, sel):
        """Advances one handshake. Returns None (not done), True (ready) or an error string."""
        s = c.sock
        if c.state == "connecting":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return f"connect: errno {err}"
            s.sendall(self.startup)  # a few dozen bytes: fits in an empty send buffer
            c.state = "authenticating"
            sel.modify(s, selectors.EVENT_READ, c)
            return None
        try:
            data = s.recv(65536)
        except BlockingIOError:
            return None
        except OSError as e:
            return f"recv: {e}"
        if not data:
            return "closed by the server during login"
        c.buf += data
        while len(c.buf) >= 5:
            kind = c.buf[0:1]
            length = struct.unpack("!i", c.buf[1:5])[0]
            if len(c.buf) < 1 + length:
                break
            payload = c.buf[5:1 + length]
            c.buf = c.buf[1 + length:]
            if kind == b"E":
                return error_text(payload)
            if kind == b"R":
                code = struct.unpack("!i", payload[:4])[0]
                if code == AUTH_OK:
                    continue
                if self.password is None:
                    return f"the server asks for authentication {code} and no password was given"
                if code == AUTH_CLEARTEXT:
                    s.sendall(password_message(self.password))
                elif code == AUTH_MD5:
                    s.sendall(password_message(md5_password(self.user, self.password, payload[4:8])))
                elif code == AUTH_SASL:
                    return "the server asks for SASL (SCRAM), which this client does not speak: use a trust or md5 user"
                else:
                    return f"unsupported authentication request {code}"
            elif kind == b"Z":
                c.state = "ready"
                return True
            # ParameterStatus, BackendKeyData, NoticeResponse: nothing to do
        return None

    def alive(self):
        """How many of the held connections the proxy has not closed (a non-blocking peek sees EOF)."""
        n = 0
        for s in self.ready:
            try:
                if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    continue
            except BlockingIOError:
                pass
            except OSError:
                continue
            n += 1
        return n

    def close(self):
        terminate = b"X" + struct.pack("!i", 4)
        for s in self.ready:
            try:
                s.send(terminate, socket.MSG_DONTWAIT)
            except OSError:
                pass
            s.close()
        self.ready = []


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", default="trustuser")
    p.add_argument("--password", default=None, help="for md5 or cleartext authentication")
    p.add_argument("--database", default="app")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--parallel", type=int, default=64, help="handshakes in flight (default 64)")
    p.add_argument("--hold", type=float, default=0.0, help="seconds to keep them open (default 0)")
    args = p.parse_args()
    clients = IdleClients(args.host, args.port, args.user, args.database, args.password, args.parallel)
    t0 = time.monotonic()
    try:
        clients.open(args.count)
        print(f"{len(clients)} connections ready in {time.monotonic() - t0:.2f} s", flush=True)
        time.sleep(args.hold)
        print(f"{clients.alive()} still open after {args.hold:g} s", flush=True)
    finally:
        clients.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
