"""The in-process backend: TensorFlow Serving's API over the model repository, with no transport.

    manager = ModelManager(); manager.reload_config(config); manager.start(poll_wait_seconds=1)
    backend = ModelServer(manager, batcher=Batcher(options), tensor_content=False)
    response = backend.predict(predict_pb2.PredictRequest(...), deadline=time.monotonic() + 5)

`ModelServer` takes TF Serving's request protos and returns its response protos, raising
`ServingError` (gRPC code + TF Serving's message) on failure. It looks the servable up in the
`ModelManager`, holds it for the duration of the call (so an unload waits for it), runs Predict,
Classify and Regress through the `Batcher` when batching is on and the signature is batchable
(requests share a batch only with requests to the same signature), and echoes the effective
model_spec (name, the version served - also for a request by label - and the signature name).
Predict outputs are written to the TensorProtos' typed fields (`float_val`, ...) as TF Serving does,
or to `tensor_content` with `tensor_content=True` (TF Serving's
--enable_serialization_as_tensor_content). Request tensors are decoded by serving.tensor_codec,
refusing (INVALID_ARGUMENT, naming the input) inputs that would take more than `max_request_bytes`
before they are allocated.

The transports are thin layers over this: serving.grpc_server (gRPC) and serving.rest (REST);
the gateway (serving.gateway.Gateway) has the same methods and forwards to an upstream instead.

Backend interface (ModelServer and Gateway): predict, classify, regress, multi_inference,
get_model_metadata, get_model_status, reload_config - each `(request, deadline=None) -> response`
with `deadline` a `time.monotonic()` time or None - plus `signatures(name, version, label) ->
{signature name: serving.signature.Signature}` for the REST layer, and `model_names()`.
"""

from __future__ import annotations

import time

import grpc
import numpy as np
from google.protobuf import any_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    predict_pb2,
    regression_pb2,
)

from serving import errors
from serving.batching import Batcher, batchable
from serving.metrics import ServingMetrics
from serving.signature import CLASSIFY_METHOD, REGRESS_METHOD, Signature
from serving.tensor_codec import TensorProtoError, to_ndarray, to_tensor_proto

__all__ = ["ModelServer", "check_deadline", "DEFAULT_MAX_REQUEST_BYTES"]

DEFAULT_SIGNATURE = "serving_default"
DEFAULT_MAX_REQUEST_BYTES = 256 << 20  # decoded inputs of one request: 4x the default gRPC message limit


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


def _decode_inputs(request, max_bytes: int | None) -> dict:
    """{alias: numpy array} of a PredictRequest's inputs; all of them together may take at most
    `max_bytes` once decoded (checked from their shapes before anything is allocated)."""
    inputs, left = {}, max_bytes
    for name, proto in sorted(request.inputs.items()):
        try:
            inputs[name] = to_ndarray(proto, max_bytes=left)
        except TensorProtoError as exc:
            raise errors.invalid_argument(f"input '{errors.echo(name)}': {exc}") from None
        if left is not None:
            left -= inputs[name].nbytes
    return inputs


def _code_number(code: grpc.StatusCode) -> int:
    return code.value[0]


class ModelServer:
    """TF Serving's API over a `serving.manager.ModelManager` (see the module docstring).

    Args:
        manager: the model repository.
        batcher: a `serving.batching.Batcher`, or None for no server-side batching.
        metrics: a `ServingMetrics` for batch sizes (requests are counted by the servers).
        tensor_content: write Predict outputs as `tensor_content` bytes instead of typed fields.
        max_request_bytes: the most bytes the decoded input tensors of one request may take (None: no
            limit); a TensorProto's single value may fill a declared shape of any size, so this is
            what stops a 55-byte request from allocating gigabytes.
    """

    def __init__(self, manager, batcher: Batcher | None = None, metrics: ServingMetrics | None = None,
                 tensor_content: bool = False, max_request_bytes: int | None = DEFAULT_MAX_REQUEST_BYTES):
        self.manager = manager
        self.batcher = batcher
        self.metrics = metrics
        self.tensor_content = bool(tensor_content)
        self.max_request_bytes = max_request_bytes

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
                return servable.run(signature_name, inputs, output_filter=output_filter, deadline=deadline)
            servable.validate(signature_name, inputs)  # errors name this request's own shapes
            return self.batcher.run(
                (id(servable), signature.name, output_filter),
                lambda batch, batch_deadline: servable.run(signature.name, batch, output_filter=output_filter,
                                                           deadline=batch_deadline),
                inputs, deadline, labels=(servable.name, servable.version, signature.name),
            )

        return run

    def predict(self, request: predict_pb2.PredictRequest, deadline=None) -> predict_pb2.PredictResponse:
        name, version, label = _request_spec(request)
        check_deadline(deadline)
        inputs = _decode_inputs(request, self.max_request_bytes)
        with self.manager.acquire(name, version, label) as servable:
            signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
            outputs = self._runner(servable, deadline)(signature_name, inputs, request.output_filter)
            response = predict_pb2.PredictResponse()
            _echo(response.model_spec, request.model_spec, servable, signature_name)
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(to_tensor_proto(value, as_content=self.tensor_content))
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
        """{signature name: serving.signature.Signature} of the version a request would get."""
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
        try:
            self.manager.reload_config(config)
        except ValueError as exc:
            raise errors.invalid_argument(str(exc)) from None
        return model_management_pb2.ReloadConfigResponse()
