"""The HTTP/1.1 transport of the REST API: bounded in time and in connections, TLS per connection.

    limits = HttpLimits(read_timeout=30, header_timeout=10, idle_timeout=60, max_connections=256)
    server = HttpServer(("0.0.0.0", 8501), app, limits, max_body_size=64 << 20, ssl_context=None).start()
    server.port; server.open_connections(); server.stop(grace=5)

`app(method, path, headers, body) -> (status, payload bytes, content type)` answers one request; it
must not raise (RestApi.handle does not).

Each accepted connection gets one thread; the accept loop only accepts. In that thread:

- TLS (when `ssl_context` is given): the handshake, which must complete within `header_timeout`, so a
  client that connects and sends nothing holds one connection slot for that long and stalls nobody.
- Timeouts, with Go's net/http meanings: `header_timeout` - the request line and headers must have
  arrived this long after the request's first byte (on a new connection: after the connection was
  accepted); `read_timeout` - the whole request, body included, this long after its first byte;
  `idle_timeout` - how long a keep-alive connection may wait for its next request. Both read
  deadlines are deadlines, not per-read timeouts: a client trickling one byte a second is cut off all
  the same. An expired read answers 408 and closes; an expired idle wait closes without an answer.
  Writing a response has `read_timeout` too (a client that stops reading is dropped).
- `max_connections` open connections at most (a thread each). Connections beyond it are answered
  503 (`Retry-After: 1`, also over TLS) by one reaper thread, without reading them, and closed.
- Strict framing: Content-Length must be digits only (400 otherwise; 413 beyond `max_body_size`),
  one value, never together with Transfer-Encoding (400: request smuggling); chunked bodies are read
  with the same limits. Every request that is answered at all is answered before the connection
  closes, with a JSON body {"error": message} (the message never longer than `MAX_MESSAGE` characters);
  after an error the server stops writing, drains what the client still sends for a moment, then
  closes (so the client reads the answer instead of a reset).
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import http.server
import io
import json
import logging
import re
import selectors
import socket
import socketserver
import ssl
import threading
import time

from serving import memory
from serving.errors import clip  # re-exported: the one text-cutting rule of gRPC and REST answers

__all__ = ["HttpLimits", "HttpServer", "clip", "MAX_MESSAGE", "INTERNAL_ERROR"]

log = logging.getLogger(__name__)

INTERNAL_ERROR = "Internal server error while handling the request (the server log has the details)"
MAX_MESSAGE = 2000  # characters of an error message sent to a client (longer ones are cut in the middle)
MAX_REQUEST_LINE = 65536
MAX_CHUNK_LINE = 1024
MAX_TRAILERS = 100
LINGER_SECONDS = 1.0  # after an error answer, how long the client's remaining bytes are drained
LINGER_BYTES = 1 << 20
REJECT_PENDING = 512  # over-limit connections being answered 503 at once; beyond: closed at once
REJECT_SECONDS = 2.0  # the most time the reaper spends on one over-limit connection

_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    """Time and connection limits of the REST transport (see the module docstring).

    Args:
        read_timeout: seconds for a whole request (line, headers, body) from its first byte; also the
            time allowed to write a response.
        header_timeout: seconds for the request line and headers from the request's first byte (for
            the first request of a connection: from its accept; the TLS handshake has as long).
        idle_timeout: seconds a keep-alive connection may wait for its next request.
        max_connections: open connections at most; more are answered 503 and closed.
    """

    read_timeout: float = 30.0
    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    max_connections: int = 256

    def __post_init__(self):
        for name in ("read_timeout", "header_timeout", "idle_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"REST {name} must be a positive number of seconds, got {value!r}")
        if not isinstance(self.max_connections, int) or self.max_connections < 1:
            raise ValueError(f"REST max_connections must be a positive integer, got {self.max_connections!r}")


def _json_error(message: str) -> bytes:
    return json.dumps({"error": clip(message, MAX_MESSAGE)}).encode()


class _ClientGone(Exception):
    """The connection ended (EOF, reset, timeout of an idle wait): close without an answer."""


class _Reject(Exception):
    """Answer `status` with `message` and close the connection (the stream cannot be trusted any more)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _DeadlineIO(io.RawIOBase):
    """The connection's socket as a raw stream whose reads honour a deadline (or a per-read timeout)."""

    def __init__(self, sock):
        super().__init__()
        self.sock = sock
        self.deadline: float | None = None  # time.monotonic() by which the current read phase must end
        self.timeout: float | None = None   # without a deadline: the longest wait for one read

    def readable(self):
        return True

    def readinto(self, buffer) -> int:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("read deadline passed")
            self.sock.settimeout(remaining)
        else:
            self.sock.settimeout(self.timeout)
        return self.sock.recv_into(buffer)


