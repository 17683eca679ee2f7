"""REST hardening (issue 12) against real servers on 127.0.0.1, over real sockets: TLS handshakes off
the accept path, read / header / idle timeouts, the connection bound, strict Content-Length, bad
bodies answered 400 in plain words, and a seeded fuzz that must get no 5xx and no hang.

No wall-clock assertions: timeouts are configured short and waited for with generous deadlines;
"promptly" means "answered while the connections that fill the bound are still held open".
"""

import collections
import concurrent.futures
import contextlib
import json
import logging
import random
import select
import socket
import threading
import time
import weakref

import numpy as np
import pytest
import requests

from serving.cli import make_parser, rest_limits
from serving.grpc_server import Server
from serving.http_transport import INTERNAL_ERROR, MAX_MESSAGE, HttpLimits
from serving.rest import RestApi, RestServer

from servers import NAMES, build_models, export_models, make_certificate, running

WAIT = 30.0  # generous deadline (seconds) for anything the server should do "soon"
PYTHON_WORDS = ("Error", "Exception", "Traceback")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return export_models(tmp_path_factory.mktemp("models"), build_models("image", "reg"), {"image": NAMES})


@pytest.fixture(scope="module")
def server(models):
    """A server as `serve` starts it (REST with the default limits); its backend serves the REST servers below."""
    with running(models["root"], rest_api_port=0) as server:
        yield server


@contextlib.contextmanager
def rest(server, tls=None, max_body_size=1 << 20, **limits):
    """A REST server over `server`'s backend with the given HttpLimits (short timeouts for the tests)."""
    rest_server = RestServer(server.backend, host="127.0.0.1", port=0, tls=tls, max_body_size=max_body_size,
                             metrics=server.metrics, limits=HttpLimits(**limits)).start()
    try:
        yield rest_server
    finally:
        rest_server.stop(grace=1)


def images(n, seed=0):
    return np.random.default_rng(seed).random((n, 32, 32, 1)).astype(np.float32)


GOOD_BODY = json.dumps({"instances": images(1).tolist()}).encode()


def request_bytes(method="POST", path="/v1/models/image:predict", body=b"", headers=None, version="HTTP/1.1"):
    headers = {"Host": "127.0.0.1", **({"Content-Length": str(len(body))} if body or method == "POST" else {}),
               **(headers or {})}
    head = f"{method} {path} {version}".rstrip() + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


_LEFTOVER = weakref.WeakKeyDictionary()  # socket -> bytes read past the last answer (pipelined answers)


def read_response(sock, head_only=False):
    """(status, headers, body) of the next final response on `sock`; (None, {}, b"") if it closed first."""
    buffer = _LEFTOVER.pop(sock, b"")

    def more():
        try:
            return sock.recv(65536)
        except ConnectionResetError:
            return b""

    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = more()
            if not chunk:
                return None, {}, b""
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if 100 <= status < 200:
            continue
        length = 0 if head_only else int(headers.get("content-length", 0))
        while len(buffer) < length and (chunk := more()):
            buffer += chunk
        _LEFTOVER[sock] = buffer[length:]
        return status, headers, buffer[:length]


def exchange(port, data: bytes, timeout=WAIT, head_only=False):
    """Send `data` on a new connection, read one response; raises socket.timeout if none comes (a hang)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered (and closed) before all was sent: the answer is still there to read
        return read_response(sock, head_only)


def closed_by_server(sock, timeout=WAIT) -> bool:
    """True when the server closes `sock` (EOF or reset) within `timeout`; whatever it sent first is skipped."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return False
    return True


