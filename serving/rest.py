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
and FAILED_PRECONDITION 400, NOT_FOUND 404, UNAUTHENTICATED 401, DEADLINE_EXCEEDED 504, ...). Anything
wrong in a request is the client's: a 4xx with a message in TF Serving's words where it has them
(never a Python exception name, echoed values cut short). JSON is read with limits: nesting at most
MAX_JSON_DEPTH levels (checked level by level, never by recursion), numbers of more digits than Python
reads refused; each input's values must have the JSON type of its dtype (numbers for float inputs,
integers in range for integer inputs, booleans for bool inputs, strings or {"b64"} for string inputs),
as TF Serving checks them, and a number too big for its dtype is refused too. Only a bug in the server answers 500, "internal error" with the details (and the
traceback) in the server log.

    rest = RestServer(backend, port=8501, metrics=metrics, auth=auth, timeout=30,
                      limits=HttpLimits(read_timeout=30, header_timeout=10, idle_timeout=60,
                                        max_connections=256)).start()
    rest.port; rest.open_connections(); rest.stop()

The transport (timeouts, the connection bound, TLS handshakes per connection, strict Content-Length)
is serving.http_transport; `limits=None` takes HttpLimits()'s defaults (the command line passes its
--rest_api_*_timeout_seconds / --rest_api_max_connections flags through Server(rest_api_limits=...)).

The codec functions (`parse_json`, `parse_predict_body`, `check_input_types`, `format_predict_outputs`,
`parse_examples`, `status_to_json`, `metadata_to_json`) are plain functions, tested without a server.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import re
import ssl
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

from tensorflow.core.example import example_pb2, feature_pb2

from serving import errors
from serving.client import _main_input, adapt_inputs
from serving.errors import ServingError
from serving.http_transport import INTERNAL_ERROR, MAX_MESSAGE, HttpLimits, HttpServer, clip
from serving.tensor_codec import to_ndarray, to_tensor_proto

__all__ = ["RestServer", "RestApi", "HttpLimits", "parse_json",
           "parse_predict_body", "check_input_types", "format_predict_outputs", "parse_examples",
           "status_to_json", "metadata_to_json", "MAX_JSON_DEPTH"]

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

MAX_JSON_DEPTH = 100  # levels of arrays / objects in a request (a tensor of rank 64 and its wrapping fit)
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1
_NUMBER_TOO_BIG = "JSON Parse error: Number too big to be stored in double"


