"""The gRPC server: TensorFlow Serving's PredictionService and ModelService, health, reflection.

    manager = ModelManager(); manager.reload_config(config); manager.start(poll_wait_seconds=1)
    server = Server(ModelServer(manager, batcher=Batcher(options)), port=8500, rest_api_port=8501,
                    token="s3cret", tls_cert="cert.pem", tls_key="key.pem").start()
    ...
    server.stop(grace=5)        # health NOT_SERVING, refuse new calls, finish in-flight ones, stop

Two layers:
- `ModelServer`, the in-process backend: TF Serving's request protos in, response protos out,
  `ServingError` (gRPC code + TF Serving's message) out on failure. It looks the servable up in the
  `ModelManager`, holds it for the duration of the call (so an unload waits for it), runs Predict,
  Classify and Regress through the `Batcher` when batching is on and the signature is batchable
  (requests share a batch only with requests to the same signature), and echoes the effective
  model_spec (name, the version served - also for a request by label - and the signature name).
  The gateway (serving.gateway.Gateway) has the same methods and forwards to an upstream instead.
- `Server`: a grpc.server with the two servicers over a backend, the grpc.health.v1 health service
  (one status per model: SERVING while a version is available), server reflection, bearer-token
  auth (serving.auth), TLS, message size limits, client deadlines (a call whose deadline passed is
  not run; batching drops it from the queue), Prometheus metrics (serving.metrics), and optionally
  the REST API (serving.rest) on a second port. Bad input never takes the server down: every
  failure becomes a status on that call only.

Backend interface (ModelServer and Gateway): predict, classify, regress, multi_inference,
get_model_metadata, get_model_status, reload_config - each `(request, deadline=None) -> response`
with `deadline` a `time.monotonic()` time or None - plus `signatures(name, version, label) ->
{signature name: serving.client.Signature}` for the REST layer, and `model_names()`.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures

import grpc
import numpy as np
from google.protobuf import any_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving import errors
from serving.batching import Batcher, batchable
from serving.client import Signature, to_ndarray, to_tensor_proto
from serving.errors import ServingError
from serving.metrics import ServingMetrics

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
PREDICTION_SERVICE = prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name
MODEL_SERVICE = model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name


def check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise errors.deadline_exceeded("Deadline exceeded before the request was run")


def _spec_args(spec):
    """(name, version or None, label or None) of a ModelSpec; INVALID_ARGUMENT when malformed."""
    if not spec.name:
        raise errors.invalid_argument("Missing ModelSpec name")
    version = spec.version.value if spec.HasField("version") else None
    label = spec.version_label or None
    if version is not None and label is not None:
        raise errors.invalid_argument("ModelSpec cannot set both version and version_label")
    return spec.name, version, label


def _request_spec(request):
    """`_spec_args` of the request's ModelSpec; INVALID_ARGUMENT when it has none."""
    if not request.HasField("model_spec"):
        raise errors.invalid_argument("Missing ModelSpec")
    return _spec_args(request.model_spec)


def _echo(out_spec, in_spec, servable, signature_name: str | None):
    out_spec.name = servable.name
    out_spec.version.value = int(servable.version)  # version and version_label are a oneof: the version wins
    if signature_name is not None:
        out_spec.signature_name = signature_name


def _decode_inputs(request) -> dict:
    inputs = {}
    for name, proto in request.inputs.items():
        try:
            inputs[name] = to_ndarray(proto)
        except (ValueError, KeyError) as exc:
            raise errors.invalid_argument(f"input '{name}': {exc}") from None
    return inputs


def _code_number(code: grpc.StatusCode) -> int:
    return code.value[0]


