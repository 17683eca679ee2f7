"""TensorFlow Serving's REST API (JSON) over the same backend as the gRPC server.

Routes (as TF Serving's http_rest_api_handler):

    GET  /v1/models/NAME[/versions/N | /labels/L]              -> model status
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata     -> {"model_spec", "metadata": {"signature_def"}}
    POST /v1/models/NAME[/versions/N | /labels/L]:predict      -> {"predictions": ...} | {"outputs": ...}
    POST /v1/models/NAME[/versions/N | /labels/L]:classify     -> {"results": [[[label, score], ...], ...]}
    POST /v1/models/NAME[/versions/N | /labels/L]:regress      -> {"results": [value, ...]}
    GET  /monitoring/prometheus/metrics                        -> Prometheus text (path configurable)

Predict bodies: {"signature_name": "...", "instances": [...]} (row format: one entry per example,
a dict of named inputs or a bare value for a single-input signature; the answer is "predictions", a
list of per-example values, or of dicts when there are several outputs) or {"inputs": ...}
(columnar: a dict of named batched tensors or one tensor; the answer is "outputs"). Binary values are
{"b64": "<base64>"}; string outputs whose name ends in "_bytes" are returned that way too. JSON numbers
are converted to the signature's dtypes. On top of TF Serving, the input adapters of serving.client
apply: raw image bytes sent to an image model's serving_default go to its image-bytes signature,
variable-length sequences are padded (with mask / lengths), a list of graphs is batched.
Classify / regress bodies: {"signature_name", "context": {...}, "examples": [{feature: value}, ...]}.

Errors answer {"error": "<message>"} with TF Serving's HTTP status for the gRPC code (INVALID_ARGUMENT
and FAILED_PRECONDITION 400, NOT_FOUND 404, UNAUTHENTICATED 401, DEADLINE_EXCEEDED 504, ...).

    rest = RestServer(backend, port=8501, metrics=metrics, auth=auth, timeout=30).start()
    rest.port; rest.stop()

The codec functions (`parse_predict_body`, `format_predict_outputs`, `parse_examples`,
`status_to_json`, `metadata_to_json`) are plain functions, tested without a server.
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import re
import socketserver
import ssl
import threading
import time

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
    regression_pb2,
)

from serving import errors
from serving.client import adapt_inputs, make_example
from serving.tensor_codec import to_ndarray, to_tensor_proto
from serving.errors import ServingError

log = logging.getLogger(__name__)

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

ROUTE = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress))?/?$"
)


# ------------------------------------------------------------------------------------------------
# JSON codec
# ------------------------------------------------------------------------------------------------


def _unb64(value):
    """Replace {"b64": "..."} objects (at any depth) by bytes."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (ValueError, TypeError) as exc:
                raise errors.invalid_argument(f"Unable to base64 decode: {exc}") from None
        return {k: _unb64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unb64(v) for v in value]
    return value


def parse_predict_body(body: dict, signature) -> tuple[dict, str]:
    """A predict JSON body -> ({input name: value (lists, bytes)}, "row" | "columnar").

    `signature`: serving.client.Signature (its input names resolve a bare value). Values are still
    Python lists here; `adapt_inputs` makes tensors of them.
    """
    if not isinstance(body, dict):
        raise errors.invalid_argument("JSON Value: expected an object with 'instances' or 'inputs'")
    has_instances, has_inputs = "instances" in body, "inputs" in body
    if has_instances == has_inputs:
        raise errors.invalid_argument(
            "Missing 'inputs' or 'instances' key" if not has_instances else "Not allowed to use both 'inputs' and 'instances'"
        )
    names = list(signature.inputs) if signature is not None else []
    if has_instances:
        instances = _unb64(body["instances"])
        if not isinstance(instances, list) or not instances:
            raise errors.invalid_argument("'instances' must be a non-empty JSON list")
        if all(isinstance(i, dict) for i in instances) and not _looks_like_graphs(instances, signature):
            keys = set(instances[0])
            for n, instance in enumerate(instances):
                if set(instance) != keys:
                    raise errors.invalid_argument(
                        f"Failed to process element: {n} of 'instances' list. JSON object: has keys "
                        f"{sorted(instance)}, expected the same keys as element 0: {sorted(keys)}"
                    )
            return {k: [i[k] for i in instances] for k in instances[0]}, "row"
        if any(isinstance(i, dict) for i in instances) and not _looks_like_graphs(instances, signature):
            raise errors.invalid_argument("'instances' mixes named (objects) and unnamed elements")
        return {"": instances}, "row"
    inputs = _unb64(body["inputs"])
    if isinstance(inputs, dict):
        return dict(inputs), "columnar"
    return {"": inputs}, "columnar"


