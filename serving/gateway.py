"""Gateway mode: our gRPC + REST front end forwarding to an upstream TensorFlow Serving.

    python -m serving --upstream=tf-serving:8500 --port=8500 --rest_api_port=8501 --token=...

The real `tensorflow_model_server` runs the models; the gateway adds what it lacks: bearer-token
auth, Prometheus metrics per model / version / API, TLS towards clients, and input adapters, then
forwards each call to the upstream (keeping the caller's deadline). Upstream errors come back with
the upstream's code and message; an unreachable upstream is UNAVAILABLE.

Input adapters (`Gateway.adapt_predict`, applied to every Predict, gRPC or REST):
- raw image bytes: a request whose only input is a string tensor, sent to a signature that takes no
  string (an image model's serving_default), is routed to the model's image-bytes signature
  (`serving_bytes`), which decodes, resizes and normalizes in the graph;
- variable-length sequences: a request carrying a `mask` [N, T] or `lengths` [N] input next to the
  padded sequence is routed to the signature that takes it (`serving_lengths`), and a mask is turned
  into lengths (or lengths into a mask) as that signature needs;
- graph batches: a single graph without `node_graph_ids` gets them (all zeros).
Over REST, the serving.client adapters apply as well (ragged JSON lists padded, a list of graphs
batched, {"b64"} images), using the upstream's signatures (GetModelMetadata, cached `metadata_ttl` s).

    gateway = Gateway("127.0.0.1:8500", timeout=30, tls=False, token=None)
    Server(gateway, port=9500, rest_api_port=9501, auth=TokenAuth(["s3cret"])).start()
"""

from __future__ import annotations

import logging
import threading
import time

import grpc
import numpy as np
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import errors
from serving.client import LENGTH_NAMES, MASK_NAMES, pick_signature
from serving.signature import Signature
from serving.tensor_codec import to_ndarray, to_tensor_proto
from serving.errors import ServingError

log = logging.getLogger(__name__)


def _companion(names, candidates, suffix):
    return next((n for n in names if n in candidates or n.endswith(suffix)), None)