def _json_type(value) -> str:
    """TF Serving's name of a JSON value's type (bytes: a decoded {"b64": ...} object)."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, bytes):
        return "Object (b64)"
    return "Array" if isinstance(value, list) else "Object"


def _snippet(value, limit: int = 80) -> str:
    """A short JSON text of `value` for an error message (big values are elided, never dumped whole)."""

    def short(v, depth):
        if isinstance(v, list):
            if depth >= 2:
                return "[...]" if v else "[]"
            inner = ", ".join(short(x, depth + 1) for x in v[:3])
            return "[" + inner + (", ..." if len(v) > 3 else "") + "]"
        if isinstance(v, dict):
            if depth >= 2:
                return "{...}" if v else "{}"
            inner = ", ".join(f"{clip(json.dumps(str(k)), 30)}: {short(x, depth + 1)}" for k, x in list(v.items())[:3])
            return "{" + inner + (", ..." if len(v) > 3 else "") + "}"
        if isinstance(v, bytes):
            return '{"b64": ...}'
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 10 ** 30:
            return f"<an integer of {len(str(abs(v)))} digits>"
        return clip(json.dumps(v), 40)

    return clip(short(value, 0), limit)


def _next_level(level: list, types: set) -> list:
    """The items one level of nesting below `level` (its lists' items and its objects' values).

    One C-speed pass when the level is all lists (a tensor's dimensions) or all objects."""
    if types == {list}:
        return list(itertools.chain.from_iterable(level))
    if types == {dict}:
        return list(itertools.chain.from_iterable(map(dict.values, level)))
    return list(itertools.chain.from_iterable(
        x.values() if type(x) is dict else x for x in level if type(x) is list or type(x) is dict))


def _check_depth(document) -> None:
    """INVALID_ARGUMENT when arrays / objects nest deeper than MAX_JSON_DEPTH (level by level, no recursion)."""
    level = [document]
    for _ in range(MAX_JSON_DEPTH):
        types = set(map(type, level))
        if list not in types and dict not in types:
            return
        level = _next_level(level, types)
    types = set(map(type, level))
    if list in types or dict in types:
        raise errors.invalid_argument(f"JSON Parse error: nested deeper than {MAX_JSON_DEPTH} levels")


def parse_json(body: bytes):
    """A request body -> its JSON value, within the limits of the module docstring (else INVALID_ARGUMENT)."""
    if not body:
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.invalid_argument(f"JSON Parse error: Invalid encoding in string (not UTF-8) at offset: "
                                      f"{exc.start}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        message = exc.msg[:-len(" at")] if exc.msg.endswith(" at") else exc.msg  # "Unterminated string starting at"
        raise errors.invalid_argument(f"JSON Parse error: {message} at offset: {exc.pos}") from None
    except RecursionError:
        raise errors.invalid_argument(f"JSON Parse error: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # an integer of more than sys.get_int_max_str_digits() digits
        raise errors.invalid_argument(_NUMBER_TOO_BIG) from None
    _check_depth(document)
    return document


def _decode_b64(value: dict) -> bytes:
    text = value["b64"]
    if not isinstance(text, str):
        raise errors.invalid_argument(f"JSON Value: {_snippet(value)} not formatted correctly for base64 data "
                                      f"(the value of 'b64' must be a string)")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:  # binascii.Error, non-ASCII text
        raise errors.invalid_argument(f"Unable to base64 decode {_snippet(text, 40)}: {exc}") from None


def _has_object(value) -> bool:
    level = [value]
    while True:
        types = set(map(type, level))
        if dict in types:
            return True
        if list not in types:
            return False
        level = _next_level(level, types)


def _unb64(value):
    """Replace {"b64": "..."} objects (at any depth) by bytes (lists holding no object are kept as they are)."""
    if isinstance(value, dict):
        if len(value) == 1 and "b64" in value:
            return _decode_b64(value)
        return {k: _unb64(v) for k, v in value.items()}
    if isinstance(value, list) and _has_object(value):
        return [_unb64(v) for v in value]
    return value


def _is_named(instance) -> bool:
    return isinstance(instance, dict)


def parse_predict_body(body: dict, signature) -> tuple[dict, str]:
    """A predict JSON body -> ({input name: value (lists, bytes)}, "row" | "columnar").

    `signature`: serving.client.Signature (its input names resolve a bare value). Values are still
    Python lists here; `adapt_inputs` makes tensors of them.
    """
    if not isinstance(body, dict):
        raise errors.invalid_argument(f"JSON Value: {_snippet(body)} Is not object; expected an object with "
                                      f"'instances' or 'inputs'")
    has_instances, has_inputs = "instances" in body, "inputs" in body
    if has_instances == has_inputs:
        raise errors.invalid_argument(
            "Missing 'inputs' or 'instances' key" if not has_instances else "Not allowed to use both 'inputs' and 'instances'"
        )
    if has_instances:
        instances = _unb64(body["instances"])
        if not isinstance(instances, list) or not instances:
            raise errors.invalid_argument("'instances' must be a non-empty JSON list")
        graphs = _looks_like_graphs(instances, signature)
        if all(_is_named(i) for i in instances) and not graphs:
            keys = set(instances[0])
            for n, instance in enumerate(instances):
                if set(instance) != keys:
                    raise errors.invalid_argument(
                        f"Failed to process element: {n} of 'instances' list. JSON object: has keys "
                        f"{clip(sorted(instance), 200)}, expected the same keys as element 0: {clip(sorted(keys), 200)}"
                    )
            return {k: [i[k] for i in instances] for k in instances[0]}, "row"
        if any(_is_named(i) for i in instances) and not graphs:
            n = next(n for n, i in enumerate(instances) if _is_named(i) != _is_named(instances[0]))
            raise errors.invalid_argument(
                f"'instances' mixes named (objects) and unnamed elements: element {n} is "
                f"{'an object' if _is_named(instances[n]) else 'not an object'}, element 0 is "
                f"{'an object' if _is_named(instances[0]) else 'not an object'}")
        return {"": instances}, "row"
    inputs = _unb64(body["inputs"])
    if isinstance(inputs, dict):
        return dict(inputs), "columnar"
    return {"": inputs}, "columnar"


def _looks_like_graphs(instances, signature) -> bool:
    return all(isinstance(i, dict) and "node_features" in i and "edge_index" in i for i in instances) and (
        signature is None or "node_graph_ids" in signature.inputs or "node_features" in signature.inputs
    )


def _value_rule(dtype):
    """(type name, allowed Python types of the JSON values, (lowest, highest) for integers) of a dtype,
    or None when the dtype takes no JSON values we check (complex, resources...)."""
    if dtype is None:
        return None
    dtype = np.dtype(dtype)
    if dtype == np.dtype(object):
        return "string", (str, bytes), None
    if dtype.kind == "f" or dtype.name == "bfloat16":
        return dtype.name, (int, float), None
    if dtype.kind == "b":
        return "bool", (bool,), None
    if dtype.kind in "iu":  # as TF Serving: the small integer types take any int32 (then wrap, as TensorFlow)
        if dtype.itemsize < 4 or dtype == np.dtype(np.int32):
            bounds = (-(1 << 31), (1 << 31) - 1)
        elif dtype == np.dtype(np.int64):
            bounds = (_INT64_MIN, _INT64_MAX)
        else:
            bounds = (0, (1 << (8 * dtype.itemsize)) - 1)
        return dtype.name, (int,), bounds
    return None


def _type_error(name, value, label) -> ServingError:
    return errors.invalid_argument(f"input '{clip(name, 100)}': JSON Value: {_snippet(value)} Type: "
                                   f"{_json_type(value)} is not of expected type: {label}")


def _check_values(name: str, value, dtype) -> None:
    """Every value (at any depth of lists) of input `name` has a JSON type its dtype takes.

    Level by level: per level one C-speed pass for the types (and min / max for integer ranges)."""
    rule = _value_rule(dtype)
    if rule is None:
        return
    label, allowed, bounds = rule
    allowed = set(allowed)
    level = [value]
    while level:
        types = set(map(type, level))
        bad = types - allowed - {list}
        if bad:
            raise _type_error(name, next(x for x in level if type(x) in bad), label)
        if bounds is not None and int in types:
            numbers = level if list not in types else [x for x in level if type(x) is int]
            low, high = bounds
            for x in (min(numbers), max(numbers)):
                if not low <= x <= high:
                    raise _type_error(name, x, label)
        if list not in types:
            return
        level = _next_level(level, types)


def check_input_types(raw: dict, signature) -> None:
    """Check the values of parsed inputs (`parse_predict_body`) against `signature`'s input dtypes.

    INVALID_ARGUMENT in TF Serving's words ("JSON Value: "a" Type: String is not of expected type:
    float") for the first value of a wrong type; inputs the signature does not know are left to the
    adapters (which name them)."""
    specs = signature.inputs

    def check(name, value):
        spec = specs.get(name)
        if spec is not None:
            _check_values(name, value, spec.dtype)

    for name, value in raw.items():
        if name:
            check(name, value)
            continue
        if isinstance(value, dict):
            value = [value]
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):  # graphs
            for graph in value:
                for key, item in graph.items():
                    check(str(key), item)
            continue
        try:
            main = _main_input(signature)
        except ValueError:
            continue  # the adapters say which inputs it takes
        check(main, value)


_NUMPY_TEXT = re.compile(r"\bnp\.\w+\((.*?)\)")
_RAGGED = re.compile(r"inhomogeneous shape after (\d+) dimensions?\. The detected shape was (\([^)]*\))")


def _plain(exc: BaseException) -> str:
    """An exception raised while converting a request's values, as a message for the client."""
    if isinstance(exc, RecursionError):
        return f"the request is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
    ragged = _RAGGED.search(str(exc))
    if ragged:
        return (f"the lists of an input do not form a tensor: lists of different lengths (or lists beside "
                f"numbers) after {ragged[1]} dimension(s), whose shape is {ragged[2]}")
    text = _NUMPY_TEXT.sub(r"\1", str(exc)).replace("Python int", "integer").replace("C long", "64-bit integer")
    if isinstance(exc, OverflowError):
        return f"a number in the request is out of range ({text})"
    return text or "the request's values cannot be converted"


@contextlib.contextmanager
def _client_input(where: str = ""):
    """Errors raised while turning the request body into tensors are the client's: INVALID_ARGUMENT."""
    try:
        yield
    except ServingError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, LookupError, UnicodeError) as exc:
        log.debug("bad REST input: %s", clip(exc))
        raise errors.invalid_argument(f"{where}{_plain(exc)}") from None


def to_arrays(raw: dict, signature) -> dict:
    """Parsed inputs -> {name: numpy array} through the input adapters (bare "" values: the main input)."""
    with _client_input():
        if set(raw) == {""}:
            return adapt_inputs(raw[""], signature)
        return adapt_inputs(raw, signature)


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



def _feature(name: str, value, dtype) -> feature_pb2.Feature:
    """One JSON feature (a value or a flat list of values) -> tf.train.Feature, with TF Serving's checks."""
    value = _unb64(value)
    items = value if isinstance(value, list) else [value]
    types = set(map(type, items))
    for kind, label in ((list, "Array"), (type(None), "Null"), (dict, "Object")):
        if kind in types:
            raise errors.invalid_argument(f"Feature: {clip(name, 100)} has element with unexpected JSON type: {label}")
    if not items:
        return feature_pb2.Feature()
    if types <= {str, bytes}:
        return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(
            value=[v if isinstance(v, bytes) else v.encode("utf-8") for v in items]))
    if not types <= {int, float, bool}:
        expected = "bytes" if type(items[0]) in (str, bytes) else "a number"
        raise errors.invalid_argument(f"Unexpected element type in feature: {clip(name, 100)} expecting type: "
                                      f"{expected} (its values mix strings and numbers)")
    wants_float = dtype is not None and (dtype.kind == "f" or dtype.name == "bfloat16")
    wants_int = dtype is not None and dtype.kind in "iub"
    if float in types:
        if wants_int:
            raise errors.invalid_argument(f"feature '{clip(name, 100)}' takes integers, got floating point values")
        return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=[float(v) for v in items]))
    if wants_float:
        return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=[float(v) for v in items]))
    low, high = min(items), max(items)
    if _INT64_MAX < high <= _UINT64_MAX:
        raise errors.invalid_argument(f"Feature: {clip(name, 100)} has uint64 element. Only int64 is supported.")
    if high > _INT64_MAX or low < _INT64_MIN:
        raise errors.invalid_argument(f"Feature: {clip(name, 100)} has an integer beyond int64: "
                                      f"{_snippet(high if high > _INT64_MAX else low)}")
    return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[int(v) for v in items]))


