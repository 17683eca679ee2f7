"""`serving.Client`: a gRPC client for TensorFlow Serving's API, plus the tensor codec and input adapters.

    client = serving.Client("localhost:8500", timeout=10, token=None, tls=False)
    out = client.predict("digits", x)                    # x: [N, 32, 32, 1] float32 -> {"scores": [N, 10], ...}
    out = client.predict("digits", [jpeg_bytes, ...])    # raw image files -> the model's image-bytes signature
    out = client.predict("tagger", [seq_a, seq_b])       # variable-length sequences -> padded + mask / lengths
    out = client.predict("molecules", [g1, g2])          # graphs (dicts) -> one batched graph
    client.classify("digits", x)                         # [[(label, score), ...] per example]
    futures = [client.predict_async("digits", x) for _ in range(8)]

It speaks to any TensorFlow Serving (the real `tensorflow_model_server`, our `python -m serving`, or
our gateway) through the stubs of `tensorflow-serving-api`. Failures raise `ServingError` carrying the
gRPC status code and the server's message.

Requests carry numeric tensors as `tensor_content` bytes (the compact form every TF Serving
reads); responses are read in either form (serving.tensor_codec). The pieces below the client are
shared with the server and the gateway:
- the input adapters `pad_sequences`, `batch_graphs` and `adapt_inputs`, which turn what a user has
  (raw image bytes, ragged sequences, lists of graphs) into the dict of rectangular tensors a
  SignatureDef takes, guided by that signature's input names, dtypes and shapes.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Iterable, Mapping, Sequence

import grpc
import numpy as np

from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.errors import ServingError

# The tensor codec and the signature type are shared with the server and the gateway.
from serving.signature import Signature, TensorSpec  # noqa: E402,F401  (re-exported)
from serving.tensor_codec import (  # noqa: E402,F401  (re-exported)
    _as_bytes,
    dtype_name,
    numpy_dtype,
    tensor_shape,
    tf_dtype,
    to_ndarray,
    to_tensor_proto,
)

MASK_NAMES = ("mask", "padding_mask", "attention_mask", "sequence_mask")
LENGTH_NAMES = ("lengths", "length", "sequence_length", "sequence_lengths", "seq_len")
GRAPH_KEYS = ("node_features", "edge_index", "edge_features", "node_graph_ids")


def pad_sequences(sequences: Sequence, dtype=None, pad_value=0, max_length: int | None = None):
    """Right-pad variable-length sequences.

    Args:
        sequences: N sequences, each [T_i] (token ids) or [T_i, F] (feature vectors).
        dtype: numpy dtype of the result (default: that of the first sequence).
        pad_value: value written after each sequence's end.
        max_length: pad (and truncate) to this length; default max T_i.
    Returns:
        (padded [N, T, ...], mask [N, T] bool, True on real steps, lengths [N] int32).
    """
    arrays = [np.asarray(s, dtype=dtype) for s in sequences]
    if not arrays:
        raise ValueError("pad_sequences needs at least one sequence")
    tail = arrays[0].shape[1:]
    for i, a in enumerate(arrays):
        if a.ndim == 0 or a.shape[1:] != tail:
            raise ValueError(f"sequence {i} has shape {a.shape}; every sequence must be [T, *{list(tail)}]")
    lengths = np.array([min(len(a), max_length) if max_length else len(a) for a in arrays], dtype=np.int32)
    length = int(max_length or lengths.max(initial=0))
    padded = np.full((len(arrays), length) + tail, pad_value, dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        padded[i, : lengths[i]] = a[: lengths[i]]
    mask = np.arange(length)[None, :] < lengths[:, None]
    return padded, mask, lengths


def batch_graphs(graphs: Sequence[Mapping]) -> dict:
    """Merge graphs into one graph batch (the project's plain-tensor convention).

    Each graph: `node_features` [N_i, F], `edge_index` [2, E_i] (int, local node ids), optional
    `edge_features` [E_i, D]. Returns `node_features` [sum N_i, F], `edge_index` [2, sum E_i] int32 with
    each graph's node offset added, `edge_features` [sum E_i, D] when every graph has them, and
    `node_graph_ids` [sum N_i] int32 (which graph each node belongs to).
    """
    if not graphs:
        raise ValueError("batch_graphs needs at least one graph")
    nodes, edges, edge_feats, graph_ids = [], [], [], []
    offset = 0
    for i, g in enumerate(graphs):
        if "node_features" not in g or "edge_index" not in g:
            raise ValueError(f"graph {i} needs 'node_features' [N, F] and 'edge_index' [2, E]; got keys {sorted(g)}")
        x = np.asarray(g["node_features"])
        e = np.asarray(g["edge_index"]).reshape(2, -1) if np.size(g["edge_index"]) == 0 else np.asarray(g["edge_index"])
        if x.ndim != 2 or e.ndim != 2 or e.shape[0] != 2:
            raise ValueError(f"graph {i}: node_features {x.shape} must be [N, F] and edge_index {e.shape} [2, E]")
        if e.size and (e.min() < 0 or e.max() >= len(x)):
            raise ValueError(f"graph {i}: edge_index refers to node {int(e.max())} but the graph has {len(x)} nodes")
        nodes.append(x)
        edges.append(e.astype(np.int64) + offset)
        if "edge_features" in g:
            edge_feats.append(np.asarray(g["edge_features"]))
        graph_ids.append(np.full(len(x), i, dtype=np.int32))
        offset += len(x)
    out = {
        "node_features": np.concatenate(nodes, axis=0),
        "edge_index": np.concatenate(edges, axis=1).astype(np.int32),
        "node_graph_ids": np.concatenate(graph_ids),
    }
    if edge_feats:
        if len(edge_feats) != len(graphs):
            raise ValueError("either every graph has edge_features or none does")
        out["edge_features"] = np.concatenate(edge_feats, axis=0)
    return out


def _is_bytes_like(x) -> bool:
    return isinstance(x, (bytes, bytearray, memoryview))


def _is_graph(x) -> bool:
    return isinstance(x, Mapping) and "node_features" in x and "edge_index" in x


def _is_ragged(values) -> bool:
    """A list of array-likes whose leading lengths differ (so np.asarray cannot stack them)."""
    if not isinstance(values, (list, tuple)) or len(values) == 0:
        return False
    if any(np.isscalar(v) or _is_bytes_like(v) for v in values):
        return False
    try:
        shapes = {np.shape(v) for v in values}
    except ValueError:  # deeper raggedness
        return True
    return len(shapes) > 1


def _companions(signature: Signature | None, main: str):
    """Names of the mask and lengths inputs that go with `main` in `signature` (None when absent)."""
    if signature is None:
        return None, None
    names = [n for n in signature.inputs if n != main]
    mask = next((n for n in names if n in MASK_NAMES or n.endswith("_mask")), None)
    lengths = next((n for n in names if n in LENGTH_NAMES or n.endswith("_lengths")), None)
    return mask, lengths


def _main_input(signature: Signature | None) -> str:
    """The input that takes the data (not a mask or lengths input) of `signature`."""
    if signature is None:
        raise ValueError("cannot tell which input a bare tensor is for without the model's signature; pass a dict")
    names = [n for n in signature.inputs if n not in MASK_NAMES and n not in LENGTH_NAMES
             and not n.endswith("_mask") and not n.endswith("_lengths")]
    if len(names) != 1:
        raise ValueError(
            f"signature {signature.name!r} takes inputs {sorted(signature.inputs)}; pass a dict naming each of them"
        )
    return names[0]


def _cast(name, value, signature: Signature | None):
    spec = signature.inputs.get(name) if signature is not None else None
    if spec is None or spec.dtype is None:
        if _is_bytes_like(value) or (isinstance(value, (list, tuple)) and value and _is_bytes_like(value[0])):
            array = np.empty(len(value) if isinstance(value, (list, tuple)) else (), dtype=object)
            if isinstance(value, (list, tuple)):
                array[:] = [bytes(v) for v in value]
            else:
                array[()] = bytes(value)
            return array
        return np.asarray(value)
    if spec.dtype == np.dtype(object):
        if _is_bytes_like(value) or isinstance(value, str):
            array = np.empty((), dtype=object)
            array[()] = _as_bytes(value)
        else:
            flat = list(np.asarray(value, dtype=object).reshape(-1))
            array = np.empty(len(flat), dtype=object)
            array[:] = [_as_bytes(v) for v in flat]
            array = array.reshape(np.shape(value))
        return array
    array = np.asarray(value)
    if array.dtype != spec.dtype:
        if array.dtype.kind == "f" and spec.dtype.kind in "iub":
            raise ValueError(f"input {name!r} takes {spec.dtype}, got floating point values")
        if array.dtype == np.uint8 and spec.dtype.kind == "f":
            # 0..255 pixels sent as 0..255 floats to a model trained on 0..1 would answer garbage, silently
            raise ValueError(
                f"input {name!r} takes {spec.dtype} and got uint8 values (pixels 0..255?): scale them as the model's "
                f"training did (zoo image models train on 0..1: send x / 255), or send the encoded image bytes to the "
                f"model's 'serving_bytes' signature, which decodes and scales them as the export says"
            )
        array = array.astype(spec.dtype)
    return array


def _adapt_value(name, value, signature, out: dict):
    """Put `value` for input `name` into `out`, padding ragged sequences and filling mask / lengths."""
    if _is_ragged(value):
        spec = signature.inputs.get(name) if signature is not None else None
        padded, mask, lengths = pad_sequences(value, dtype=spec.dtype if spec is not None else None)
        out[name] = padded
        mask_name, lengths_name = _companions(signature, name)
        if mask_name and mask_name not in out:
            out[mask_name] = mask
        if lengths_name and lengths_name not in out:
            out[lengths_name] = lengths
        if signature is not None and not mask_name and not lengths_name:
            raise ValueError(
                f"input {name!r} got sequences of different lengths but signature {signature.name!r} takes no mask or "
                f"lengths input (it takes {sorted(signature.inputs)}); pad them yourself"
            )
        return
    out[name] = value


def adapt_inputs(inputs: Any, signature: Signature | None = None) -> dict:
    """Turn what a caller has into the dict of rectangular numpy tensors `signature` takes.

    Accepts: a dict of named tensors (values may be ragged lists: padded, mask/lengths filled in);
    one array (for the signature's single data input); raw image bytes or a list of them (a string
    tensor [N]); a list of variable-length sequences ([T_i] or [T_i, F]: padded, with the
    signature's `mask` [N, T] and/or `lengths` [N] input filled); a graph dict or a list of graph
    dicts (merged by `batch_graphs`). Values are cast to the signature's dtypes.
    """
    out: dict = {}
    if isinstance(inputs, Mapping):
        if _is_graph(inputs):
            inputs = dict(inputs)
            if "node_graph_ids" not in inputs and (signature is None or "node_graph_ids" in signature.inputs):
                inputs["node_graph_ids"] = np.zeros(len(np.asarray(inputs["node_features"])), dtype=np.int32)
        for name, value in inputs.items():
            _adapt_value(str(name), value, signature, out)
    elif isinstance(inputs, (list, tuple)) and inputs and all(_is_graph(g) for g in inputs):
        out = batch_graphs(inputs)
        if signature is not None:
            out = {k: v for k, v in out.items() if k in signature.inputs}
    elif _is_bytes_like(inputs) or (isinstance(inputs, (list, tuple)) and inputs and all(_is_bytes_like(v) for v in inputs)):
        items = [inputs] if _is_bytes_like(inputs) else list(inputs)
        array = np.empty(len(items), dtype=object)
        array[:] = [bytes(v) for v in items]
        out[_main_input(signature)] = array
    else:
        _adapt_value(_main_input(signature), inputs, signature, out)
    return {name: _cast(name, value, signature) for name, value in out.items()}


def _is_raw_bytes(inputs) -> bool:
    return _is_bytes_like(inputs) or (
        isinstance(inputs, (list, tuple)) and bool(inputs) and all(_is_bytes_like(v) for v in inputs))


def _has_ragged(inputs) -> bool:
    if isinstance(inputs, Mapping):
        return any(_is_ragged(v) for v in inputs.values())
    return _is_ragged(inputs)


def _takes_lengths(signature: Signature) -> bool:
    return any(n in MASK_NAMES or n in LENGTH_NAMES or n.endswith(("_mask", "_lengths")) for n in signature.inputs)


def pick_signature(signatures: Mapping[str, Signature], inputs: Any, requested: str | None = None,
                   method: str = "tensorflow/serving/predict") -> str:
    """The signature to run `inputs` through: `requested` when given, else serving_default, except

    - raw bytes (or a list of them) while serving_default takes no string: the predict signature
      taking a single string tensor (an image model's `serving_bytes`);
    - variable-length sequences while serving_default takes no mask / lengths: the predict signature
      that does (a sequence model's `serving_lengths`).
    """
    if requested:
        return requested
    default = signatures.get("serving_default")
    if _is_raw_bytes(inputs) and (default is None or not default.takes_bytes()):
        candidates = [n for n, s in sorted(signatures.items()) if s.takes_bytes() and s.method_name == method]
        if not candidates:
            raise ValueError(f"got raw bytes but no signature of the model takes them; it has {sorted(signatures)}")
        preferred = [n for n in candidates if "image" in n or "bytes" in n]
        return (preferred or candidates)[0]
    if _has_ragged(inputs) and (default is None or not _takes_lengths(default)):
        candidates = [n for n, s in sorted(signatures.items()) if _takes_lengths(s) and s.method_name == method]
        if candidates:
            return candidates[0]
    return "serving_default"


# ----------------------------------------------------------------------------------------------
# tf.Example helpers (Classify / Regress)
# ----------------------------------------------------------------------------------------------


def _feature(value) -> feature_pb2.Feature:
    if isinstance(value, feature_pb2.Feature):
        return value
    if _is_bytes_like(value) or isinstance(value, str):
        return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[_as_bytes(value)]))
    array = np.asarray(value)
    flat = array.reshape(-1)
    if array.dtype.kind in "OSU":
        return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[_as_bytes(v) for v in flat.tolist()]))
    if array.dtype.kind in "iub":
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=flat.astype(np.int64).tolist()))
    return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=flat.astype(np.float32).tolist()))


def make_example(features: Mapping) -> example_pb2.Example:
    """{name: value} -> tf.Example: bytes/str -> bytes_list, ints/bools -> int64_list, floats -> float_list (flattened)."""
    if isinstance(features, example_pb2.Example):
        return features
    return example_pb2.Example(
        features=feature_pb2.Features(feature={str(k): _feature(v) for k, v in features.items()})
    )


def make_examples(examples, feature_name: str = "inputs") -> list:
    """A list of dicts / tf.Examples, or an array [N, ...] (each row under `feature_name`) -> list of tf.Example."""
    if isinstance(examples, np.ndarray):
        return [make_example({feature_name: row}) for row in examples]
    if isinstance(examples, (Mapping, example_pb2.Example)):
        examples = [examples]
    return [make_example(e) if isinstance(e, (Mapping, example_pb2.Example)) else make_example({feature_name: e})
            for e in examples]


# ----------------------------------------------------------------------------------------------
# The client
# ----------------------------------------------------------------------------------------------


def _error(exc: grpc.RpcError) -> ServingError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return ServingError(code, details or "")


def _model_spec(spec, model, version=None, label=None, signature=None):
    spec.name = model
    if version is not None and label is not None:
        raise ValueError("give a version or a version label, not both")
    if version is not None:
        spec.version.value = int(version)
    if label is not None:
        spec.version_label = label
    if signature:
        spec.signature_name = signature


def _status_dict(proto) -> list:
    state = get_model_status_pb2.ModelVersionStatus.State.Name
    return [
        {
            "version": s.version,
            "state": state(s.state),
            "error_code": grpc.StatusCode.OK.name if s.status.error_code == 0 else _code_name(s.status.error_code),
            "error_message": s.status.error_message,
        }
        for s in proto.model_version_status
    ]


def _code_name(value: int) -> str:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code.name
    return str(value)


class _Future(concurrent.futures.Future):
    """A Future over a gRPC call future that converts the response (and gRPC errors to ServingError)."""

    def __init__(self, call, convert):
        super().__init__()
        self._call = call

        def done(call_future):
            try:
                self.set_result(convert(call_future.result()))
            except grpc.RpcError as exc:
                self.set_exception(_error(exc))
            except grpc.FutureCancelledError:
                self.set_exception(ServingError(grpc.StatusCode.CANCELLED, "the call was cancelled"))
            except Exception as exc:  # noqa: BLE001 - conversion errors go to the caller
                self.set_exception(exc)

        call.add_done_callback(done)

    def cancel(self):
        self._call.cancel()
        return super().cancel()


class Client:
    """A TensorFlow Serving gRPC client.

    Args:
        target: "host:port" of a server speaking TensorFlow Serving's API.
        timeout: per-call deadline in seconds (None: none).
        token: bearer token, sent as metadata "authorization: Bearer <token>".
        tls: False (plaintext), True (system roots), a PEM file path or bytes of the root certificate,
            or `grpc.ChannelCredentials`.
        tls_server_name: overrides the name checked against the server certificate (tests, IPs).
        max_message_size: send / receive limit in bytes.
    """

    def __init__(self, target: str, timeout: float | None = 10.0, token: str | None = None, tls=False,
                 tls_server_name: str | None = None, max_message_size: int = 64 << 20, options: Iterable = ()):
        self.target = target
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        opts = [("grpc.max_send_message_length", max_message_size),
                ("grpc.max_receive_message_length", max_message_size), *options]
        if tls_server_name:
            opts.append(("grpc.ssl_target_name_override", tls_server_name))
        if tls is False or tls is None:
            self._channel = grpc.insecure_channel(target, options=opts)
        else:
            if isinstance(tls, grpc.ChannelCredentials):
                credentials = tls
            elif tls is True:
                credentials = grpc.ssl_channel_credentials()
            else:
                root = tls if isinstance(tls, bytes) else open(tls, "rb").read()
                credentials = grpc.ssl_channel_credentials(root_certificates=root)
            self._channel = grpc.secure_channel(target, credentials, options=opts)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._signatures: dict = {}
        self._lock = threading.Lock()

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, method, request, timeout=None):
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise _error(exc) from None

    def _future(self, method, request, convert, timeout=None) -> concurrent.futures.Future:
        call = method.future(request, timeout=timeout or self.timeout, metadata=self._metadata)
        return _Future(call, convert)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- metadata --------------------------------------------------------------------------

    def signatures(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        """{signature name: Signature} of a model (cached per model/version/label)."""
        key = (model, version, label)
        with self._lock:
            cached = self._signatures.get(key)
        if cached is not None:
            return cached
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        _model_spec(request.model_spec, model, version, label)
        response = self._call(self.prediction.GetModelMetadata, request)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        result = {name: Signature.from_proto(name, s) for name, s in sig_map.signature_def.items()}
        with self._lock:
            self._signatures[key] = result
        return result

    def metadata(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        """{"model_spec": {...}, "signature_def": {name: {"method_name", "inputs", "outputs"}}}; never cached."""
        self.forget(model, version, label)
        signatures = self.signatures(model, version, label)
        return {"model_spec": {"name": model, "version": version, "version_label": label},
                "signature_def": {name: s.to_dict() for name, s in signatures.items()}}

    def status(self, model: str, version: int | None = None) -> list:
        """[{"version", "state", "error_code", "error_message"}] per version (ModelService.GetModelStatus)."""
        request = get_model_status_pb2.GetModelStatusRequest()
        _model_spec(request.model_spec, model, version)
        return _status_dict(self._call(self.models.GetModelStatus, request))

    def reload_config(self, config) -> None:
        """ModelService.HandleReloadConfigRequest with a `ModelServerConfig` (proto or its text format)."""
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2

        if isinstance(config, str):
            config = text_format.Parse(config, model_server_config_pb2.ModelServerConfig())
        response = self._call(self.models.HandleReloadConfigRequest, model_management_pb2.ReloadConfigRequest(config=config))
        if response.status.error_code:
            raise ServingError(_status_code(response.status.error_code), response.status.error_message)

    def health(self, service: str = "") -> str:
        """grpc.health.v1 Check: "SERVING", "NOT_SERVING", ..."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self._channel)
        response = self._call(stub.Check, health_pb2.HealthCheckRequest(service=service))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    # -- predict ---------------------------------------------------------------------------

    def predict_request(self, model, inputs, version=None, signature=None, label=None, output_filter=()):
        """Build the PredictRequest `predict` sends (inputs adapted to the signature)."""
        signatures = self.signatures(model, version, label)  # cached: names, dtypes, shapes
        signature = pick_signature(signatures, inputs, requested=signature)
        sig = signatures.get(signature)
        if sig is None:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                               f'Serving signature key "{signature}" not found.')
        try:
            arrays = adapt_inputs(inputs, sig)
        except (ValueError, TypeError) as exc:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        request = predict_pb2.PredictRequest(output_filter=list(output_filter or ()))
        _model_spec(request.model_spec, model, version, label, signature)
        for name, array in arrays.items():
            request.inputs[name].CopyFrom(to_tensor_proto(array, as_content=True))
        return request

    @staticmethod
    def _outputs(response) -> dict:
        return {name: to_ndarray(t) for name, t in response.outputs.items()}

    def predict(self, model: str, inputs, version: int | None = None, signature: str | None = None,
                label: str | None = None, output_filter: Sequence[str] = (), timeout: float | None = None) -> dict:
        """Run a model's signature; returns {output name: numpy array}.

        `inputs`: a dict of named arrays, one array, raw image bytes (or a list), variable-length
        sequences, or graph dicts (see `adapt_inputs`). With raw bytes and no `signature`, the model's
        signature taking a single string tensor is chosen.
        """
        request = self.predict_request(model, inputs, version, signature, label, output_filter)
        try:
            return self._outputs(self._call(self.prediction.Predict, request, timeout))
        except ServingError as exc:
            if exc.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                self.forget(model, version, label)  # the model may have changed: fetch its signatures again
            raise

    def forget(self, model: str, version=None, label=None) -> None:
        """Drop the cached signatures of a model (they are fetched again on the next call)."""
        with self._lock:
            self._signatures.pop((model, version, label), None)

    def predict_async(self, model: str, inputs, version=None, signature=None, label=None, output_filter=(),
                      timeout=None) -> concurrent.futures.Future:
        """Like `predict`, returning a Future of the outputs dict (raises ServingError on failure)."""
        request = self.predict_request(model, inputs, version, signature, label, output_filter)
        return self._future(self.prediction.Predict, request, self._outputs, timeout)

    # -- classify / regress ----------------------------------------------------------------

    def _input(self, request, model, examples, version, label, signature, feature_name, context):
        _model_spec(request.model_spec, model, version, label, signature)
        if feature_name is None and not isinstance(examples, (Mapping, example_pb2.Example)) and not (
                isinstance(examples, (list, tuple)) and examples and isinstance(examples[0], (Mapping, example_pb2.Example))):
            feature_name = _main_input(self.signatures(model, version, label).get("serving_default"))
        protos = make_examples(examples, feature_name)
        if context is not None:
            request.input.example_list_with_context.examples.extend(protos)
            request.input.example_list_with_context.context.CopyFrom(make_example(context))
        else:
            request.input.example_list.examples.extend(protos)
        return request

    @staticmethod
    def _classifications(response) -> list:
        return [[(c.label, c.score) for c in result.classes] for result in response.result.classifications]

    def classify(self, model: str, examples, version=None, signature: str | None = "classify", label=None,
                 feature_name: str | None = None, context=None, timeout=None) -> list:
        """TF Serving's Classify: [[(class label, score), ...] for each example].

        `examples`: tf.Examples, dicts of features, or an array [N, ...] whose rows go under
        `feature_name` (default: the name of serving_default's input, as `zoo.export` names the
        features). `signature` defaults to "classify" (TF Serving's default is serving_default).
        """
        request = self._input(classification_pb2.ClassificationRequest(), model, examples, version, label, signature,
                              feature_name, context)
        return self._classifications(self._call(self.prediction.Classify, request, timeout))

    def classify_async(self, model, examples, version=None, signature="classify", label=None, feature_name=None,
                       context=None, timeout=None) -> concurrent.futures.Future:
        request = self._input(classification_pb2.ClassificationRequest(), model, examples, version, label, signature,
                              feature_name, context)
        return self._future(self.prediction.Classify, request, self._classifications, timeout)

    def regress(self, model: str, examples, version=None, signature: str | None = "regress", label=None,
                feature_name: str | None = None, context=None, timeout=None) -> np.ndarray:
        """TF Serving's Regress: float32 [N], one value per example."""
        request = self._input(regression_pb2.RegressionRequest(), model, examples, version, label, signature,
                              feature_name, context)
        response = self._call(self.prediction.Regress, request, timeout)
        return np.array([r.value for r in response.result.regressions], dtype=np.float32)


def _status_code(value: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN
