"""TensorFlow's profiler service on the server's gRPC port, as tensorflow_model_server has it.

    server.add_generic_rpc_handlers([ProfilerProxy()])

TensorBoard's "Capture profile" and `tf.profiler.experimental.client.trace("localhost:8500", ...)`
call `/tensorflow.ProfilerService/*` on the model server's own port. TensorFlow's Python API can
only start its profiler server on a port of its own (`tf.profiler.experimental.server.start`), so
this handler starts one on a free loopback port the first time a profiler call arrives and
forwards the calls' bytes to it unchanged. The profile is of this process: the model server, with
one "serving.<api>" event per request (serving.grpc_server) and the TensorFlow ops it ran. While a
trace is being taken, a "serving.idle" event marks every 100 ms, so a trace of an idle server is a
trace of an idle server rather than an error ("no trace event was collected").
"""

from __future__ import annotations

import logging
import socket
import threading

import grpc

__all__ = ["ProfilerProxy", "PROFILER_SERVICE"]

PROFILER_SERVICE = "tensorflow.ProfilerService"
log = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _heartbeat(done: threading.Event, period: float = 0.1) -> None:
    import tensorflow as tf

    while not done.wait(period):
        with tf.profiler.experimental.Trace("serving.idle"):
            pass


class ProfilerProxy(grpc.GenericRpcHandler):
    """Answers every unary method of tensorflow.ProfilerService by forwarding it (see the module doc)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._channel = None

    def _upstream(self) -> grpc.Channel:
        with self._lock:
            if self._channel is None:
                import tensorflow as tf

                port = _free_port()
                tf.profiler.experimental.server.start(port)
                log.info("profiler service started (forwarded from the gRPC port)")
                self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            return self._channel

    def service(self, handler_call_details):
        method = handler_call_details.method
        if not method.startswith(f"/{PROFILER_SERVICE}/"):
            return None

        def forward(request: bytes, context):
            call = self._upstream().unary_unary(method)
            done = threading.Event()
            threading.Thread(target=_heartbeat, args=(done,), name="profiler-heartbeat", daemon=True).start()
            try:
                return call(request, timeout=context.time_remaining())
            except grpc.RpcError as error:
                context.abort(error.code(), error.details() or "profiler call failed")
            finally:
                done.set()

        return grpc.unary_unary_rpc_method_handler(forward)

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