def parse_examples(body: dict, signatures: dict | None = None):
    """A classify / regress JSON body -> tensorflow.serving.Input (with context when given).

    Feature types follow the model's serving_default input of the same name when there is one
    (float_list for float inputs, int64_list for integer inputs); otherwise ints (and booleans) give
    int64_list, floats float_list, strings and {"b64"} bytes_list. A feature is a value or a flat
    list of values of one kind; null, nested lists and objects other than {"b64"} are refused.
    """
    from tensorflow_serving.apis import input_pb2

    if not isinstance(body, dict):
        raise errors.invalid_argument(f"JSON Value: {_snippet(body)} Is not object")
    if "examples" not in body:
        raise errors.invalid_argument("Missing 'examples' key (expected {\"examples\": [{feature: value}, ...]})")
    examples = body["examples"]
    if not isinstance(examples, list) or not examples:
        raise errors.invalid_argument("'examples' must be a non-empty JSON list")
    dtypes = {}
    default = (signatures or {}).get("serving_default")
    if default is not None:
        dtypes = {name: spec.dtype for name, spec in default.inputs.items() if spec.dtype is not None}

    def example(features, where):
        if not isinstance(features, dict):
            raise errors.invalid_argument(f"{where} must be a JSON object of features, got JSON {_json_type(features)}")
        with _client_input(f"{where}: "):
            proto = example_pb2.Example()
            for key, value in features.items():
                proto.features.feature[key].CopyFrom(_feature(key, value, dtypes.get(key)))
            return proto

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

