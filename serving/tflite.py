"""A TensorFlow Lite model served as TF Serving serves one (`--prefer_tflite_model`).

    servable = TfLiteServable(name, version, path)    # path/model.tflite; same interface as
                                                      # serving.servable.Servable

Signatures, as TF Serving's TfLiteSession builds them:
- a model written with TF Serving's `signature_def_utils.set_signature_defs` carries its SignatureDefs
  in the flatbuffer's "signature_defs_metadata" buffer (a FlexBuffer map: signature name ->
  serialized SignatureDef, whose tensor names are the TFLite tensor names plus ":0");
- otherwise one "serving_default" predict signature whose input and output aliases are the
  model's input and output tensor names.

Each run resizes the inputs to the fed shapes (as TF Serving does), so [1] feeds a [1, 1] input.
A `tf.lite.Interpreter` is not thread-safe: runs of one servable are serialized by a lock.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
from tensorflow.core.framework import tensor_shape_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving import errors
from serving.servable import DEFAULT_SIGNATURE, PREDICT_METHOD, TFLITE_FILE, Servable
from serving.tensor_codec import tf_dtype

__all__ = ["TfLiteServable", "SIGNATURE_DEFS_METADATA"]

SIGNATURE_DEFS_METADATA = "signature_defs_metadata"


def _embedded_signature_defs(model_bytes: bytes) -> dict:
    """{name: SignatureDef} stored in the model's signature_defs_metadata buffer ({} when absent)."""
    from flatbuffers import flexbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(model_bytes, 0)
    for i in range(model.MetadataLength()):
        metadata = model.Metadata(i)
        if metadata.Name().decode() != SIGNATURE_DEFS_METADATA:
            continue
        root = flexbuffers.GetRoot(model.Buffers(metadata.Buffer()).DataAsNumpy().tobytes()).AsMap
        out = {}
        for key, value in zip(root.Keys, root.Values):
            signature_def = meta_graph_pb2.SignatureDef()
            signature_def.ParseFromString(value.AsStringBytes if value.IsString else bytes(value.AsBlob))
            out[key.AsKey] = signature_def
        return out
    return {}


def _tensor_info(detail) -> meta_graph_pb2.TensorInfo:
    shape = detail.get("shape_signature", detail["shape"])
    return meta_graph_pb2.TensorInfo(
        name=detail["name"] + ":0",
        dtype=tf_dtype(np.dtype(detail["dtype"])),
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in shape]),
    )


class TfLiteServable(Servable):
    """A model.tflite behind TF Serving's signatures (Args as serving.servable.Servable)."""

    def __init__(self, name: str, version: int, path, method_name_check: bool = False):
        super().__init__(name, version, path, method_name_check)
        import tensorflow as tf

        model_path = f"{self.path}/{TFLITE_FILE}"
        try:
            with open(model_path, "rb") as f:
                model_bytes = f.read()
            with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated": still TF's own runtime here
                warnings.simplefilter("ignore")
                self._interpreter = tf.lite.Interpreter(model_content=model_bytes)
            self._interpreter.allocate_tensors()
        except (OSError, ValueError, RuntimeError) as error:
            raise errors.invalid_argument(f"Failed to load TF Lite model at {model_path}: {error}") from None
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        self._index = {d["name"]: d["index"] for d in inputs + outputs}
        self._signature_defs = _embedded_signature_defs(model_bytes)
        if not self._signature_defs:
            default = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
            for d in inputs:
                default.inputs[d["name"]].CopyFrom(_tensor_info(d))
            for d in outputs:
                default.outputs[d["name"]].CopyFrom(_tensor_info(d))
            self._signature_defs = {DEFAULT_SIGNATURE: default}
        self._run_lock = threading.Lock()
        self._init_signatures()

    def _tensor_index(self, tensor_name: str) -> int:
        name = tensor_name[:-2] if tensor_name.endswith(":0") else tensor_name
        if name not in self._index:
            raise errors.failed_precondition(f"TF Lite model {self.name} has no tensor {name}")
        return self._index[name]

    def _execute(self, signature, feeds: dict, fetches: list, deadline) -> dict:
        interpreter = self._interpreter
        with self._run_lock:
            try:
                for alias, array in feeds.items():
                    index = self._tensor_index(signature.inputs[alias].tensor_name)
                    if tuple(interpreter.get_tensor(index).shape) != array.shape:
                        interpreter.resize_tensor_input(index, list(array.shape))
                interpreter.allocate_tensors()
                for alias, array in feeds.items():
                    interpreter.set_tensor(self._tensor_index(signature.inputs[alias].tensor_name), array)
                interpreter.invoke()
                return {alias: np.copy(interpreter.get_tensor(self._tensor_index(signature.outputs[alias].tensor_name)))
                        for alias in fetches}
            except (ValueError, RuntimeError) as error:
                raise errors.invalid_argument(f"TF Lite model {self.name}: {error}") from None

    def _close(self) -> None:
        self._interpreter = None
