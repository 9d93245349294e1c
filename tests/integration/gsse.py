"""A raw-socket SSE client for the tests: full control over reading (or not reading), the
receive buffer size, and headers such as Last-Event-ID. Handles chunked transfer coding."""

import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Event:
    id: str = None
    event: str = None
    data: str = ""
    comment: str = None  # set for a ': ...' comment line (heartbeat)
    raw_lines: list = field(default_factory=list)

    @property
    def is_comment(self):
        return self.comment is not None


class StreamClosed(Exception):
    pass


class SSEClient:
    def __init__(self, base_url, path, headers=None, timeout=5.0, rcvbuf=None):
        u = urlsplit(base_url)
        self.host, self.port = u.hostname, u.port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((self.host, self.port))
        hdrs = {"Host": f"{self.host}:{self.port}", "Accept": "text/event-stream"}
        hdrs.update(headers or {})
        from conftest import daemon_token  # the suite's daemons want their local admin credential
        tok = daemon_token(f"{self.host}:{self.port}")
        if tok and "Authorization" not in hdrs:
            hdrs["Authorization"] = "Bearer " + tok
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        self.sock.sendall(req.encode())
        self._raw = b""          # undecoded bytes from the socket
        self._body = b""         # decoded body bytes not yet parsed into lines
        self._eof = False
        self.status = None
        self.headers = {}
        self._chunked = False
        self._chunk_left = 0
        self._pending = Event()

    # -- low level --------------------------------------------------------------------------
    def _recv(self, deadline):
        if self._eof:
            raise StreamClosed()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("SSE read timed out")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("SSE read timed out") from None
        except ConnectionResetError:
            data = b""
        if not data:
            self._eof = True  # what is already in _raw is still decoded by the caller
            return
        self._raw += data

    def read_headers(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._raw:
            self._recv(deadline)
        head, self._raw = self._raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        return self.status

    def _decode(self):
        """Moves decoded bytes from _raw into _body. Returns False at the terminating chunk."""
        if not self._chunked:
            self._body += self._raw
            self._raw = b""
            return True
        while True:
            if self._chunk_left > 0:
                take = self._raw[: self._chunk_left]
                self._body += take
                self._raw = self._raw[len(take):]
                self._chunk_left -= len(take)
                if self._chunk_left > 0:
                    return True
                self._chunk_left = -2  # expect CRLF after the data
            if self._chunk_left == -2:
                if len(self._raw) < 2:
                    return True
                self._raw = self._raw[2:]
                self._chunk_left = 0
            if b"\r\n" not in self._raw:
                return True
            size_line, rest = self._raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            self._raw = rest
            if size == 0:
                self._eof = True
                return False
            self._chunk_left = size

    def _next_line(self, deadline):
        while True:
            if b"\n" in self._body:
                line, self._body = self._body.split(b"\n", 1)
                return line.rstrip(b"\r").decode("utf-8", "replace")
            self._decode()
            if b"\n" in self._body:
                continue
            if self._eof:
                raise StreamClosed()
            self._recv(deadline)

    # -- events -----------------------------------------------------------------------------
    def next_event(self, timeout=5.0, comments=True):
        """Returns the next complete event (or comment, if `comments`). Raises TimeoutError or
        StreamClosed."""
        if self.status is None:
            self.read_headers(timeout)
        deadline = time.monotonic() + timeout
        while True:
            line = self._next_line(deadline)
            ev = self._pending
            if line == "":
                if ev.raw_lines and (ev.data or ev.id is not None or ev.event is not None):
                    self._pending = Event()
                    ev.data = ev.data[:-1] if ev.data.endswith("\n") else ev.data
                    return ev
                self._pending = Event()
                continue
            if line.startswith(":"):
                if comments:
                    return Event(comment=line[1:].lstrip(" "), raw_lines=[line])
                continue
            ev.raw_lines.append(line)
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "id":
                ev.id = value
            elif name == "event":
                ev.event = value
            elif name == "data":
                ev.data += value + "\n"

    def events(self, n, timeout=5.0):
        """The next n events (comments skipped)."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            out.append(self.next_event(max(0.01, deadline - time.monotonic()), comments=False))
        return out

    def drain_until_closed(self, timeout=10.0):
        """Reads and parses until the server closes the stream; returns the events seen. Raises
        TimeoutError if the stream is still open at the deadline."""
        seen = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                seen.append(self.next_event(max(0.01, deadline - time.monotonic()), comments=False))
        except StreamClosed:
            return seen

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