_VERSION = re.compile(r"-?[0-9]{1,19}")


def _error_body(message: str) -> bytes:
    return json.dumps({"error": clip(message, MAX_MESSAGE)}).encode()


def _signature_name(body) -> str | None:
    """The body's "signature_name" (None when absent or empty); INVALID_ARGUMENT unless a string."""
    if not isinstance(body, dict) or "signature_name" not in body:
        return None
    name = body["signature_name"]
    if not isinstance(name, str):
        raise errors.invalid_argument(f"JSON Value: {_snippet(name)} not formatted correctly. 'signature_name' key "
                                      f"must be a string value.")
    return name or None


class RestApi:
    """Routes one HTTP request to the backend; returns (HTTP status, body bytes, content type).

    `handle` never raises: bad requests answer 4xx, a bug answers 500 (logged with its traceback)."""

    def __init__(self, backend, metrics=None, auth=None, timeout: float = 30.0,
                 monitoring_path: str | None = "/monitoring/prometheus/metrics"):
        self.backend = backend
        self.metrics = metrics
        self.auth = auth
        self.timeout = timeout
        self.monitoring_path = monitoring_path

    def handle(self, method: str, path: str, headers, body: bytes):
        path = str(path).split("?", 1)[0]
        start = time.perf_counter()
        api, model, version, code = "rest", "", None, grpc.StatusCode.OK
        try:
            if self.auth is not None:  # the metrics too: they name the models and their traffic
                self.auth.check_http(headers)
            if self.monitoring_path and path == self.monitoring_path and method == "GET" and self.metrics is not None:
                from serving.metrics import CONTENT_TYPE

                return 200, self.metrics.render().encode(), CONTENT_TYPE
            match = ROUTE.match(path)
            if match is None or (method == "POST") != bool(match["verb"]) or method not in ("GET", "POST"):
                raise errors.invalid_argument(f"Malformed request: {clip(method, 20)} {clip(path, 200)}")
            model = match["name"]
            spec = self._spec(match)
            deadline = time.monotonic() + self.timeout if self.timeout else None
            if match["verb"]:
                api = match["verb"]
                payload = parse_json(body)
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
            return HTTP_STATUS.get(exc.code, 500), _error_body(exc.message), "application/json"
        except Exception:  # noqa: BLE001 - a bug answers 500 (no details to the client), the server goes on
            code = grpc.StatusCode.INTERNAL
            log.exception("REST %s %s failed", clip(method, 20), clip(path, 200))
            return 500, _error_body(INTERNAL_ERROR), "application/json"
        finally:
            if self.metrics is not None and api != "rest":
                try:
                    # a model that is not served is counted as "unknown" (ServingMetrics.set_known_models)
                    self.metrics.record_request(model, version, api, "REST", code,
                                                time.perf_counter() - start)
                except Exception:  # noqa: BLE001
                    log.exception("recording REST metrics failed")

    @staticmethod
    def _spec(match):
        from tensorflow_serving.apis import model_pb2

        spec = model_pb2.ModelSpec(name=match["name"])
        if match["version"] is not None:
            text = match["version"]
            if not _VERSION.fullmatch(text) or not _INT64_MIN <= int(text) <= _INT64_MAX:
                raise errors.invalid_argument(f"Failed to convert version: {clip(text, 60)} to numeric.")
            spec.version.value = int(text)
        if match["label"] is not None:
            spec.version_label = match["label"]
        return spec

    def _signatures(self, spec):
        return self.backend.signatures(
            spec.name, spec.version.value if spec.HasField("version") else None, spec.version_label or None
        )

    def _predict(self, spec, body, deadline):
        from serving.client import pick_signature

        # TF Serving's order: the JSON document and its signature_name, then the model, then the tensors
        if not isinstance(body, dict):
            raise errors.invalid_argument(f"JSON Value: {_snippet(body)} Is not object; expected an object with "
                                          f"'instances' or 'inputs'")
        requested = _signature_name(body)
        signatures = self._signatures(spec)
        with _client_input():
            raw, fmt = parse_predict_body(body, None)
            signature_name = pick_signature(signatures, raw[""] if set(raw) == {""} else raw, requested=requested)
        if signature_name not in signatures:
            raise errors.failed_precondition(f"Serving signature key \"{clip(signature_name, 100)}\" not found.")
        signature = signatures[signature_name]
        with _client_input():
            check_input_types(raw, signature)
            arrays = to_arrays(raw, signature)
            request = predict_pb2.PredictRequest()
            request.model_spec.CopyFrom(spec)
            request.model_spec.signature_name = signature_name
            for name, array in arrays.items():
                request.inputs[name].CopyFrom(to_tensor_proto(array, as_content=True))
        response = self.backend.predict(request, deadline)
        outputs = {name: to_ndarray(t) for name, t in response.outputs.items()}
        return format_predict_outputs(outputs, fmt), response.model_spec.version.value

    def _examples_request(self, request, spec, body):
        if not isinstance(body, dict):
            raise errors.invalid_argument(f"JSON Value: {_snippet(body)} Is not object")
        request.model_spec.CopyFrom(spec)
        request.model_spec.signature_name = _signature_name(body) or ""
        signatures = self._signatures_or_none(spec)
        with _client_input():
            request.input.CopyFrom(parse_examples(body, signatures))
        return request

    def _classify(self, spec, body, deadline):
        request = self._examples_request(classification_pb2.ClassificationRequest(), spec, body)
        response = self.backend.classify(request, deadline)
        results = [[[c.label, c.score] for c in cl.classes] for cl in response.result.classifications]
        return {"results": results}, response.model_spec.version.value

    def _regress(self, spec, body, deadline):
        request = self._examples_request(regression_pb2.RegressionRequest(), spec, body)
        response = self.backend.regress(request, deadline)
        return {"results": [r.value for r in response.result.regressions]}, response.model_spec.version.value

    def _signatures_or_none(self, spec):
        try:
            return self._signatures(spec)
        except ServingError:
            return None  # the call itself reports the missing model