class _Writer(io.RawIOBase):
    def __init__(self, sock, timeout: float):
        super().__init__()
        self.sock, self.send_timeout = sock, timeout

    def writable(self):
        return True

    def write(self, data) -> int:
        self.sock.settimeout(self.send_timeout)  # sendall's timeout bounds the whole write
        self.sock.sendall(data)
        return len(data)


class _Handler(http.server.BaseHTTPRequestHandler):
    """One connection: requests one after the other (keep-alive), each read under its deadlines."""

    protocol_version = "HTTP/1.1"
    server_version = "zoo-serving"

    # -- connection ------------------------------------------------------------------------

    def setup(self):
        self.connection = self.request
        self.raw = _DeadlineIO(self.connection)
        self.rfile = io.BufferedReader(self.raw, 65536)
        self.wfile = _Writer(self.connection, self.server.limits.read_timeout)
        self._linger = False

    def handle(self):
        record = self.server.connection_record(self.connection)
        first = True
        self.close_connection = False
        while not self.close_connection:
            record.idle = True
            if self.server.closing:
                return
            try:
                self._wait_for_request(first)
            except _ClientGone:
                return
            record.idle = False
            first = False
            self._one_request()

    def finish(self):
        if self._linger:
            self._drain()

    def _wait_for_request(self, first: bool):
        limits = self.server.limits
        self.raw.deadline = None
        self.raw.timeout = limits.header_timeout if first else limits.idle_timeout
        try:
            if not self.rfile.peek(1):
                raise _ClientGone()
        except (OSError, ValueError):  # timeout, reset, closed by stop()
            raise _ClientGone() from None

    def _drain(self):
        """Stop writing, read what the client still sends (a little, briefly), so it sees our answer."""
        try:
            socket.socket.shutdown(self.connection, socket.SHUT_WR)
            self.raw.deadline = time.monotonic() + LINGER_SECONDS
            left = LINGER_BYTES
            while left > 0:
                data = self.rfile.read1(min(left, 65536))
                if not data:
                    break
                left -= len(data)
        except (OSError, ValueError):
            pass

    # -- one request -----------------------------------------------------------------------

    def _one_request(self):
        limits = self.server.limits
        start = time.monotonic()
        self.raw.deadline = start + min(limits.header_timeout, limits.read_timeout)
        self.command, self.request_version, self.requestline = None, "HTTP/1.1", ""
        try:
            try:
                if not self._read_head():
                    return
                self.raw.deadline = start + limits.read_timeout
                body = self._read_body()
            except TimeoutError:
                raise _Reject(408, f"The request did not arrive within the server's time limit "
                                   f"(headers {limits.header_timeout:g} s, whole request "
                                   f"{limits.read_timeout:g} s)") from None
            except (OSError, ValueError):  # reset or closed while reading: nobody to answer
                self.close_connection = True
                return
        except _Reject as reject:
            self.send_error(reject.status, reject.message)
            return
        self.raw.deadline = None
        if self.server.closing:
            self.close_connection = True
        try:
            status, payload, content_type = self.server.app(self.command, self.path, self.headers, body)
        except Exception:  # noqa: BLE001 - the app should answer everything; a bug still gets an answer
            log.exception("REST %s %s failed", self.command, clip(self.path))
            self.close_connection = True
            status, payload, content_type = 500, _json_error(INTERNAL_ERROR), "application/json"
        self._send(status, payload, content_type)
        memory.after_request(len(body))  # runs once this request's objects are freed

    def _read_head(self) -> bool:
        """Request line and headers; False when an answer was already sent (parse_request's errors)."""
        for _ in range(4):  # RFC 9112 2.2: empty lines before a request line are ignored
            line = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if not line:
                raise OSError("connection closed before the request line")
            if line not in (b"\r\n", b"\n"):
                break
        else:
            raise _Reject(400, "Malformed request: no request line")
        if len(line) > MAX_REQUEST_LINE:
            raise _Reject(414, f"Request line longer than {MAX_REQUEST_LINE} bytes")
        if not line.endswith(b"\n"):
            raise OSError("connection closed inside the request line")
        self.raw_requestline = line
        try:
            if not self.parse_request():
                if not self._answered:
                    raise _Reject(400, "Malformed request line")
                return False
        except (OSError, _Reject):
            raise
        except Exception as exc:  # noqa: BLE001 - the header parser choking on garbage is the client's
            log.debug("unparsable request head: %s", clip(exc))
            raise _Reject(400, "Malformed request headers") from None
        if self.request_version == "HTTP/0.9":
            raise _Reject(400, "HTTP/0.9 requests are not supported; send HTTP/1.1")
        return True

    def parse_request(self):
        self._answered = False
        return super().parse_request()

    def handle_expect_100(self):
        """Send 100 Continue only for a body we will read: a bad or too large one is answered at once."""
        try:
            length = self._content_length()
        except _Reject:
            return True  # _read_body answers it
        if length is not None and length > self.server.max_body_size:
            return True
        return super().handle_expect_100()

    def _content_length(self) -> int | None:
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return None
        items = {item.strip() for value in values for item in str(value).split(",")}
        if len(items) != 1:
            raise _Reject(400, f"Conflicting Content-Length values: {clip(', '.join(map(str, values)), 100)}")
        (text,) = items
        if not _DIGITS.fullmatch(text):
            raise _Reject(400, f"Invalid Content-Length: {clip(repr(text), 100)} (expected the number of "
                               f"body bytes, a non-negative integer)")
        if len(text) > 19:
            raise _Reject(413, f"Request body of {clip(text, 40)} bytes exceeds the limit of "
                               f"{self.server.max_body_size} bytes")
        return int(text)

    def _read_body(self) -> bytes:
        encodings = self.headers.get_all("Transfer-Encoding") or []
        if encodings:
            if self.headers.get_all("Content-Length"):
                raise _Reject(400, "A request must not have both Content-Length and Transfer-Encoding")
            codings = [c.strip().lower() for value in encodings for c in str(value).split(",") if c.strip()]
            if codings != ["chunked"]:
                raise _Reject(400, f"Unsupported Transfer-Encoding: {clip(repr(', '.join(map(str, encodings))), 100)} "
                                   f"(only a single 'chunked' is accepted)")
            return self._read_chunked()
        length = self._content_length()
        if not length:
            return b""
        limit = self.server.max_body_size
        if length > limit:
            raise _Reject(413, f"Request body of {length} bytes exceeds the limit of {limit} bytes")
        body = self.rfile.read(length)
        if len(body) < length:
            raise _Reject(400, f"The body ended after {len(body)} of its {length} bytes (Content-Length)")
        return body

    def _read_chunked(self) -> bytes:
        chunks, total, limit = [], 0, self.server.max_body_size
        while True:
            line = self.rfile.readline(MAX_CHUNK_LINE + 1)
            if not line.endswith(b"\n"):
                raise _Reject(400, "Malformed chunked body: a chunk size line is too long or missing")
            size_text = line.split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_text):
                raise _Reject(400, "Malformed chunked body: invalid chunk size "
                                   f"{clip(repr(size_text.decode('latin-1')), 60)} (expected hexadecimal digits)")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > limit:
                raise _Reject(413, f"Request body exceeds the limit of {limit} bytes")
            data = self.rfile.read(size)
            if len(data) < size or self.rfile.readline(3).strip():
                raise _Reject(400, "Malformed chunked body: a chunk is shorter than its size or not ended by CRLF")
            chunks.append(data)
        for _ in range(MAX_TRAILERS):
            line = self.rfile.readline(8193)
            if line in (b"\r\n", b"\n"):
                return b"".join(chunks)
            if not line.endswith(b"\n"):
                break
        raise _Reject(400, "Malformed chunked body: bad trailer section")

    # -- answers ---------------------------------------------------------------------------

    def send_error(self, code, message=None, explain=None):
        """Every transport-level error: a JSON body, then close (parse_request calls this too)."""
        self._answered = True
        if code >= 500 and code != 503:  # 505 (HTTP/2.0, ...): a bad request, as libevent (TF Serving) answers
            code = 400
        text = _plain_parse_error(message) if message else \
            http.server.BaseHTTPRequestHandler.responses.get(code, ("Bad request",))[0]
        log.debug("REST %s: %s %s", self.address_string(), code, clip(text))
        self.close_connection = True
        self._linger = True
        try:
            self._send(code, _json_error(text), "application/json")
        except (OSError, ValueError):
            pass

    def _send(self, status, payload: bytes, content_type: str):
        head = self.command == "HEAD"
        if self.request_version == "HTTP/0.9":  # parse_request's default before it read a version:
            self.request_version = "HTTP/1.0"   # always answer with a status line and headers
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection or self.server.closing:
            self.send_header("Connection", "close")
            self.close_connection = True
        buffered = getattr(self, "_headers_buffer", [])
        self._headers_buffer = []
        try:
            self.wfile.write(b"".join(buffered) + b"\r\n" + (b"" if head else payload))
        except (OSError, ValueError):
            self.close_connection = True
            raise

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        log.debug("REST %s - %s", self.address_string(), fmt % args)

    def address_string(self):
        return str(self.client_address[0]) if self.client_address else "?"