def poll(condition, timeout=WAIT, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def assert_plain_error(response_text: str):
    assert "error" in json.loads(response_text)
    for word in PYTHON_WORDS:
        assert word not in response_text, response_text


# ------------------------------------------------------------------------------------------------
# TLS


def test_idle_tls_connection_does_not_stall_other_https_requests(tmp_path, server):
    cert, key = make_certificate(tmp_path)
    with rest(server, tls=(str(cert), str(key), None), header_timeout=60) as https:
        silent = [socket.create_connection(("127.0.0.1", https.port)) for _ in range(3)]
        half_hello = socket.create_connection(("127.0.0.1", https.port))
        half_hello.sendall(b"\x16\x03\x01\x02\x00\x01")  # a TLS record header promising 512 bytes, then nothing
        try:
            assert poll(lambda: https.open_connections() >= 4)
            for _ in range(5):
                response = requests.get(f"https://localhost:{https.port}/v1/models/image", verify=str(cert), timeout=20)
                assert response.status_code == 200
                assert response.json()["model_version_status"][0]["state"] == "AVAILABLE"
            assert https.open_connections() >= 4  # the silent ones are still held, and stalled nobody
        finally:
            for sock in silent + [half_hello]:
                sock.close()


def test_tls_handshake_is_bounded_by_the_header_timeout(tmp_path, server):
    cert, key = make_certificate(tmp_path)
    with rest(server, tls=(str(cert), str(key), None), header_timeout=1) as https:
        with socket.create_connection(("127.0.0.1", https.port)) as silent:
            assert closed_by_server(silent)
        assert poll(lambda: https.open_connections() == 0)
        assert requests.get(f"https://localhost:{https.port}/v1/models/image", verify=str(cert),
                            timeout=20).status_code == 200


# ------------------------------------------------------------------------------------------------
# timeouts and the connection bound


def _open_slow_clients(port, n):
    """n connections each of: half-sent headers, half-sent body, idle keep-alive after one request."""
    half_head, half_body, idle = [], [], []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        sock.sendall(b"POST /v1/models/image:predict HTTP/1.1\r\nHost: x\r\nContent-Len")
        half_head.append(sock)
        sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        sock.sendall(request_bytes(body=b"x" * 1000)[:-990])  # Content-Length 1000, 10 bytes of it
        half_body.append(sock)
        sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        sock.sendall(request_bytes("GET", "/v1/models/image"))
        idle.append(sock)
    for sock in idle:
        assert read_response(sock)[0] == 200
    return half_head, half_body, idle


def test_half_sent_and_idle_connections_are_closed_and_threads_do_not_pile_up(server):
    with rest(server, header_timeout=1, read_timeout=2, idle_timeout=1, max_connections=500) as slow:
        baseline = threading.active_count()
        figures = []
        for wave in range(2):
            half_head, half_body, idle = _open_slow_clients(slow.port, 30)
            figures.append((threading.active_count() - baseline, slow.open_connections()))
            for sock in half_head + half_body:  # answered 408, then closed
                status, _, body = read_response(sock)
                assert status == 408, (status, body)
                assert "time limit" in json.loads(body)["error"]
                assert closed_by_server(sock)
            for sock in idle:  # closed without an answer
                assert closed_by_server(sock)
            for sock in half_head + half_body + idle:
                sock.close()
            assert poll(lambda: slow.open_connections() == 0)
            assert poll(lambda: threading.active_count() <= baseline), (threading.active_count(), baseline)
        print(f"\n90 slow connections per wave; threads above baseline right after opening them, and open "
              f"connections: {figures}; back to the baseline of {baseline} threads after each wave")
        assert requests.get(f"http://127.0.0.1:{slow.port}/v1/models/image", timeout=20).status_code == 200


def test_trickled_headers_are_cut_at_the_header_deadline(server):
    """One byte every 50 ms keeps every read short, but the headers as a whole have header_timeout."""
    with rest(server, header_timeout=1, read_timeout=60) as slow:
        data = request_bytes("GET", "/v1/models/image", headers={"X-Padding": "p" * 400})
        with socket.create_connection(("127.0.0.1", slow.port), timeout=WAIT) as sock:
            sent = 0
            for byte in data:
                try:
                    sock.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += 1
                if select.select([sock], [], [], 0.05)[0]:
                    break
            status, _, body = read_response(sock)
        assert status == 408, body
        assert sent < len(data)  # cut off while still sending (the whole trickle takes > 20 s)


def test_connection_bound_answers_extra_connections_promptly(server):
    with rest(server, max_connections=3, header_timeout=120, idle_timeout=120) as bounded:
        holders = [socket.create_connection(("127.0.0.1", bounded.port)) for _ in range(3)]
        try:
            assert poll(lambda: bounded.open_connections() == 3)
            statuses = []
            for _ in range(5):  # each answered at once, while the holders could stay for 120 s
                status, headers, body = exchange(bounded.port, request_bytes("GET", "/v1/models/image"), timeout=20)
                statuses.append(status)
                assert status == 503 and headers["retry-after"] == "1", (status, body)
                assert "too many open connections" in json.loads(body)["error"]
            assert bounded.open_connections() == 3
        finally:
            for sock in holders:
                sock.close()
        assert poll(lambda: requests.get(f"http://127.0.0.1:{bounded.port}/v1/models/image",
                                         timeout=20).status_code == 200)
        print(f"\nbound of 3 held: 5 extra connections answered {statuses}; after release: 200")


def test_connection_bound_over_tls_answers_503(tmp_path, server):
    cert, key = make_certificate(tmp_path)
    with rest(server, tls=(str(cert), str(key), None), max_connections=1, header_timeout=120) as bounded:
        with socket.create_connection(("127.0.0.1", bounded.port)):
            assert poll(lambda: bounded.open_connections() == 1)
            response = requests.get(f"https://localhost:{bounded.port}/v1/models/image", verify=str(cert), timeout=20)
            assert response.status_code == 503 and "too many" in response.json()["error"]


class _SlowBackend:
    """get_model_status of model "slow" waits for `release`; any other model answers at once."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def get_model_status(self, request, deadline=None):
        from tensorflow_serving.apis import get_model_status_pb2

        if request.model_spec.name == "slow":
            self.entered.set()
            assert self.release.wait(WAIT)
        return get_model_status_pb2.GetModelStatusResponse()


def test_stop_closes_idle_connections_at_once_and_lets_in_flight_requests_finish():
    backend = _SlowBackend()
    slow = RestServer(backend, host="127.0.0.1", port=0, limits=HttpLimits(idle_timeout=120)).start()
    idle = socket.create_connection(("127.0.0.1", slow.port), timeout=WAIT)
    busy = socket.create_connection(("127.0.0.1", slow.port), timeout=WAIT)
    try:
        idle.sendall(request_bytes("GET", "/v1/models/fast"))
        assert read_response(idle)[0] == 200  # now an idle keep-alive connection (for up to 120 s)
        busy.sendall(request_bytes("GET", "/v1/models/slow"))
        assert backend.entered.wait(WAIT)
        stopper = threading.Thread(target=slow.stop, args=(WAIT,))
        stopper.start()
        assert closed_by_server(idle)  # closed by stop, long before its idle timeout
        assert stopper.is_alive()      # still waiting for the in-flight request
        backend.release.set()
        status, headers, _ = read_response(busy)
        assert status == 200 and headers["connection"] == "close"
        stopper.join(WAIT)
        assert not stopper.is_alive() and slow.open_connections() == 0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", slow.port), timeout=5).close()
    finally:
        backend.release.set()
        idle.close()
        busy.close()
        slow.stop(grace=0)


def test_rest_flags_set_the_transport_limits(server):
    defaults = rest_limits(make_parser().parse_args([]))
    assert defaults == HttpLimits(read_timeout=30, header_timeout=10, idle_timeout=60, max_connections=256)
    flags = ["--rest_api_read_timeout_seconds=5", "--rest_api_header_timeout_seconds=2",
             "--rest_api_idle_timeout_seconds=1", "--rest_api_max_connections=7"]
    limits = rest_limits(make_parser().parse_args(flags))
    assert limits == HttpLimits(read_timeout=5, header_timeout=2, idle_timeout=1, max_connections=7)
    with pytest.raises(ValueError, match="idle_timeout must be a positive"):
        rest_limits(make_parser().parse_args(["--rest_api_idle_timeout_seconds=0"]))
    # what the command line does: the limits go to the RestServer that Server.start creates
    grpc_and_rest = Server(server.backend, host="127.0.0.1", port=0, rest_api_port=0, rest_api_limits=limits).start()
    try:
        with socket.create_connection(("127.0.0.1", grpc_and_rest.rest_port), timeout=WAIT) as sock:
            sock.sendall(request_bytes("GET", "/v1/models/image"))
            assert read_response(sock)[0] == 200
            assert closed_by_server(sock)  # idle_timeout=1 closed the keep-alive connection
    finally:
        grpc_and_rest.stop(grace=1)


# ------------------------------------------------------------------------------------------------
# framing: Content-Length, chunked, keep-alive, methods

BAD_CONTENT_LENGTHS = ["-5", "abc", "12.5", "-1", "", " ", "+5", "0x10", "1e3", "5 5", "5, 6", "٣"]


@pytest.mark.parametrize("value", BAD_CONTENT_LENGTHS)
def test_bad_content_length_answers_400(server, value):
    data = (b"POST /v1/models/image:predict HTTP/1.1\r\nHost: x\r\nContent-Length: " + value.encode("utf-8")
            + b"\r\n\r\n{}")
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=WAIT) as sock:
        sock.sendall(data)
        status, headers, body = read_response(sock)
        assert status == 400, (status, body)
        assert "Content-Length" in json.loads(body)["error"]
        assert_plain_error(body.decode())
        assert headers["connection"] == "close" and closed_by_server(sock)


@pytest.mark.parametrize("headers, status, words", [
    ({"Content-Length": "99999999999999999999999"}, 413, "exceeds the limit"),
    ({"Content-Length": str(1 << 40)}, 413, "exceeds the limit"),
    ({"Content-Length": ["2", "3"]}, 400, "Conflicting Content-Length"),
    ({"Content-Length": "2", "Transfer-Encoding": "chunked"}, 400, "both Content-Length and Transfer-Encoding"),
    ({"Transfer-Encoding": "gzip"}, 400, "Unsupported Transfer-Encoding"),
    ({"Transfer-Encoding": "chunked", "_body": b"zz\r\n{}\r\n0\r\n\r\n"}, 400, "invalid chunk size"),
    ({"Transfer-Encoding": "chunked", "_body": b"5\r\n{}\r\n0\r\n\r\n"}, 400, "chunk"),
])
def test_bad_framing_answers_4xx(server, headers, status, words):
    body = headers.pop("_body", b"{}")
    lines = [f"{k}: {v}" for k, values in headers.items() for v in (values if isinstance(values, list) else [values])]
    data = ("POST /v1/models/image:predict HTTP/1.1\r\nHost: x\r\n" + "".join(line + "\r\n" for line in lines)
            + "\r\n").encode() + body
    answer, _, text = exchange(server.rest_port, data)
    assert answer == status, text
    assert words in json.loads(text)["error"]


def test_expect_100_continue(server):
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=WAIT) as sock:
        sock.sendall(request_bytes(body=GOOD_BODY, headers={"Expect": "100-continue"})[:-len(GOOD_BODY)])
        assert sock.recv(25).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(GOOD_BODY)
        assert read_response(sock)[0] == 200
    too_big = request_bytes(headers={"Expect": "100-continue", "Content-Length": str(1 << 30)})
    status, _, body = exchange(server.rest_port, too_big)  # answered at once, no 100 Continue
    assert status == 413, body


def test_chunked_body_keep_alive_and_pipelining(server):
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/image:predict"
    chunks = (GOOD_BODY[i:i + 1000] for i in range(0, len(GOOD_BODY), 1000))
    assert requests.post(url, data=chunks, timeout=WAIT).status_code == 200  # requests sends a generator chunked
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=WAIT) as sock:
        sock.sendall(request_bytes(body=GOOD_BODY) + request_bytes("GET", "/v1/models/image")
                     + request_bytes(body=b"{bad json"))
        assert [read_response(sock)[0] for _ in range(3)] == [200, 200, 400]
        sock.sendall(request_bytes("GET", "/v1/models/image"))  # the connection is still good
        assert read_response(sock)[0] == 200


@pytest.mark.parametrize("line, status", [
    (b"PUT /v1/models/image HTTP/1.1", 400), (b"DELETE /v1/models/image HTTP/1.1", 400),
    (b"BREW /v1/models/image HTTP/1.1", 400), (b"GET /v1/models/image HTTP/2.0", 400),
    (b"GET /v1/models/image HTTP/1.x", 400), (b"GET /v1/models/image", 400), (b"GET", 400),
    (b"GET /v1/models/image HTTP/1.1 extra", 400), (b"\x00\xff\xfe garbage", 400),
])
def test_bad_request_lines_answer_400_not_5xx(server, line, status):
    answer, _, body = exchange(server.rest_port, line + b"\r\nHost: x\r\n\r\n")
    assert answer == status, body
    assert_plain_error(body.decode())


def test_head_request_gets_headers_only(server):
    status, headers, _ = exchange(server.rest_port, request_bytes("HEAD", "/v1/models/image"), head_only=True)
    assert status == 400 and int(headers["content-length"]) > 0


def test_oversized_headers_answer_431(server):
    status, _, body = exchange(server.rest_port, request_bytes("GET", "/v1/models/image", headers={"X-Big": "b" * 70000}))
    assert status == 431, body
    many = {f"X-H{i}": "v" for i in range(150)}
    assert exchange(server.rest_port, request_bytes("GET", "/v1/models/image", headers=many))[0] == 431


# ------------------------------------------------------------------------------------------------
# bad bodies: 400 in plain words

DEEP = "[" * 500 + "1" + "]" * 500
BAD_BODIES = [
    ("/v1/models/image:predict", '{"instances": ' + DEEP + "}", "nested deeper than"),
    ("/v1/models/image:predict", '{"instances": ' + "[" * 100000 + "]" * 100000 + "}", "nested deeper than"),
    ("/v1/models/image:predict", '{"instances": [' + "9" * 5000 + "]}", "Number too big"),
    ("/v1/models/image:predict", '{"instances": [' + "9" * 400 + "]}", "out of range"),
    ("/v1/models/image:predict", '{"inputs": {"input_layer": [-' + "9" * 400 + "]}}", "out of range"),
    ("/v1/models/image:predict", '{"signature_name": 5, "instances": [1]}', "'signature_name' key must be a string"),
    ("/v1/models/image:predict", '{"signature_name": [1], "instances": [1]}', "'signature_name' key must be a string"),
    ("/v1/models/image:predict", '{"signature_name": null, "instances": [1]}', "'signature_name' key must be a string"),
    ("/v1/models/image:predict", '{"instances": [1, {"a": 1}]}', "mixes named (objects) and unnamed"),
    ("/v1/models/image:predict", '{"instances": [{"a": 1}, 1]}', "mixes named (objects) and unnamed"),
    ("/v1/models/image:predict", '{"instances": [{"b64": null}]}', "not formatted correctly for base64"),
    ("/v1/models/image:predict", '{"instances": [{"b64": 7}]}', "not formatted correctly for base64"),
    ("/v1/models/image:predict", '{"signature_name": "serving_bytes", "instances": [-' + "9" * 30 + "]}",
     "is not of expected type: string"),
    ("/v1/models/image:predict", '{"signature_name": "serving_bytes", "instances": [-' + "9" * 300 + "]}",
     "is not of expected type: string"),
    ("/v1/models/image:predict", '{"signature_name": "serving_bytes", "inputs": [-9223372036854775809]}',
     "is not of expected type: string"),
    ("/v1/models/image:predict", '{"instances": [null]}', "Type: Null is not of expected type: float32"),
    ("/v1/models/image:predict", '{"instances": ["a"]}', "Type: String is not of expected type: float32"),
    ("/v1/models/image:predict", '{"inputs": {"input_layer": {"a": 1}}}', "Type: Object"),
    ("/v1/models/image:predict", '{"inputs": {"input_layer": [true]}}', "is not of expected type: float32"),
    ("/v1/models/image:predict", "[1]", "Is not object"),
    ("/v1/models/image:predict", '"text"', "Is not object"),
    ("/v1/models/image:predict", "", "The document is empty"),
    ("/v1/models/image:predict", b'{"instances": ["\xff\xfe"]}', "not UTF-8"),
    ("/v1/models/image/versions/99999999999999999999:predict", '{"instances": [1]}', "Failed to convert version"),
    ("/v1/models/image:classify", '{"signature_name": 5, "examples": [{"x": 1}]}', "'signature_name' key must be"),
    ("/v1/models/image:classify", '{"signature_name": "classify", "examples": [{"input_layer": [' + "9" * 400 + "]}]}",
     "out of range"),
    ("/v1/models/image:classify", '{"examples": [{"n": [1, -' + "9" * 30 + "]}]}", "beyond int64"),
    ("/v1/models/image:classify", '{"examples": [{"input_layer": null}]}', "unexpected JSON type: Null"),
    ("/v1/models/image:classify", '{"examples": [{"input_layer": [[1.0], 2]}]}', "unexpected JSON type: Array"),
    ("/v1/models/image:classify", '{"examples": [{"input_layer": {"a": 1}}]}', "unexpected JSON type: Object"),
    ("/v1/models/image:classify", '{"examples": [{"x": ["a", 1]}]}', "Unexpected element type in feature"),
    ("/v1/models/image:classify", '{"examples": [{"x": [{"b64": null}]}]}', "base64"),
    ("/v1/models/image:classify", '{"examples": [5]}', "must be a JSON object of features"),
    ("/v1/models/image:classify", '{"examples": [{"x": 1}], "context": [1]}', "context must be a JSON object"),
    ("/v1/models/reg:regress", '{"examples": [{"n": 18446744073709551615}]}', "Only int64 is supported"),
    ("/v1/models/reg:regress", '{"examples": "all"}', "'examples' must be a non-empty JSON list"),
]


@pytest.mark.parametrize("path, body, words", BAD_BODIES, ids=[f"{i}" for i in range(len(BAD_BODIES))])
def test_bad_bodies_answer_400_in_plain_words(server, path, body, words):
    response = requests.post(f"http://127.0.0.1:{server.rest_port}{path}", data=body, timeout=WAIT)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"], response.text
    assert_plain_error(response.text)


def test_bad_requests_are_not_logged_as_server_errors(server, caplog):
    caplog.set_level(logging.DEBUG, logger="serving")
    for path, body, _ in BAD_BODIES[:12]:
        requests.post(f"http://127.0.0.1:{server.rest_port}{path}", data=body, timeout=WAIT)
    exchange(server.rest_port, b"POST /v1/models/image:predict HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info], \
        [r.getMessage() for r in caplog.records]


class _BrokenBackend:
    def signatures(self, *args):
        raise RuntimeError("secret detail of a bug")

    def get_model_status(self, request, deadline=None):
        raise KeyError("another bug")


def test_a_server_bug_answers_500_without_details_and_logs_the_traceback(caplog):
    api = RestApi(_BrokenBackend())
    for method, path, body in [("POST", "/v1/models/m:predict", b'{"instances": [1]}'), ("GET", "/v1/models/m", b"")]:
        with caplog.at_level(logging.ERROR, logger="serving.rest"):
            status, payload, _ = api.handle(method, path, {}, body)
        assert status == 500
        assert json.loads(payload) == {"error": INTERNAL_ERROR}
        assert "secret" not in payload.decode() and "another bug" not in payload.decode()
        assert_plain_error(payload.decode())
    assert [r.exc_info is not None for r in caplog.records] == [True, True]


def test_echoed_text_is_bounded(server):
    base = f"http://127.0.0.1:{server.rest_port}"
    for response in [
        requests.get(f"{base}/v1/models/{'m' * 20000}", timeout=WAIT),
        requests.post(f"{base}/v1/models/image/labels/{'l' * 20000}:predict", data='{"instances": [1]}', timeout=WAIT),
        requests.post(f"{base}/v1/models/image/versions/{'9' * 20000}:predict", data="{}", timeout=WAIT),
        requests.get(f"{base}/v2/{'p' * 20000}", timeout=WAIT),
        requests.post(f"{base}/v1/models/image:predict", timeout=WAIT,
                      data=json.dumps({"signature_name": "s" * 20000, "instances": [1]})),
        requests.post(f"{base}/v1/models/image:predict", timeout=WAIT,
                      data=json.dumps({"instances": [{"k" * 20000: 1}, {"j" * 20000: 1}]})),
    ]:
        assert 400 <= response.status_code < 500, response.text[:300]
        assert len(response.json()["error"]) <= MAX_MESSAGE + 100, len(response.text)


def test_requests_to_unknown_models_add_no_metric_series(server):
    base = f"http://127.0.0.1:{server.rest_port}"
    for i in range(20):
        assert requests.get(f"{base}/v1/models/made-up-{i}", timeout=WAIT).status_code == 404
        assert requests.post(f"{base}/v1/models/made-up-{i}:predict", data="{}", timeout=WAIT).status_code == 404
    assert requests.post(f"{base}/v1/models/image:predict", data="[1]", timeout=WAIT).status_code == 400
    text = requests.get(f"{base}/monitoring/prometheus/metrics", timeout=WAIT).text
    assert "made-up" not in text
    assert 'request_count{model_name="image",version="",API="predict",entrypoint="REST",status="INVALID_ARGUMENT"}' \
        in text


# ------------------------------------------------------------------------------------------------
# fuzz

_SEEDS = [
    ("/v1/models/image:predict", {"instances": images(1).tolist()}),
    ("/v1/models/image:predict", {"inputs": {"input_layer": images(1, 1).tolist()}}),
    ("/v1/models/image:predict", {"signature_name": "serving_bytes", "instances": [{"b64": "iVBORw0KGgo="}]}),
    ("/v1/models/image:classify", {"signature_name": "classify", "examples": [{"input_layer": [0.5] * 1024}]}),
    ("/v1/models/reg:regress", {"signature_name": "regress", "examples": [{"input_layer": [0.5] * 64}],
                                "context": {"c": 1}}),
]
_POOL = [None, True, False, 0, -1, 5, 1.5, -(10 ** 30), 10 ** 19, float("nan"), "", "a", "serving_bytes", [], {}, [1],
         [[1, 2], [3]], {"b64": None}, {"b64": 5}, {"b64": "***"}, {"b64": "AA=="}, {"a": 1}, [1, {"a": 1}],
         [None], [[[[[[[[1]]]]]]]], {"input_layer": None}, ["x"] * 3]
_TOKENS = ["[", "]", "{", "}", '"', ",", ":", "null", "-", "9" * 400, "9" * 5000, '"b64"', "NaN", "-Infinity",
           "\\u0000", "\\ud800", "1e999", "[" * 300, "]" * 300, '"signature_name": 5,', "\x00", "\xff"]
_PATHS = ["/v1/models/image:predict", "/v1/models/image:classify", "/v1/models/reg:regress",
          "/v1/models/image/versions/1:predict", "/v1/models/image/labels/stable:predict", "/v1/models/image/metadata",
          "/v1/models/image", "/v1/models/reg/versions/1", "/monitoring/prometheus/metrics"]
_PATH_PARTS = ["image", "reg", "nope", "", "x" * 3000, "%00", "ü", "..", "1", "-1", "99999999999999999999", "1.5", "٣",
               ":predict", "::", "/versions/", "/labels/", "?a=b", "#", "//", "*", " "]
_VERSIONS = ["HTTP/1.1"] * 12 + ["HTTP/1.0", "HTTP/2.0", "HTTP/1.1.1", "HTTP/x", "", "http/1.1", "HTTP/01.01"]
_METHODS = ["POST"] * 10 + ["GET"] * 3 + ["PUT", "DELETE", "OPTIONS", "post", "BREW", "P\x00ST"]


def _mutate_json(rng, value):
    """`value` with one random node replaced by something from _POOL (or a deep copy of a sibling)."""
    if not isinstance(value, (dict, list)) or not value or rng.random() < 0.15:
        return rng.choice(_POOL)
    if isinstance(value, dict):
        key = rng.choice(list(value) + ["signature_name", "instances", "inputs", "context", "examples", "b64"])
        out = dict(value)
        out[key] = _mutate_json(rng, value.get(key))
        if rng.random() < 0.1:
            out.pop(rng.choice(list(out)), None)
        return out
    i = rng.randrange(len(value))
    out = list(value)
    out[i] = _mutate_json(rng, value[i])
    return out


def _mutate_text(rng, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        i, j = sorted(rng.randrange(len(text) + 1) for _ in range(2))
        op = rng.randrange(4)
        if op == 0:
            text = text[:i] + rng.choice(_TOKENS) + text[i:]
        elif op == 1:
            text = text[:i] + text[j:]
        elif op == 2:
            text = text[:j]
        else:
            text = text[:i] + text[i:j] * 2 + text[j:]
    return text


def _fuzz_case(rng):
    """One malformed (or occasionally valid) request: bytes, and whether the answer has no body (HEAD)."""
    path, seed = rng.choice(_SEEDS)
    r = rng.random()
    if r < 0.45:
        body = json.dumps(_mutate_json(rng, seed))
    elif r < 0.8:
        body = _mutate_text(rng, json.dumps(seed))
    else:
        body = json.dumps(seed)
    if rng.random() < 0.25:
        body = _mutate_text(rng, body) if rng.random() < 0.5 else body
    body = body.encode("utf-8", "surrogatepass")
    if rng.random() < 0.3:
        path = rng.choice(_PATHS)
    if rng.random() < 0.25:
        i = rng.randrange(len(path) + 1)
        path = path[:i] + rng.choice(_PATH_PARTS) + path[i + rng.randrange(3):]
    method, version = rng.choice(_METHODS), rng.choice(_VERSIONS)
    headers = {"Host": "127.0.0.1", "Content-Length": str(len(body))}
    r = rng.random()
    if r < 0.12:
        headers["Content-Length"] = rng.choice(BAD_CONTENT_LENGTHS + ["99999999999999999999", str(1 << 30)])
    elif r < 0.15:
        headers["Content-Length"] = str(len(body) + rng.randint(1, 50))  # more than is sent: read timeout, 408
    elif r < 0.2:
        headers["Content-Length"] = str(max(0, len(body) - rng.randint(1, 20)))  # less: the rest is the next "request"
    elif r < 0.26:
        del headers["Content-Length"]
        headers["Transfer-Encoding"] = rng.choice(["chunked", "chunked", "gzip", "chunked, chunked", "identity"])
        if rng.random() < 0.7:
            body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        else:
            body = b"%x\r\n%s\r\n" % (len(body) + rng.randint(-3, 3), body) + rng.choice([b"0\r\n\r\n", b"", b"zz\r\n"])
    elif r < 0.29:
        headers["Transfer-Encoding"] = "chunked"  # with Content-Length: refused (smuggling)
    r = rng.random()
    if r < 0.05:
        headers["X-Big"] = "b" * rng.choice([100, 70000])
    elif r < 0.08:
        headers.update({f"X-{i}": "v" for i in range(rng.choice([50, 120]))})
    elif r < 0.12:
        headers["Expect"] = "100-continue"
    elif r < 0.16:
        headers["Connection"] = rng.choice(["close", "keep-alive", "Upgrade", "\x00"])
    elif r < 0.18:
        headers["Authorization"] = "Bearer " + "t" * rng.choice([1, 10000])
    head = f"{method} {path} {version}".rstrip()
    lines = [head] + [f"{k}: {v}" for k, v in headers.items()]
    if rng.random() < 0.03:
        lines.insert(1, "a header line without a colon")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass") + body
    return data, method == "HEAD"


def test_fuzz_gets_no_5xx_and_no_hang(server, caplog):
    rng = random.Random(12)
    cases = [_fuzz_case(rng) for _ in range(300)]
    with rest(server, header_timeout=2, read_timeout=3, idle_timeout=2, max_connections=64) as fuzzed:

        def run(case):
            data, head_only = case
            try:
                status, _, body = exchange(fuzzed.port, data, timeout=WAIT, head_only=head_only)
            except socket.timeout:
                return "hang", data, b""
            return status, data, body

        with caplog.at_level(logging.WARNING, logger="serving"):
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                results = list(pool.map(run, cases))
        counts = collections.Counter(status for status, _, _ in results)
        print(f"\nfuzz: {len(cases)} requests, answers by status: {dict(sorted(counts.items(), key=str))}")
        failures = [(status, data[:200], body[:300]) for status, data, body in results
                    if status in ("hang", None) or status >= 500]
        assert not failures, failures
        leaks = [(data[:120], body[:300]) for status, data, body in results
                 if any(word.encode() in body for word in PYTHON_WORDS)]
        assert not leaks, leaks
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
        assert sum(counts[s] for s in counts if 400 <= s < 500) >= 200  # it did exercise the error paths
        response = requests.post(f"http://127.0.0.1:{fuzzed.port}/v1/models/image:predict", data=GOOD_BODY, timeout=WAIT)
        assert response.status_code == 200 and len(response.json()["predictions"]) == 1
        assert poll(lambda: fuzzed.open_connections() == 0)
