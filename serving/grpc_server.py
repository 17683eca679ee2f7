"""The gRPC transport: TensorFlow Serving's PredictionService and ModelService, health, reflection.

    manager = ModelManager(); manager.reload_config(config); manager.start(poll_wait_seconds=1)
    server = Server(ModelServer(manager, batcher=Batcher(options)), port=8500, rest_api_port=8501,
                    token="s3cret", tls_cert="cert.pem", tls_key="key.pem",
                    socket_path="/tmp/tf-serving.sock", channel_arguments={"grpc.max_connection_age_ms": 2000}).start()
    ...
    server.stop(grace=5)        # health NOT_SERVING, refuse new calls, finish in-flight ones, stop

`Server` is a grpc.server with the two servicers over a backend (serving.backend.ModelServer, or
the gateway), the grpc.health.v1 health service (one status per model: SERVING while a version is
available), server reflection, bearer-token auth (serving.auth), TLS, message size limits, client
deadlines (a call whose deadline passed is not run; batching drops it from the queue; the Session
run of a signature with a loop is stopped at it, a loop-free one, bounded by its input, finishes:
serving.servable), Prometheus metrics (serving.metrics), optionally a Unix domain socket beside the
TCP port (TF Serving's --grpc_socket_path), gRPC server arguments (--grpc_channel_arguments),
TensorFlow's profiler service (serving.profiler, as TF Serving has it on its gRPC port), and the
REST API (serving.rest) on a second port. The servicers only turn calls into backend calls
and backend errors into statuses: bad input never takes the server down, every failure becomes a
status on that call only.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tensorflow_serving.apis import (
    model_service_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2,
    prediction_service_pb2_grpc,
)

from tensorflow.profiler.experimental import Trace

from serving.backend import ModelServer
from serving.batching import Batcher
from serving import memory
from serving.errors import ServingError, bounded
from serving.metrics import ServingMetrics

__all__ = ["Server", "ModelServer", "serve", "models_dir_config", "parse_channel_arguments"]

log = logging.getLogger(__name__)

PREDICTION_SERVICE = prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name
MODEL_SERVICE = model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name


def parse_channel_arguments(text: str) -> dict:
    """TF Serving's --grpc_channel_arguments "k=v,k2=v2" -> {k: int or str} (the last of a repeated key wins)."""
    out = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--grpc_channel_arguments: expected key=value, got {item!r}")
        value = value.strip()
        try:
            out[key.strip()] = int(value)
        except ValueError:
            out[key.strip()] = value
    return out


# ------------------------------------------------------------------------------------------------
# gRPC servicers
# ------------------------------------------------------------------------------------------------


NO_DEADLINE_SECONDS = 365 * 24 * 3600.0  # a "deadline" further than this is none (see deadline_of)


def deadline_of(context) -> float | None:
    """The call's deadline as a `time.monotonic()` time, or None when the client set none: grpcio
    then reports the time to gRPC's infinite future (~3e11 s), which no timeout may be given."""
    remaining = context.time_remaining()
    if remaining is None or remaining > NO_DEADLINE_SECONDS:
        return None
    return time.monotonic() + remaining


def _version_of(response) -> str | None:
    spec = getattr(response, "model_spec", None)
    if spec is not None and spec.HasField("version"):
        return str(spec.version.value)
    return None


class _Handler:
    """Runs one call against the backend: deadline, error mapping, metrics."""

    def __init__(self, backend, metrics: ServingMetrics | None, entrypoint: str = "GRPC"):
        self.backend = backend
        self.metrics = metrics
        self.entrypoint = entrypoint

    def __call__(self, api: str, model: str, fn, request, context):
        start = time.perf_counter()
        code, version = grpc.StatusCode.OK, None
        try:
            with Trace(f"serving.{api}"):  # one event per request in a profile (serving.profiler)
                response = fn(request, deadline_of(context))
            version = _version_of(response)
            return response
        except ServingError as exc:
            code = exc.code
            context.abort(exc.code, bounded(exc.message))
        except Exception:  # noqa: BLE001 - a bug: INTERNAL, the traceback in the log, the server goes on
            code = grpc.StatusCode.INTERNAL
            log.exception("%s failed", api)
            context.abort(code, f"internal error while answering {api} (the server's log has the details)")
        finally:
            if self.metrics is not None:
                self.metrics.record_request(model, version, api, self.entrypoint, code, time.perf_counter() - start)


def _model_of(request) -> str:
    if hasattr(request, "model_spec"):
        return request.model_spec.name
    if getattr(request, "tasks", None):
        return request.tasks[0].model_spec.name
    return ""


class _Servicer:
    def __init__(self, handler: _Handler):
        self.h = handler

    def _handle(self, api: str, request, context, model: str | None = None):
        """Answer `request` with the backend's method named `api`, through the handler; `model` (for
        the metrics) defaults to the request's."""
        model = _model_of(request) if model is None else model
        try:
            return self.h(api, model, getattr(self.h.backend, api), request, context)
        finally:
            memory.after_request(request.ByteSize())