_EXPECTED_LINE = "expected METHOD PATH HTTP/1.1"
_PARSE_ERRORS = [  # http.server's wording -> ours
    (re.compile(r"Bad HTTP/0\.9 request type \((.*)\)$", re.S), "Malformed request line ({}): " + _EXPECTED_LINE),
    (re.compile(r"Bad request version \((.*)\)$", re.S), "Malformed request line: bad HTTP version {}; " + _EXPECTED_LINE),
    (re.compile(r"Bad request syntax \((.*)\)$", re.S), "Malformed request line {}: " + _EXPECTED_LINE),
    (re.compile(r"Invalid HTTP version \((.*)\)$", re.S), "Unsupported HTTP version {}; send HTTP/1.1"),
    (re.compile(r"Line too long$"), f"A request header line is longer than {MAX_REQUEST_LINE} bytes"),
    (re.compile(r"Too many headers$"), "Too many request headers (at most 100)"),
]


def _plain_parse_error(message: str) -> str:
    for pattern, replacement in _PARSE_ERRORS:
        match = pattern.match(message)
        if match:
            return replacement.format(*(clip(g, 100) for g in match.groups()))
    return message


class _Connection:
    __slots__ = ("sock", "idle")

    def __init__(self, sock):
        self.sock, self.idle = sock, True


