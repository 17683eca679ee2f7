"""A SignatureDef as Python data: the one `Signature` / `TensorSpec` type of the servable, the REST
layer, the gateway and the client.

    signature = Signature.from_proto("serving_default", signature_def)
    signature.method_name                     # "tensorflow/serving/predict"
    spec = signature.inputs["x"]              # TensorSpec
    spec.dtype                                # numpy dtype: float32; object for DT_STRING; None for types
                                              # numpy has no dtype for (DT_RESOURCE, DT_VARIANT)
    spec.type_enum, spec.type_text()          # types_pb2.DT_FLOAT, "float"
    spec.shape                                # (None, 1): None for unknown sizes; None for unknown rank
    spec.shape_text()                         # "[-1,1]", as TF Serving prints shapes
    spec.tensor_name                          # "x:0", the graph tensor behind the alias
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from serving.tensor_codec import TensorProtoError, numpy_dtype, type_text

__all__ = ["TensorSpec", "Signature", "PREDICT_METHOD", "CLASSIFY_METHOD", "REGRESS_METHOD"]

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature (see the module docstring)."""

    name: str
    dtype: np.dtype | None
    shape: tuple | None
    tensor_name: str = ""
    type_enum: int = 0

    @classmethod
    def from_tensor_info(cls, name: str, info) -> "TensorSpec":
        try:
            dtype = numpy_dtype(info.dtype)
        except TensorProtoError:
            dtype = None
        shape = None if info.tensor_shape.unknown_rank else tuple(
            None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
        return cls(name, dtype, shape, info.name, int(info.dtype))

    def type_text(self) -> str:
        return type_text(self.type_enum)

    def shape_text(self) -> str:
        """The shape as TF Serving prints it, -1 for unknown sizes: "[-1,8,8,1]"."""
        if self.shape is None:
            return "<unknown rank>"
        return "[" + ",".join("-1" if d is None else str(d) for d in self.shape) + "]"

    def to_dict(self) -> dict:
        return {"dtype": str(self.dtype) if self.dtype is not None else None,
                "shape": list(self.shape) if self.shape is not None else None}


@dataclass(frozen=True)
class Signature:
    """A SignatureDef reduced to what a caller needs: method name, input and output specs by alias."""

    name: str
    method_name: str
    inputs: dict = field(default_factory=dict)   # alias -> TensorSpec
    outputs: dict = field(default_factory=dict)  # alias -> TensorSpec

    @classmethod
    def from_proto(cls, name: str, signature_def) -> "Signature":
        return cls(
            name,
            signature_def.method_name,
            {k: TensorSpec.from_tensor_info(k, v) for k, v in sorted(signature_def.inputs.items())},
            {k: TensorSpec.from_tensor_info(k, v) for k, v in sorted(signature_def.outputs.items())},
        )

    def takes_bytes(self) -> bool:
        """True for a signature whose single input is a string tensor (encoded images, serialized Examples)."""
        return len(self.inputs) == 1 and next(iter(self.inputs.values())).dtype == np.dtype(object)

    def to_dict(self) -> dict:
        return {"method_name": self.method_name,
                "inputs": {k: v.to_dict() for k, v in self.inputs.items()},
                "outputs": {k: v.to_dict() for k, v in self.outputs.items()}}