class ModelServer:
    """TF Serving's API over a `serving.manager.ModelManager` (see the module docstring).

    Args:
        manager: the model repository.
        batcher: a `serving.batching.Batcher`, or None for no server-side batching.
        metrics: a `ServingMetrics` for batch sizes (requests are counted by the servers).
    """

    def __init__(self, manager, batcher: Batcher | None = None, metrics: ServingMetrics | None = None):
        self.manager = manager
        self.batcher = batcher
        self.metrics = metrics

    def model_names(self) -> list:
        return self.manager.model_names()

    # -- PredictionService -----------------------------------------------------------------

    def _runner(self, servable, deadline):
        """`servable.run` for one request: through the batcher when batching is on and the signature
        is batchable (Predict, Classify and Regress alike, as TF Serving batches the session run
        under all three), directly otherwise. Returns run(signature_name, inputs, output_filter=())."""

        def run(signature_name, inputs, output_filter=()):
            output_filter = tuple(output_filter or ())
            signature = servable.signature(signature_name)
            if self.batcher is None or not inputs or not batchable(signature):
                check_deadline(deadline)
                return servable.run(signature_name, inputs, output_filter=output_filter)
            servable.validate(signature_name, inputs)  # errors name this request's own shapes
            return self.batcher.run(
                (id(servable), signature.name, output_filter),
                lambda batch: servable.run(signature.name, batch, output_filter=output_filter),
                inputs, deadline, labels=(servable.name, servable.version, signature.name),
            )

        return run

    def predict(self, request: predict_pb2.PredictRequest, deadline=None) -> predict_pb2.PredictResponse:
        name, version, label = _request_spec(request)
        check_deadline(deadline)
        inputs = _decode_inputs(request)
        with self.manager.acquire(name, version, label) as servable:
            signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
            outputs = self._runner(servable, deadline)(signature_name, inputs, request.output_filter)
            response = predict_pb2.PredictResponse()
            _echo(response.model_spec, request.model_spec, servable, signature_name)
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(to_tensor_proto(value))
        return response

    def _classification_result(self, servable, signature_name, input_proto, result, deadline=None):
        classes, scores = servable.classify(signature_name, input_proto, run=self._runner(servable, deadline))
        rows = len(scores) if scores is not None else len(classes)
        for i in range(rows):
            entry = result.classifications.add()
            width = (np.shape(scores)[1] if scores is not None else np.shape(classes)[1]) if rows else 0
            for j in range(width):
                label = classes[i][j] if classes is not None else b""
                entry.classes.add(
                    label=label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label),
                    score=float(scores[i][j]) if scores is not None else 0.0,
                )

    def classify(self, request, deadline=None) -> classification_pb2.ClassificationResponse:
        name, version, label = _request_spec(request)
        check_deadline(deadline)
        with self.manager.acquire(name, version, label) as servable:
            signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
            response = classification_pb2.ClassificationResponse()
            self._classification_result(servable, signature_name, request.input, response.result, deadline)
            _echo(response.model_spec, request.model_spec, servable, signature_name)
        return response

    def regress(self, request, deadline=None) -> regression_pb2.RegressionResponse:
        name, version, label = _request_spec(request)
        check_deadline(deadline)
        with self.manager.acquire(name, version, label) as servable:
            signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
            values = servable.regress(signature_name, request.input, run=self._runner(servable, deadline))
            response = regression_pb2.RegressionResponse()
            response.result.regressions.extend(regression_pb2.Regression(value=float(v)) for v in np.reshape(values, -1))
            _echo(response.model_spec, request.model_spec, servable, signature_name)
        return response

    def multi_inference(self, request, deadline=None) -> inference_pb2.MultiInferenceResponse:
        """TF Serving's MultiInference: classify / regress tasks of one model over one Input."""
        if not request.tasks:
            raise errors.invalid_argument("MultiInferenceRequest must specify at least one task.")
        names = {task.model_spec.name for task in request.tasks}
        if len(names) != 1:
            raise errors.invalid_argument("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
        seen = set()
        for task in request.tasks:
            if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
                raise errors.unimplemented(f"Unsupported signature method_name: {task.method_name}")
            signature_name = task.model_spec.signature_name or DEFAULT_SIGNATURE
            if signature_name in seen:
                raise errors.invalid_argument(f"Duplicate evaluation of signature: {signature_name}")
            seen.add(signature_name)
        name, version, label = _spec_args(request.tasks[0].model_spec)
        check_deadline(deadline)
        response = inference_pb2.MultiInferenceResponse()
        with self.manager.acquire(name, version, label) as servable:
            for task in request.tasks:
                signature_name = task.model_spec.signature_name or DEFAULT_SIGNATURE
                result = response.results.add()
                if task.method_name == CLASSIFY_METHOD:
                    self._classification_result(servable, signature_name, request.input,
                                                result.classification_result, deadline)
                else:
                    values = servable.regress(signature_name, request.input, run=self._runner(servable, deadline))
                    result.regression_result.regressions.extend(
                        regression_pb2.Regression(value=float(v)) for v in np.reshape(values, -1))
                _echo(result.model_spec, task.model_spec, servable, signature_name)
        return response

    def get_model_metadata(self, request, deadline=None) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not request.HasField("model_spec"):
            raise errors.invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise errors.invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != "signature_def":
                raise errors.invalid_argument(f"Metadata field {field} is not supported")
        name, version, label = _spec_args(request.model_spec)
        with self.manager.acquire(name, version, label) as servable:
            sig_map = get_model_metadata_pb2.SignatureDefMap()
            for key, value in servable.signature_def_map().items():
                sig_map.signature_def[key].CopyFrom(value)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            _echo(response.model_spec, request.model_spec, servable, None)
        packed = any_pb2.Any()
        packed.Pack(sig_map)
        response.metadata["signature_def"].CopyFrom(packed)
        return response

    def signatures(self, name: str, version=None, label=None) -> dict:
        """{signature name: serving.client.Signature} of the version a request would get."""
        with self.manager.acquire(name, version, label) as servable:
            return {k: Signature.from_proto(k, v) for k, v in servable.signature_def_map().items()}

    # -- ModelService ----------------------------------------------------------------------

    def get_model_status(self, request, deadline=None) -> get_model_status_pb2.GetModelStatusResponse:
        name, version, label = _request_spec(request)
        if label is not None:
            labels = self.manager.labels(name)
            if label not in labels:
                raise errors.unknown_label(label)
            version = labels[label]
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in self.manager.status(name, version):
            entry = response.model_version_status.add(version=int(status.version), state=int(status.state))
            entry.status.SetInParent()  # error_code OK, printed as TF Serving prints it
            if status.error is not None:
                entry.status.error_code = _code_number(status.error.code)
                entry.status.error_message = status.error.message
        return response

    def reload_config(self, request, deadline=None) -> model_management_pb2.ReloadConfigResponse:
        config = request.config
        if config.HasField("custom_model_config"):
            raise errors.invalid_argument("ServerCore only supports model_config_list, not custom_model_config")
        try:
            self.manager.reload_config(config)
        except ValueError as exc:
            raise errors.invalid_argument(str(exc)) from None
        return model_management_pb2.ReloadConfigResponse()


# ------------------------------------------------------------------------------------------------
# gRPC servicers
# ------------------------------------------------------------------------------------------------


def deadline_of(context) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


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
            response = fn(request, deadline_of(context))
            version = _version_of(response)
            return response
        except ServingError as exc:
            code = exc.code
            context.abort(exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - a bug answers INTERNAL, the server goes on
            code = grpc.StatusCode.INTERNAL
            log.exception("%s failed", api)
            context.abort(code, f"{type(exc).__name__}: {exc}")
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
        return self.h(api, model, getattr(self.h.backend, api), request, context)


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
        manager: when given, health statuses follow its models (set by `serve`).
    """

    def __init__(self, backend, port: int = 8500, host: str = "0.0.0.0", rest_api_port: int | None = None,
                 metrics: ServingMetrics | None = None, auth=None, tls_cert: str | None = None,
                 tls_key: str | None = None, tls_client_ca: str | None = None, max_message_size: int = 64 << 20,
                 max_threads: int = 64, rest_api_timeout_in_ms: int = 30000,
                 monitoring_path: str | None = "/monitoring/prometheus/metrics", manager=None, on_stop=()):
        from serving.auth import AuthInterceptor, TokenAuth

        self.backend = backend
        self.host = host
        self.metrics = metrics if metrics is not None else ServingMetrics()
        self.auth = auth if auth is not None else TokenAuth()
        self.tls = (tls_cert, tls_key, tls_client_ca) if tls_cert else None
        if bool(tls_cert) != bool(tls_key):
            raise ValueError("TLS needs both a certificate (--ssl_cert_file) and its key (--ssl_key_file)")
        self.max_message_size = int(max_message_size)
        self.rest_api_port = rest_api_port
        self.rest_api_timeout = rest_api_timeout_in_ms / 1000.0
        self.monitoring_path = monitoring_path
        self.manager = manager
        self._on_stop = list(on_stop)
        self._stopped = threading.Event()
        self._rest = None
        options = [
            ("grpc.max_send_message_length", self.max_message_size),
            ("grpc.max_receive_message_length", self.max_message_size),
            ("grpc.so_reuseport", 0),
        ]
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="grpc"),
            interceptors=[AuthInterceptor(self.auth)] if self.auth.enabled else [],
            options=options,
        )
        handler = _Handler(backend, self.metrics, "GRPC")
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(handler), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(handler), self._grpc)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._grpc)
        reflection.enable_server_reflection(
            (PREDICTION_SERVICE, MODEL_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), self._grpc
        )
        address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        if self.tls:
            cert, key, ca = self.tls
            credentials = grpc.ssl_server_credentials(
                [(_read(key), _read(cert))], root_certificates=_read(ca) if ca else None, require_client_auth=bool(ca)
            )
            self.port = self._grpc.add_secure_port(address, credentials)
        else:
            self.port = self._grpc.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot bind the gRPC port {address}")
        self.rest_port = None

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
                tls=self.tls, max_body_size=self.max_message_size,
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