def _looks_like_graphs(instances, signature) -> bool:
    return all("node_features" in i and "edge_index" in i for i in instances) and (
        signature is None or "node_graph_ids" in signature.inputs or "node_features" in signature.inputs
    )


def to_arrays(raw: dict, signature) -> dict:
    """Parsed inputs -> {name: numpy array} through the input adapters (bare "" values: the main input)."""
    try:
        if set(raw) == {""}:
            return adapt_inputs(raw[""], signature)
        return adapt_inputs(raw, signature)
    except ServingError:
        raise
    except (ValueError, TypeError) as exc:
        raise errors.invalid_argument(str(exc)) from None


def _jsonable(name: str, array: np.ndarray):
    if array.dtype == object:
        flat = [
            {"b64": base64.b64encode(v).decode()} if name.endswith("_bytes") else v.decode("utf-8", "replace")
            for v in array.reshape(-1).tolist()
        ]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(array.shape).tolist()
    if array.dtype.kind == "f" and array.dtype.itemsize < 8:
        # The shortest text that reads back as the same float32 (0.1, not 0.10000000149011612), as TF
        # Serving writes floats; json then prints these Python floats as they are.
        out = np.empty(array.size, dtype=object)
        out[:] = [float(text) for text in array.reshape(-1).astype(str)]
        return out.reshape(array.shape).tolist()
    return array.tolist()