class _Reaper:
    """One thread answering connections beyond the bound: 503, drain briefly, close - non-blocking."""

    def __init__(self, ssl_context, max_connections: int):
        self.ssl_context = ssl_context
        body = _json_error(f"The server has too many open connections (at most {max_connections}); retry later")
        self.answer = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                       b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._incoming = collections.deque()
        self._pending = {}  # fileno -> state
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="rest-reaper", daemon=True)
        self._thread.start()

    def submit(self, sock):
        if self._stopped or len(self._pending) + len(self._incoming) >= REJECT_PENDING:
            _close(sock)
            return
        self._incoming.append(sock)
        self._wake()

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def stop(self):
        self._stopped = True
        self._wake()
        self._thread.join(5)

    def _run(self):
        try:
            while not self._stopped:
                for key, _ in self._selector.select(timeout=0.5):
                    if key.data is None:
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except OSError:
                            pass
                    else:
                        self._advance(key.data)
                while self._incoming:
                    self._start(self._incoming.popleft())
                now = time.monotonic()
                for state in [s for s in self._pending.values() if s["deadline"] <= now]:
                    self._finish(state)
        finally:
            for state in list(self._pending.values()):
                self._finish(state)
            while self._incoming:
                _close(self._incoming.popleft())
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _start(self, sock):
        try:
            sock.setblocking(False)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            state = {"sock": sock, "phase": "handshake" if self.ssl_context is not None else "send",
                     "out": self.answer, "left": LINGER_BYTES, "deadline": time.monotonic() + REJECT_SECONDS}
            self._pending[sock.fileno()] = state
            self._selector.register(sock, selectors.EVENT_WRITE, state)
        except (OSError, ValueError):
            _close(sock)
            return
        self._advance(state)

    def _wait(self, state, events):
        try:
            self._selector.modify(state["sock"], events, state)
        except (OSError, ValueError, KeyError):
            self._finish(state)

    def _advance(self, state):
        sock = state["sock"]
        try:
            if state["phase"] == "handshake":
                sock.do_handshake()
                state["phase"] = "send"
            if state["phase"] == "send":
                sent = sock.send(state["out"])
                state["out"] = state["out"][sent:]
                if state["out"]:
                    return self._wait(state, selectors.EVENT_WRITE)
                if self.ssl_context is None:
                    sock.shutdown(socket.SHUT_WR)
                state["phase"] = "drain"
                self._wait(state, selectors.EVENT_READ)
            if state["phase"] == "drain":
                while state["left"] > 0:
                    data = sock.recv(65536)
                    if not data:
                        return self._finish(state)
                    state["left"] -= len(data)
                self._finish(state)
        except ssl.SSLWantReadError:
            self._wait(state, selectors.EVENT_READ)
        except ssl.SSLWantWriteError:
            self._wait(state, selectors.EVENT_WRITE)
        except (BlockingIOError, InterruptedError):
            self._wait(state, selectors.EVENT_WRITE if state["phase"] == "send" else selectors.EVENT_READ)
        except (OSError, ValueError):
            self._finish(state)

    def _finish(self, state):
        sock = state["sock"]
        try:
            self._pending.pop(sock.fileno(), None)
            self._selector.unregister(sock)
        except (OSError, ValueError, KeyError):
            pass
        _close(sock)


