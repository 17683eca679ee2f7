"""TensorProto <-> numpy, as TensorFlow Serving reads and writes them.

    array = to_ndarray(proto, max_bytes=None)        # any TensorProto -> numpy (DT_STRING -> object array of bytes)
    decoded_bytes(proto)                             # what that array takes, computed from the shape alone
    proto = to_tensor_proto(array)                   # numpy -> TensorProto with the typed fields (float_val, ...)
    proto = to_tensor_proto(array, as_content=True)  # ... numeric values as little-endian tensor_content bytes

Reading follows TensorFlow's own `Tensor::FromProto`: values come from `tensor_content` or from the
typed field of the dtype (`float_val`, `int_val`, `half_val` holding float16 / bfloat16 bits, ...);
fewer values than the shape holds are completed with the last one (so one value fills the whole
tensor), more is an error; integers are converted as C++ does (int_val 300 into DT_UINT8 is 44).
The decoded size is checked against `max_bytes` *before* anything is allocated, so a 50-byte proto
declaring a [100000, 32, 32, 1] shape costs nothing.

Writing follows TF Serving's Predict: typed fields by default (clients read
`response.outputs["y"].float_val`), `tensor_content` with TF Serving's
`--enable_serialization_as_tensor_content`. Every error is a `TensorProtoError` (a ValueError) whose
message says what is wrong in the proto, never a numpy or Python exception text.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

__all__ = ["TensorProtoError", "to_ndarray", "to_tensor_proto", "tensor_shape", "element_count", "decoded_bytes",
           "numpy_dtype", "tf_dtype", "dtype_name", "type_text"]


class TensorProtoError(ValueError):
    """A TensorProto that cannot become a tensor (the message says why, in TF Serving's terms)."""


_NP_TO_DT = {
    np.dtype(np.float32): types_pb2.DT_FLOAT,
    np.dtype(np.float64): types_pb2.DT_DOUBLE,
    np.dtype(np.float16): types_pb2.DT_HALF,
    np.dtype(ml_dtypes.bfloat16): types_pb2.DT_BFLOAT16,
    np.dtype(np.int8): types_pb2.DT_INT8,
    np.dtype(np.int16): types_pb2.DT_INT16,
    np.dtype(np.int32): types_pb2.DT_INT32,
    np.dtype(np.int64): types_pb2.DT_INT64,
    np.dtype(np.uint8): types_pb2.DT_UINT8,
    np.dtype(np.uint16): types_pb2.DT_UINT16,
    np.dtype(np.uint32): types_pb2.DT_UINT32,
    np.dtype(np.uint64): types_pb2.DT_UINT64,
    np.dtype(np.bool_): types_pb2.DT_BOOL,
    np.dtype(np.complex64): types_pb2.DT_COMPLEX64,
    np.dtype(np.complex128): types_pb2.DT_COMPLEX128,
}
_DT_TO_NP = {dt: np_dtype for np_dtype, dt in _NP_TO_DT.items()}
_DT_TO_NP[types_pb2.DT_STRING] = np.dtype(object)

# The typed field that holds each dtype's values, and the numpy type those values have in it.
_FIELD = {
    types_pb2.DT_FLOAT: ("float_val", np.float32),
    types_pb2.DT_DOUBLE: ("double_val", np.float64),
    types_pb2.DT_HALF: ("half_val", np.int32),       # float16 bit patterns
    types_pb2.DT_BFLOAT16: ("half_val", np.int32),   # bfloat16 bit patterns
    types_pb2.DT_INT8: ("int_val", np.int32),
    types_pb2.DT_INT16: ("int_val", np.int32),
    types_pb2.DT_INT32: ("int_val", np.int32),
    types_pb2.DT_UINT8: ("int_val", np.int32),
    types_pb2.DT_UINT16: ("int_val", np.int32),
    types_pb2.DT_INT64: ("int64_val", np.int64),
    types_pb2.DT_UINT32: ("uint32_val", np.uint32),
    types_pb2.DT_UINT64: ("uint64_val", np.uint64),
    types_pb2.DT_BOOL: ("bool_val", np.bool_),
    types_pb2.DT_COMPLEX64: ("scomplex_val", np.float32),   # real, imaginary, real, ...
    types_pb2.DT_COMPLEX128: ("dcomplex_val", np.float64),
    types_pb2.DT_STRING: ("string_val", object),
}
_BITS = {types_pb2.DT_HALF: np.float16, types_pb2.DT_BFLOAT16: ml_dtypes.bfloat16}


def dtype_name(dt: int) -> str:
    """`types_pb2.DT_FLOAT` -> "DT_FLOAT" (an unknown number is printed as such)."""
    try:
        return types_pb2.DataType.Name(dt)
    except ValueError:
        return f"DataType {dt}"


def type_text(dt: int) -> str:
    """The dtype as TensorFlow prints it in messages: DT_FLOAT -> "float", DT_STRING -> "string"."""
    return dtype_name(dt).removeprefix("DT_").lower()


def numpy_dtype(dt: int) -> np.dtype:
    """The numpy dtype of a `types_pb2.DataType` (object for DT_STRING); TensorProtoError when unsupported."""
    try:
        return _DT_TO_NP[dt]
    except KeyError:
        raise TensorProtoError(f"unsupported tensor dtype {dtype_name(dt)}") from None


def tf_dtype(dtype) -> int:
    """The `types_pb2.DataType` of a numpy dtype; strings, bytes and objects map to DT_STRING."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return types_pb2.DT_STRING
    try:
        return _NP_TO_DT[dtype]
    except KeyError:
        raise TensorProtoError(f"no TensorFlow dtype for numpy dtype {dtype}") from None


def tensor_shape(proto: tensor_pb2.TensorProto) -> tuple[int, ...]:
    return tuple(int(d.size) for d in proto.tensor_shape.dim)


MAX_DIMS_PRODUCT = 2 ** 58  # the sizes' product (zeros aside) times 16 bytes must fit numpy's int64 sizes


def element_count(shape) -> int:
    """Elements of a shape, as a Python int (no overflow, whatever the sizes). Negative sizes, and sizes
    whose product (zeros left out) exceeds what an array can have, are an error."""
    count, nonzero = 1, 1
    for d in shape:
        if d < 0:
            raise TensorProtoError(f"tensor shape {list(shape)} has a negative dimension")
        count *= int(d)
        nonzero *= max(int(d), 1)
    if nonzero > MAX_DIMS_PRODUCT:
        raise TensorProtoError(f"tensor shape {list(shape)} is too large to be a tensor")
    return count


def _as_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview, np.bytes_)):
        return bytes(value)
    if isinstance(value, (str, np.str_)):
        return value.encode("utf-8")
    raise TensorProtoError(f"a string tensor holds bytes or str, got {type(value).__name__}")


def _typed_values(proto, field: str, kind) -> np.ndarray:
    values = getattr(proto, field)
    if kind is object:
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
        return array
    return np.fromiter(values, dtype=kind, count=len(values))


def decoded_bytes(proto: tensor_pb2.TensorProto) -> int:
    """Bytes of the array `to_ndarray(proto)` makes (8 per string: the references), from its shape."""
    itemsize = numpy_dtype(proto.dtype).itemsize  # 8 for object arrays
    return element_count(tensor_shape(proto)) * itemsize


def to_ndarray(proto: tensor_pb2.TensorProto, max_bytes: int | None = None) -> np.ndarray:
    """TensorProto -> numpy array (see the module docstring); TensorProtoError when malformed.

    Args:
        proto: the TensorProto.
        max_bytes: refuse (before allocating) a tensor that would take more bytes than this; None: no limit.
    """
    dtype = numpy_dtype(proto.dtype)
    shape = tensor_shape(proto)
    if proto.tensor_shape.unknown_rank:
        raise TensorProtoError("a tensor to run cannot have an unknown rank")
    size = element_count(shape)
    if max_bytes is not None and size * dtype.itemsize > max_bytes:
        raise TensorProtoError(
            f"tensor shape {list(shape)} of {dtype_name(proto.dtype)} takes {size * dtype.itemsize} bytes, more than "
            f"the {max_bytes} this server accepts in one request")
    if proto.tensor_content and proto.dtype != types_pb2.DT_STRING:
        content = proto.tensor_content
        if len(content) != size * dtype.itemsize:
            raise TensorProtoError(
                f"tensor_content holds {len(content)} bytes, shape {list(shape)} of {dtype_name(proto.dtype)} "
                f"needs {size * dtype.itemsize}")
        return np.frombuffer(content, dtype=dtype.newbyteorder("<")).astype(dtype, copy=True).reshape(shape)
    field, kind = _FIELD[proto.dtype]
    values = _typed_values(proto, field, kind)
    if proto.dtype in (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128):
        if len(values) % 2:
            raise TensorProtoError(f"{field} holds an odd number of values ({len(values)}): real, imaginary pairs")
        values = (values[0::2] + 1j * values[1::2]).astype(dtype)
    elif proto.dtype in _BITS:
        values = values.astype(np.uint16).view(_BITS[proto.dtype])
    elif kind is not object and dtype != values.dtype:
        values = values.astype(dtype)  # wraps out-of-range integers as C++'s static_cast does
    if len(values) > size:
        raise TensorProtoError(
            f"tensor of shape {list(shape)} holds {size} values but the proto has {len(values)} in {field}")
    if len(values) == size:
        return values.reshape(shape)
    out = np.empty(size, dtype=dtype)
    if len(values) == 0:
        out[:] = b"" if kind is object else 0
    else:  # as TensorFlow: the last value fills the rest
        out[: len(values)] = values
        out[len(values):] = values[-1]
    return out.reshape(shape)


def to_tensor_proto(value, dtype=None, as_content: bool = False) -> tensor_pb2.TensorProto:
    """numpy array (or anything `np.asarray` takes; bytes and str give DT_STRING) -> TensorProto.

    Args:
        value: the array (a TensorProto is returned as is).
        dtype: numpy dtype to cast to first.
        as_content: numeric values as little-endian `tensor_content` bytes instead of the typed field.
    """
    if isinstance(value, tensor_pb2.TensorProto):
        return value
    if isinstance(value, (bytes, bytearray)):
        array = np.array(bytes(value), dtype=object)
    else:
        array = np.asarray(value, dtype=dtype) if dtype is not None else np.asarray(value)
    proto = tensor_pb2.TensorProto(
        dtype=tf_dtype(array.dtype),
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in array.shape]),
    )
    flat = array.reshape(-1)
    if proto.dtype == types_pb2.DT_STRING:
        proto.string_val.extend(_as_bytes(v) for v in flat.tolist())
    elif as_content:
        proto.tensor_content = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    else:
        field, kind = _FIELD[proto.dtype]
        if proto.dtype in _BITS:
            flat = flat.view(np.uint16).astype(np.int32)
        elif array.dtype.kind == "c":
            flat = np.stack([flat.real, flat.imag], axis=-1).reshape(-1).astype(kind)
        getattr(proto, field).extend(flat.tolist())
    return proto