class RestServer:
    """The REST API on `host:port` (0: a free port, see `.port`), HTTPS when `tls=(cert, key, ca)`.

    `limits`: serving.http_transport.HttpLimits (timeouts, the connection bound); None: its defaults.
    `max_body_size`: the largest request body in bytes (413 beyond)."""

    def __init__(self, backend, host: str = "0.0.0.0", port: int = 8501, metrics=None, auth=None,
                 timeout: float = 30.0, monitoring_path: str | None = "/monitoring/prometheus/metrics",
                 tls=None, max_body_size: int = 64 << 20, limits: HttpLimits | None = None):
        self.api = RestApi(backend, metrics, auth, timeout, monitoring_path)
        self.limits = limits if limits is not None else HttpLimits()
        context = None
        if tls:
            cert, key, ca = tls
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            if ca:
                context.load_verify_locations(ca)
                context.verify_mode = ssl.CERT_REQUIRED
        self._httpd = HttpServer((host, port), self.api.handle, self.limits, max_body_size, context)
        self.port = self._httpd.port

    def start(self) -> "RestServer":
        self._httpd.start()
        return self

    def open_connections(self) -> int:
        """Connections being served now (each has a thread)."""
        return self._httpd.open_connections()

    def stop(self, grace: float = 5.0):
        self._httpd.stop(grace)