def _close(sock):
    try:
        sock.close()
    except OSError:
        pass


def _force_close(sock):
    """Wake a thread blocked on `sock` (shutdown on the plain socket under any TLS layer)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass


class HttpServer(socketserver.TCPServer):
    """A threaded HTTP/1.1 server with the limits of the module docstring; `app` answers requests."""

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, app, limits: HttpLimits | None = None, max_body_size: int = 64 << 20,
                 ssl_context: ssl.SSLContext | None = None):
        self.app = app
        self.limits = limits or HttpLimits()
        self.max_body_size = int(max_body_size)
        self.ssl_context = ssl_context
        self.closing = False
        self._slots = threading.BoundedSemaphore(self.limits.max_connections)
        self._connections: dict[int, _Connection] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._serving = False
        super().__init__(address, _Handler)
        self.port = self.server_address[1]
        self._reaper = _Reaper(ssl_context, self.limits.max_connections)

    # -- accept loop (accepts, nothing else) -------------------------------------------------

    def get_request(self):
        try:
            return self.socket.accept()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                log.warning("REST accept failed (%s); pausing", exc)
                time.sleep(0.1)  # no busy loop while out of descriptors
            raise

    def process_request(self, sock, client_address):
        if self.closing:
            _close(sock)
            return
        if not self._slots.acquire(blocking=False):
            self._reaper.submit(sock)
            return
        thread = threading.Thread(target=self._serve_connection, args=(sock, client_address),
                                  name="rest-connection", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no more threads: refuse this one
            log.warning("REST: cannot start a connection thread")
            self._slots.release()
            _close(sock)

    def start(self) -> "HttpServer":
        """Accept connections on a thread of its own."""
        self._serving = True
        threading.Thread(target=self.serve_forever, name="rest", daemon=True).start()
        return self

    # -- one connection (its own thread) -----------------------------------------------------

    def connection_record(self, sock) -> _Connection:
        with self._lock:
            return self._connections[id(sock)]

    def _serve_connection(self, sock, client_address):
        key = id(sock)
        try:
            sock.settimeout(self.limits.header_timeout)
            with self._lock:
                self._connections[key] = _Connection(sock)
            if self.ssl_context is not None:
                tls = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                with self._lock:
                    del self._connections[key]
                    sock, key = tls, id(tls)
                    self._connections[key] = _Connection(sock)
                if self.closing:
                    return
                sock.do_handshake()  # within header_timeout (a deadline for the whole handshake)
            self.RequestHandlerClass(sock, client_address, self)
        except (OSError, ValueError) as exc:  # handshake failures, resets, timeouts: the client's
            log.debug("REST connection from %s ended: %s", client_address, exc)
        except Exception:  # noqa: BLE001 - a bug in the server: log it, keep serving
            log.exception("REST connection from %s failed", client_address)
        finally:
            with self._lock:
                self._connections.pop(key, None)
                self._changed.notify_all()
            _close(sock)
            self._slots.release()

    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    # -- stop --------------------------------------------------------------------------------

    def stop(self, grace: float = 5.0):
        """No new connections; idle ones close now, busy ones get `grace` seconds to answer."""
        self.closing = True
        if self._serving:
            self.shutdown()
        self.server_close()
        self._reaper.stop()
        deadline = time.monotonic() + max(0.0, grace)
        with self._lock:
            while True:
                for connection in self._connections.values():
                    if connection.idle or time.monotonic() >= deadline:
                        _force_close(connection.sock)
                if not self._connections or time.monotonic() >= deadline + 1.0:
                    break
                self._changed.wait(0.1)
