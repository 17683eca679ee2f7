"""serving.tensor_codec against TensorFlow's own TensorProto reader and writer (tf.make_ndarray /
tf.make_tensor_proto), and the cases where it must refuse before allocating anything."""

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from serving.tensor_codec import TensorProtoError, decoded_bytes, to_ndarray, to_tensor_proto

DTYPES = [np.float32, np.float64, np.float16, ml_dtypes.bfloat16, np.int8, np.int16, np.int32, np.int64,
          np.uint8, np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128]


def proto(dtype, shape, **values):
    return tensor_pb2.TensorProto(
        dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]), **values)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("as_content", [False, True], ids=["typed", "content"])
def test_round_trip_and_tensorflow_reads_what_we_write(dtype, as_content):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(2, 3)) * 50).astype(dtype)
    written = to_tensor_proto(array, as_content=as_content)
    assert bool(written.tensor_content) == as_content
    np.testing.assert_array_equal(to_ndarray(written), array)
    np.testing.assert_array_equal(tf.make_ndarray(written), array)


def test_typed_fields_as_tf_serving_writes_them():
    out = to_tensor_proto(np.array([[3.0, 3.5]], np.float32))
    assert list(out.float_val) == [3.0, 3.5] and out.dtype == types_pb2.DT_FLOAT and not out.tensor_content
    assert [d.size for d in out.tensor_shape.dim] == [1, 2]
    assert list(to_tensor_proto(np.array([1, 2], np.int64)).int64_val) == [1, 2]
    assert list(to_tensor_proto(np.array([b"a", b"b"], dtype=object)).string_val) == [b"a", b"b"]


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8, np.float16, np.bool_], ids=str)
def test_reading_follows_tensorflow(dtype):
    """Whatever tf.make_tensor_proto writes (typed fields, one value for a whole shape), we read alike."""
    for value, shape in [([1, 2, 3, 4, 5, 6], [2, 3]), ([7], [2, 3]), ([1], [])]:
        written = tf.make_tensor_proto(np.array(value).astype(dtype), shape=shape)
        np.testing.assert_array_equal(to_ndarray(written), tf.make_ndarray(written))


def test_fewer_values_are_completed_with_the_last_and_more_are_refused():
    np.testing.assert_array_equal(to_ndarray(proto(types_pb2.DT_FLOAT, [4], float_val=[1, 2])), [1, 2, 2, 2])
    np.testing.assert_array_equal(to_ndarray(proto(types_pb2.DT_FLOAT, [2])), [0, 0])
    with pytest.raises(TensorProtoError, match="holds 2 values but the proto has 3 in float_val"):
        to_ndarray(proto(types_pb2.DT_FLOAT, [2], float_val=[1, 2, 3]))


def test_out_of_range_integers_wrap_as_in_cpp():
    np.testing.assert_array_equal(to_ndarray(proto(types_pb2.DT_UINT8, [2], int_val=[300, -1])), [44, 255])
    np.testing.assert_array_equal(to_ndarray(proto(types_pb2.DT_INT8, [1], int_val=[200])), [-56])
    half = to_ndarray(proto(types_pb2.DT_HALF, [1], half_val=[70000]))  # bit pattern wraps to 16 bits
    assert half.dtype == np.float16


def test_huge_shapes_are_refused_before_allocation():
    one_value = proto(types_pb2.DT_FLOAT, [100000, 32, 32, 1], float_val=[1.0])
    with pytest.raises(TensorProtoError, match="takes 409600000 bytes, more than the 1000000"):
        to_ndarray(one_value, max_bytes=1_000_000)
    assert decoded_bytes(one_value) == 409600000
    with pytest.raises(TensorProtoError, match="negative dimension"):
        to_ndarray(proto(types_pb2.DT_FLOAT, [-2]))
    with pytest.raises(TensorProtoError, match="tensor_content holds 3 bytes"):
        to_ndarray(proto(types_pb2.DT_FLOAT, [1], tensor_content=b"abc"))
    with pytest.raises(TensorProtoError, match="unsupported tensor dtype DT_RESOURCE"):
        to_ndarray(proto(types_pb2.DT_RESOURCE, [1]))