class Gateway:
    """A backend (same methods as serving.backend.ModelServer) that forwards to an upstream TF Serving.

    Args:
        upstream: "host:port" of the upstream's gRPC API.
        timeout: deadline of forwarded calls when the caller set none (seconds).
        tls: False, True (system roots), a root-certificate PEM path, or grpc.ChannelCredentials.
        token: bearer token sent upstream (when the upstream is one of our servers with --token).
        max_message_size: gRPC limit towards the upstream (bytes).
        metadata_ttl: seconds a model's signatures stay cached.
    """

    def __init__(self, upstream: str, timeout: float = 30.0, tls=False, token: str | None = None,
                 max_message_size: int = 64 << 20, metadata_ttl: float = 5.0):
        options = [("grpc.max_send_message_length", max_message_size),
                   ("grpc.max_receive_message_length", max_message_size)]
        if tls:
            if isinstance(tls, grpc.ChannelCredentials):
                credentials = tls
            elif tls is True:
                credentials = grpc.ssl_channel_credentials()
            else:
                with open(tls, "rb") as f:
                    credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
            self._channel = grpc.secure_channel(upstream, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(upstream, options=options)
        self.upstream = upstream
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._ttl = metadata_ttl
        self._cache: dict = {}
        self._lock = threading.Lock()
        self._seen: set = set()

    def close(self):
        self._channel.close()

    # -- forwarding ------------------------------------------------------------------------

    def _forward(self, method, request, deadline):
        timeout = self.timeout if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise errors.deadline_exceeded("Deadline exceeded before the request was forwarded")
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
            if code == grpc.StatusCode.UNAVAILABLE:
                details = f"upstream {self.upstream} unavailable: {details}"
            raise ServingError(code, details) from None

    def predict(self, request, deadline=None):
        return self._forward(self._prediction.Predict, self.adapt_predict(request, deadline), deadline)

    def classify(self, request, deadline=None):
        return self._forward(self._prediction.Classify, request, deadline)

    def regress(self, request, deadline=None):
        return self._forward(self._prediction.Regress, request, deadline)

    def multi_inference(self, request, deadline=None):
        return self._forward(self._prediction.MultiInference, request, deadline)

    def get_model_metadata(self, request, deadline=None):
        return self._forward(self._prediction.GetModelMetadata, request, deadline)

    def get_model_status(self, request, deadline=None):
        return self._forward(self._models.GetModelStatus, request, deadline)

    def reload_config(self, request, deadline=None):
        return self._forward(self._models.HandleReloadConfigRequest, request, deadline)

    def model_names(self) -> list:
        """The models seen through this gateway so far (the upstream has no list call)."""
        with self._lock:
            return sorted(self._seen)

    # -- signatures and adapters -------------------------------------------------------------

    def signatures(self, name: str, version=None, label=None, deadline=None) -> dict:
        """{signature name: Signature} from the upstream's GetModelMetadata, cached `metadata_ttl` s."""
        key = (name, version, label)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = int(version)
        if label:
            request.model_spec.version_label = label
        response = self.get_model_metadata(request, deadline)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        result = {k: Signature.from_proto(k, v) for k, v in sig_map.signature_def.items()}
        with self._lock:
            self._cache[key] = (now, result)
            self._seen.add(name)
        return result

    def adapt_predict(self, request: predict_pb2.PredictRequest, deadline=None) -> predict_pb2.PredictRequest:
        """The request the upstream should get (see the module docstring); unchanged when it fits."""
        spec = request.model_spec
        if not spec.name:
            return request  # the upstream answers the error
        try:
            signatures = self.signatures(spec.name, spec.version.value if spec.HasField("version") else None,
                                         spec.version_label or None, deadline)
        except ServingError:
            return request  # unknown model / version: the upstream answers with its own wording
        requested = spec.signature_name or "serving_default"
        target = signatures.get(requested)
        names = set(request.inputs)
        if target is not None and names == set(target.inputs):
            return request  # fast path: the request fits its signature
        inputs = {}
        for name, proto in request.inputs.items():
            try:
                inputs[name] = to_ndarray(proto)
            except ValueError as exc:
                raise errors.invalid_argument(f"input '{name}': {exc}") from None
        name = self._route(signatures, requested, target, inputs, explicit=bool(spec.signature_name))
        if name is None:
            return request
        signature = signatures[name]
        adapted = self._fit(signature, inputs)
        if adapted is None:
            return request
        out = predict_pb2.PredictRequest()
        out.CopyFrom(request)
        out.model_spec.signature_name = name
        for key in list(out.inputs):
            del out.inputs[key]
        for key, value in adapted.items():
            out.inputs[key].CopyFrom(to_tensor_proto(value, as_content=True))
        return out

    @staticmethod
    def _route(signatures, requested, target, inputs, explicit):
        """Which signature should run `inputs` (None: leave the request alone)."""
        if explicit and target is not None:
            return requested
        values = list(inputs.values())
        if len(values) == 1 and values[0].dtype == object and (target is None or not target.takes_bytes()):
            try:
                return pick_signature(signatures, list(values[0].reshape(-1)))
            except ValueError:
                return None
        if any(n in MASK_NAMES or n in LENGTH_NAMES for n in inputs) and target is not None:
            for name, signature in sorted(signatures.items()):
                wants = set(signature.inputs)
                if wants & (set(MASK_NAMES) | set(LENGTH_NAMES)) and signature.method_name == target.method_name:
                    data = {n for n in inputs if n not in MASK_NAMES and n not in LENGTH_NAMES}
                    if data <= wants:
                        return name
        return requested if target is not None else None

    @staticmethod
    def _fit(signature: Signature, inputs: dict):
        """Rename / complete `inputs` for `signature`; None when it cannot be done."""
        wants = list(signature.inputs)
        out = {}
        if len(wants) == 1 and len(inputs) == 1:
            return {wants[0]: next(iter(inputs.values()))}
        for name in wants:
            if name in inputs:
                out[name] = inputs[name]
        mask_in = _companion(inputs, MASK_NAMES, "_mask")
        lengths_in = _companion(inputs, LENGTH_NAMES, "_lengths")
        for name in wants:
            if name in out:
                continue
            if name in LENGTH_NAMES and mask_in is not None:
                out[name] = np.asarray(inputs[mask_in]).astype(bool).sum(axis=1).astype(
                    signature.inputs[name].dtype or np.int32)
            elif name in MASK_NAMES and lengths_in is not None:
                lengths = np.asarray(inputs[lengths_in]).reshape(-1)
                data = next((v for k, v in out.items() if np.ndim(v) >= 2), None)
                steps = data.shape[1] if data is not None else int(lengths.max(initial=0))
                out[name] = (np.arange(steps)[None, :] < lengths[:, None]).astype(signature.inputs[name].dtype or bool)
            elif name == "node_graph_ids" and "node_features" in inputs:
                out[name] = np.zeros(len(inputs["node_features"]), dtype=signature.inputs[name].dtype or np.int32)
            else:
                return None
        return out