def format_predict_outputs(outputs: dict, fmt: str) -> dict:
    """{name: array} -> {"predictions": ...} (row) or {"outputs": ...} (columnar), as TF Serving."""
    if fmt == "columnar":
        if len(outputs) == 1:
            (name, value), = outputs.items()
            return {"outputs": _jsonable(name, value)}
        return {"outputs": {name: _jsonable(name, value) for name, value in outputs.items()}}
    if len(outputs) == 1:
        (name, value), = outputs.items()
        return {"predictions": _jsonable(name, value)}
    sizes = {name: (value.shape[0] if value.ndim else None) for name, value in outputs.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise errors.invalid_argument(
            "Tensor name: outputs have different batch sizes " + str(sizes) + "; use the columnar 'inputs' format"
        )
    rows = next(iter(sizes.values()))
    columns = {name: _jsonable(name, value) for name, value in outputs.items()}
    return {"predictions": [{name: columns[name][i] for name in columns} for i in range(rows)]}


def _feature_value(name, value, dtypes: dict):
    value = _unb64(value)
    dtype = dtypes.get(name)
    if isinstance(value, (bytes, str)):
        return value
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in "SU":
        return [v if isinstance(v, bytes) else str(v).encode() for v in np.reshape(array, -1).tolist()]
    if dtype is not None and dtype.kind == "f":
        return array.astype(np.float32)
    if dtype is not None and dtype.kind in "iub":
        if array.dtype.kind == "f":
            raise errors.invalid_argument(f"feature '{name}' takes integers, got floating point values")
        return array.astype(np.int64)
    return array


def parse_examples(body: dict, signatures: dict | None = None):
    """A classify / regress JSON body -> tensorflow.serving.Input (with context when given).

    Feature types follow the model's serving_default input of the same name when there is one
    (float_list for float inputs, int64_list for integer inputs); otherwise ints give int64_list,
    floats float_list, strings and {"b64"} bytes_list.
    """
    from tensorflow_serving.apis import input_pb2

    if not isinstance(body, dict) or "examples" not in body:
        raise errors.invalid_argument("Missing 'examples' key")
    examples = body["examples"]
    if not isinstance(examples, list) or not examples:
        raise errors.invalid_argument("'examples' must be a non-empty JSON list")
    dtypes = {}
    default = (signatures or {}).get("serving_default")
    if default is not None:
        dtypes = {name: spec.dtype for name, spec in default.inputs.items() if spec.dtype is not None}

    def example(features, where):
        if not isinstance(features, dict):
            raise errors.invalid_argument(f"{where} must be a JSON object of features")
        try:
            return make_example({k: _feature_value(k, v, dtypes) for k, v in features.items()})
        except (ValueError, TypeError) as exc:
            raise errors.invalid_argument(f"{where}: {exc}") from None

    protos = [example(e, f"example {i}") for i, e in enumerate(examples)]
    result = input_pb2.Input()
    if "context" in body:
        result.example_list_with_context.examples.extend(protos)
        result.example_list_with_context.context.CopyFrom(example(body["context"], "context"))
    else:
        result.example_list.examples.extend(protos)
    return result


def status_to_json(response: get_model_status_pb2.GetModelStatusResponse) -> dict:
    return json_format.MessageToDict(response, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def metadata_to_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> dict:
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    return {
        "model_spec": json_format.MessageToDict(response.model_spec, preserving_proto_field_name=True,
                                                always_print_fields_with_no_presence=True),
        "metadata": {"signature_def": json_format.MessageToDict(sig_map, preserving_proto_field_name=True,
                                                                always_print_fields_with_no_presence=True)},
    }


# ------------------------------------------------------------------------------------------------
# Request handling
# ------------------------------------------------------------------------------------------------


class RestApi:
    """Routes one HTTP request to the backend; returns (HTTP status, body bytes, content type)."""

    def __init__(self, backend, metrics=None, auth=None, timeout: float = 30.0,
                 monitoring_path: str | None = "/monitoring/prometheus/metrics"):
        self.backend = backend
        self.metrics = metrics
        self.auth = auth
        self.timeout = timeout
        self.monitoring_path = monitoring_path

    def handle(self, method: str, path: str, headers, body: bytes):
        path = path.split("?", 1)[0]
        if self.monitoring_path and path == self.monitoring_path and method == "GET" and self.metrics is not None:
            from serving.metrics import CONTENT_TYPE

            return 200, self.metrics.render().encode(), CONTENT_TYPE
        start = time.perf_counter()
        api, model, version, code = "rest", "", None, grpc.StatusCode.OK
        try:
            if self.auth is not None:
                self.auth.check_http(headers)
            match = ROUTE.match(path)
            if match is None or (method == "POST") != bool(match["verb"]) or method not in ("GET", "POST"):
                raise errors.invalid_argument(f"Malformed request: {method} {path}")
            model = match["name"]
            spec = self._spec(match)
            deadline = time.monotonic() + self.timeout if self.timeout else None
            if match["verb"]:
                api = match["verb"]
                payload = self._json(body)
                result, version = getattr(self, "_" + api)(spec, payload, deadline)
            elif match["metadata"]:
                api = "get_model_metadata"
                request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
                request.model_spec.CopyFrom(spec)
                response = self.backend.get_model_metadata(request, deadline)
                result, version = metadata_to_json(response), response.model_spec.version.value
            else:
                api = "get_model_status"
                request = get_model_status_pb2.GetModelStatusRequest()
                request.model_spec.CopyFrom(spec)
                result = status_to_json(self.backend.get_model_status(request, deadline))
            return 200, json.dumps(result).encode(), "application/json"
        except ServingError as exc:
            code = exc.code
            return HTTP_STATUS.get(exc.code, 500), json.dumps({"error": exc.message}).encode(), "application/json"
        except Exception as exc:  # noqa: BLE001 - a bug answers 500, the server goes on
            code = grpc.StatusCode.INTERNAL
            log.exception("REST %s %s failed", method, path)
            return 500, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode(), "application/json"
        finally:
            if self.metrics is not None and api != "rest":
                self.metrics.record_request(model, version, api, "REST", code, time.perf_counter() - start)

    @staticmethod
    def _json(body: bytes):
        try:
            return json.loads(body.decode("utf-8") if body else "")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise errors.invalid_argument(f"JSON Parse error: {exc}") from None

    @staticmethod
    def _spec(match):
        from tensorflow_serving.apis import model_pb2

        spec = model_pb2.ModelSpec(name=match["name"])
        if match["version"] is not None:
            try:
                spec.version.value = int(match["version"])
            except ValueError:
                raise errors.invalid_argument(f"Failed to convert version: {match['version']} to numeric.") from None
        if match["label"] is not None:
            spec.version_label = match["label"]
        return spec

    def _signatures(self, spec):
        return self.backend.signatures(
            spec.name, spec.version.value if spec.HasField("version") else None, spec.version_label or None
        )

    def _predict(self, spec, body, deadline):
        from serving.client import pick_signature

        signatures = self._signatures(spec)
        raw, fmt = parse_predict_body(body, None)
        requested = body.get("signature_name") or None
        try:
            signature_name = pick_signature(signatures, raw[""] if set(raw) == {""} else raw, requested=requested)
        except ValueError as exc:
            raise errors.invalid_argument(str(exc)) from None
        if signature_name not in signatures:
            raise errors.failed_precondition(f"Serving signature key \"{signature_name}\" not found.")
        arrays = to_arrays(raw, signatures[signature_name])
        request = predict_pb2.PredictRequest()
        request.model_spec.CopyFrom(spec)
        request.model_spec.signature_name = signature_name
        for name, array in arrays.items():
            request.inputs[name].CopyFrom(to_tensor_proto(array, as_content=True))
        response = self.backend.predict(request, deadline)
        outputs = {name: to_ndarray(t) for name, t in response.outputs.items()}
        return format_predict_outputs(outputs, fmt), response.model_spec.version.value

    def _classify(self, spec, body, deadline):
        request = classification_pb2.ClassificationRequest()
        request.model_spec.CopyFrom(spec)
        request.model_spec.signature_name = body.get("signature_name", "") if isinstance(body, dict) else ""
        request.input.CopyFrom(parse_examples(body, self._signatures_or_none(spec)))
        response = self.backend.classify(request, deadline)
        results = [[[c.label, c.score] for c in cl.classes] for cl in response.result.classifications]
        return {"results": results}, response.model_spec.version.value

    def _regress(self, spec, body, deadline):
        request = regression_pb2.RegressionRequest()
        request.model_spec.CopyFrom(spec)
        request.model_spec.signature_name = body.get("signature_name", "") if isinstance(body, dict) else ""
        request.input.CopyFrom(parse_examples(body, self._signatures_or_none(spec)))
        response = self.backend.regress(request, deadline)
        return {"results": [r.value for r in response.result.regressions]}, response.model_spec.version.value

    def _signatures_or_none(self, spec):
        try:
            return self._signatures(spec)
        except ServingError:
            return None  # the call itself reports the missing model


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zoo-serving"
    api: RestApi = None  # set per server
    max_body_size = 64 << 20

    def _serve(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.max_body_size:
            body = json.dumps({"error": f"Request body of {length} bytes exceeds the limit of {self.max_body_size}"})
            self._send(413, body.encode(), "application/json")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        status, payload, content_type = self.api.handle(method, self.path, self.headers, body)
        self._send(status, payload, content_type)

    def _send(self, status, payload, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def log_message(self, fmt, *args):
        log.debug("REST %s - %s", self.address_string(), fmt % args)


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class RestServer:
    """The REST API on `host:port` (0: a free port, see `.port`), HTTPS when `tls=(cert, key, ca)`."""

    def __init__(self, backend, host: str = "0.0.0.0", port: int = 8501, metrics=None, auth=None,
                 timeout: float = 30.0, monitoring_path: str | None = "/monitoring/prometheus/metrics",
                 tls=None, max_body_size: int = 64 << 20):
        api = RestApi(backend, metrics, auth, timeout, monitoring_path)
        handler = type("Handler", (_Handler,), {"api": api, "max_body_size": max_body_size})
        self._httpd = _ThreadingServer((host, port), handler)
        if tls:
            cert, key, ca = tls
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            if ca:
                context.load_verify_locations(ca)
                context.verify_mode = ssl.CERT_REQUIRED
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="rest", daemon=True)

    def start(self) -> "RestServer":
        self._thread.start()
        return self

    def stop(self, grace: float = 5.0):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(grace)