class PredictionServicer(_Servicer, prediction_service_pb2_grpc.PredictionServiceServicer):
    def Predict(self, request, context):
        return self._handle("predict", request, context)

    def Classify(self, request, context):
        return self._handle("classify", request, context)

    def Regress(self, request, context):
        return self._handle("regress", request, context)

    def MultiInference(self, request, context):
        return self._handle("multi_inference", request, context)

    def GetModelMetadata(self, request, context):
        return self._handle("get_model_metadata", request, context)


class ModelServicer(_Servicer, model_service_pb2_grpc.ModelServiceServicer):
    def GetModelStatus(self, request, context):
        return self._handle("get_model_status", request, context)

    def HandleReloadConfigRequest(self, request, context):
        return self._handle("reload_config", request, context, model="")


# ------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------


def _read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class Server:
    """gRPC (and optionally REST) server over a backend; see the module docstring.

    Args:
        backend: a `ModelServer` or a `serving.gateway.Gateway`.
        port: gRPC port (0: any free port, see `.port` after `start`); host: address to bind.
        rest_api_port: REST port (None: no REST API; 0: any free port, see `.rest_port`).
        metrics: shared `ServingMetrics` (created when None); exposed at `monitoring_path` on REST.
        auth: a `serving.auth.TokenAuth` (None or empty: no auth).
        tls_cert, tls_key: PEM files for TLS on both ports; tls_client_ca: require client certificates.
        max_message_size: gRPC send / receive limit in bytes (bigger requests: RESOURCE_EXHAUSTED).
        max_threads: gRPC worker threads (a batch forms from the requests waiting in them).
        rest_api_timeout_in_ms: deadline of REST requests.
        rest_api_limits: serving.http_transport.HttpLimits of the REST port (None: its defaults).
        manager: when given, health statuses follow its models (set by `serve`).
    """

    def __init__(self, backend, port: int = 8500, host: str = "0.0.0.0", rest_api_port: int | None = None,
                 metrics: ServingMetrics | None = None, auth=None, tls_cert: str | None = None,
                 tls_key: str | None = None, tls_client_ca: str | None = None, max_message_size: int = 64 << 20,
                 max_threads: int = 64, rest_api_timeout_in_ms: int = 30000,
                 monitoring_path: str | None = "/monitoring/prometheus/metrics", manager=None, on_stop=(),
                 socket_path: str | None = None, channel_arguments: dict | None = None, rest_api_limits=None):
        from serving.auth import AuthInterceptor, TokenAuth

        self.backend = backend
        self.host = host
        self.metrics = metrics if metrics is not None else ServingMetrics()
        self.metrics.set_known_models(backend.model_names)
        self.auth = auth if auth is not None else TokenAuth()
        self.tls = (tls_cert, tls_key, tls_client_ca) if tls_cert else None
        if bool(tls_cert) != bool(tls_key):
            raise ValueError("TLS needs both a certificate (--ssl_cert_file) and its key (--ssl_key_file)")
        self.max_message_size = int(max_message_size)
        self.rest_api_port = rest_api_port
        self.rest_api_timeout = rest_api_timeout_in_ms / 1000.0
        self.rest_api_limits = rest_api_limits
        self.monitoring_path = monitoring_path
        self.manager = manager
        self._on_stop = list(on_stop)
        self._stopped = threading.Event()
        self._rest = None
        options = {
            "grpc.max_send_message_length": self.max_message_size,
            "grpc.max_receive_message_length": self.max_message_size,
            "grpc.so_reuseport": 0,
            **(channel_arguments or {}),  # --grpc_channel_arguments win, as in TF Serving
        }
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="grpc"),
            interceptors=[AuthInterceptor(self.auth)] if self.auth.enabled else [],
            options=list(options.items()),
        )
        handler = _Handler(backend, self.metrics, "GRPC")
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(handler), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(handler), self._grpc)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._grpc)
        from serving.profiler import ProfilerProxy

        self._profiler = ProfilerProxy()
        self._grpc.add_generic_rpc_handlers([self._profiler])
        self._on_stop.append(self._profiler.close)
        reflection.enable_server_reflection(
            (PREDICTION_SERVICE, MODEL_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), self._grpc
        )
        address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        if self.tls:
            cert, key, ca = self.tls
            credentials = grpc.ssl_server_credentials(
                [(_read(key), _read(cert))], root_certificates=_read(ca) if ca else None, require_client_auth=bool(ca)
            )
            self.port = self._bind(lambda a: self._grpc.add_secure_port(a, credentials), address, "port")
        else:
            self.port = self._bind(self._grpc.add_insecure_port, address, "port")
        self.socket_path = socket_path or None
        if self.socket_path:  # as TF Serving: plaintext, beside the TCP port
            self._bind(self._grpc.add_insecure_port, f"unix:{self.socket_path}", "socket")
        self.rest_port = None

    @staticmethod
    def _bind(add_port, address: str, what: str) -> int:
        try:
            port = add_port(address)
        except RuntimeError:  # grpcio raises when the address is taken
            port = 0
        if port == 0:
            raise OSError(f"cannot bind the gRPC {what} {address}: is another server using it?")
        return port

    # -- health ----------------------------------------------------------------------------

    def _update_health(self, *_):
        if self._stopped.is_set():
            return
        names = set()
        try:
            names = set(self.backend.model_names())
        except Exception:  # noqa: BLE001 - an unreachable upstream makes nothing SERVING
            log.debug("model names unavailable", exc_info=True)
        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        for name in getattr(self, "_health_names", set()) - names:  # removed by a config reload
            self.health.set(name, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        self._health_names = names
        for name in names:
            available = True
            if self.manager is not None:
                try:
                    available = bool(self.manager.available_versions(name))
                except Exception:  # noqa: BLE001
                    available = False
            self.health.set(name, serving if available else not_serving)

    def start(self) -> "Server":
        serving = health_pb2.HealthCheckResponse.SERVING
        for service in ("", PREDICTION_SERVICE, MODEL_SERVICE):
            self.health.set(service, serving)
        if self.manager is not None:
            self.manager.add_listener(self._on_state)
            for name in self.manager.model_names():  # the states reached before start
                try:
                    for status in self.manager.status(name):
                        self.metrics.set_model_state(name, status.version, status.state)
                except ServingError:
                    pass
        self._update_health()
        self._grpc.start()
        if self.rest_api_port is not None:
            from serving.rest import RestServer

            self._rest = RestServer(
                self.backend, host=self.host, port=self.rest_api_port, metrics=self.metrics, auth=self.auth,
                timeout=self.rest_api_timeout, monitoring_path=self.monitoring_path,
                tls=self.tls, max_body_size=self.max_message_size, limits=self.rest_api_limits,
            ).start()
            self.rest_port = self._rest.port
        log.info("serving gRPC on %s:%s%s", self.host, self.port,
                 f", REST on {self.host}:{self.rest_port}" if self._rest else "")
        return self

    def _on_state(self, name, version, state):
        self.metrics.set_model_state(name, version, state)
        self._update_health()

    def stop(self, grace: float = 5.0) -> None:
        """Graceful: health NOT_SERVING, no new calls, in-flight calls get `grace` seconds, then stop."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        if self._rest is not None:
            self._rest.stop(grace)
        self._grpc.stop(grace).wait()
        for fn in self._on_stop:
            try:
                fn()
            except Exception:  # noqa: BLE001
                log.exception("shutdown step failed")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until `stop` (True) or `timeout` seconds pass (False)."""
        return self._stopped.wait(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def serve(model_config=None, *, models_dir=None, port: int = 8500, rest_api_port: int | None = 8501,
          batching=None, file_system_poll_wait_seconds: float = 1.0, wait_for_models: float = 0.0,
          **server_kwargs) -> Server:
    """Start a server for a model config (ModelServerConfig, its text, or None with `models_dir`).

    `models_dir`: serve each sub-folder (`models_dir/<name>/<version>/saved_model.pb`) as model <name>.
    `batching`: None (off), True (TF Serving's defaults) or a serving.config.BatchingOptions.
    `wait_for_models`: seconds to wait for every model to have a version AVAILABLE.
    Returns the started Server; `server.stop()` also stops the batcher and the manager.
    """
    from serving import config as config_lib
    from serving.manager import ModelManager

    if model_config is None:
        if models_dir is None:
            raise ValueError("give a model config or a models_dir")
        model_config = models_dir_config(models_dir)
    elif isinstance(model_config, str):
        model_config = config_lib.parse_model_config(model_config)
    metrics = server_kwargs.pop("metrics", None) or ServingMetrics()
    batcher = None
    if batching:
        options = config_lib.batching_options(None) if batching is True else batching
        batcher = Batcher(options, on_batch=lambda labels, size, wait: metrics.record_batch(*labels, size, wait))
    manager = ModelManager()
    server = Server(ModelServer(manager, batcher, metrics), port=port, rest_api_port=rest_api_port, metrics=metrics,
                    manager=manager, **server_kwargs)
    manager.reload_config(model_config)
    manager.start(poll_wait_seconds=file_system_poll_wait_seconds)
    server._on_stop += [batcher.stop] if batcher else []
    server._on_stop.append(manager.stop)
    if wait_for_models:
        for entry in model_config.model_config_list.config:
            manager.wait_until_available(entry.name, timeout=wait_for_models)
    return server.start()


def models_dir_config(models_dir):
    """A ModelServerConfig serving every sub-folder of `models_dir` as a model of that name."""
    import os

    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    root = os.path.abspath(os.fspath(models_dir))
    if not os.path.isdir(root):
        raise ValueError(f"models folder {root} does not exist")
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isdir(path) and not name.startswith("."):
            config.model_config_list.config.add(name=name, base_path=path, model_platform="tensorflow")
    if not config.model_config_list.config:
        raise ValueError(f"models folder {root} has no model sub-folders (expected {root}/<name>/<version>/)")
    return config
