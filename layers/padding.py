"""Padding layers with a choice of border mode: constant, reflect, replicate, symmetric, circular.

`Padding1D`, `Padding2D` and `Padding3D` share one implementation (`_PaddingND`); they differ only
in the number of spatial axes. Data is channels-last: `(batch, *spatial, channels)`.

The modes, on `x = [1, 2, 3]` padded by 2 on each side (numpy.pad's name in brackets):

| mode        | result          | border rule                                 | numpy.pad   |
| ----------- | --------------- | ------------------------------------------- | ----------- |
| `constant`  | `0 0 1 2 3 0 0` | fill with `constant_value`                  | `constant`  |
| `reflect`   | `3 2 1 2 3 2 1` | mirror, edge value not repeated; pad < size | `reflect`   |
| `replicate` | `1 1 1 2 3 3 3` | repeat the edge value; any padding          | `edge`      |
| `symmetric` | `2 1 1 2 3 3 2` | mirror, edge value repeated; pad <= size    | `symmetric` |
| `circular`  | `2 3 1 2 3 1 2` | wrap around; pad <= size                    | `wrap`      |

The size limits are those of PyTorch's `reflect` / `circular` padding and TensorFlow's
`REFLECT` / `SYMMETRIC`. They are checked when the layer is called (a `ValueError` naming the axis
when the size is known statically; a runtime `InvalidArgumentError` from a TensorFlow assertion when
the size is only known at run time).
"""

import operator

import keras
import tensorflow as tf
from keras import ops

from layers._blocks import Block

MODES = ("constant", "reflect", "replicate", "symmetric", "circular")


def _as_nonnegative_int(value, what):
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, got {value!r}.")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, got {value!r} ({type(value).__name__}).") from None
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}.")
    return value


def _normalize_padding(padding, rank):
    """Return `padding` as a tuple of `rank` `(before, after)` pairs of non-negative ints.

    Accepts an int (same padding on every side of every spatial axis); for `rank == 1` a pair
    `(before, after)` (as `keras.layers.ZeroPadding1D` does); or a sequence of `rank` entries, one
    per spatial axis, each an int (both sides) or a `(before, after)` pair.
    """
    if not isinstance(padding, (list, tuple)):
        p = _as_nonnegative_int(padding, "padding")
        return ((p, p),) * rank
    padding = tuple(padding)
    if rank == 1 and len(padding) == 2 and not any(isinstance(p, (list, tuple)) for p in padding):
        padding = (padding,)
    if len(padding) != rank:
        raise ValueError(
            f"padding must be an int or a sequence of {rank} entries (one per spatial axis, each "
            f"an int or a (before, after) pair), got {padding!r}."
        )
    pairs = []
    for axis, entry in enumerate(padding):
        if isinstance(entry, (list, tuple)):
            if len(entry) != 2:
                raise ValueError(
                    f"padding for spatial axis {axis} must be an int or a (before, after) pair, "
                    f"got {entry!r}."
                )
            before = _as_nonnegative_int(entry[0], f"padding[{axis}][0] (before)")
            after = _as_nonnegative_int(entry[1], f"padding[{axis}][1] (after)")
        else:
            before = after = _as_nonnegative_int(entry, f"padding[{axis}]")
        pairs.append((before, after))
    return tuple(pairs)


def _slice_axis(x, axis, start, stop):
    return x[(slice(None),) * axis + (slice(start, stop),)]


class _PaddingND(Block):
    """Shared implementation of `Padding1D/2D/3D`; subclasses set `_rank` (spatial axes)."""

    _rank = None
    config_keys = ("padding", "mode", "constant_value")

    def __init__(self, padding=1, mode="constant", constant_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.padding = _normalize_padding(padding, self._rank)
        if not isinstance(mode, str) or mode.lower() not in MODES:
            raise ValueError(f"Unknown padding mode {mode!r}; valid modes are {', '.join(MODES)}.")
        self.mode = mode.lower()
        if self.mode != "constant" and constant_value != 0:
            raise ValueError(
                f"constant_value={constant_value!r} is only used with mode='constant', "
                f"got mode={self.mode!r}."
            )
        self.constant_value = float(constant_value)
        self.input_spec = keras.InputSpec(ndim=self._rank + 2)

    # Size limits -------------------------------------------------------------------------------

    def _limit(self):
        """`(max padding as a function of size, description)` for the mode, or None."""
        if self.mode == "reflect":
            return (lambda size: size - 1), "less than"
        if self.mode in ("symmetric", "circular"):
            return (lambda size: size), "at most"
        return None

    def _check_static_sizes(self, shape):
        limit = self._limit()
        if limit is None:
            return
        max_pad, relation = limit
        for i, (before, after) in enumerate(self.padding):
            size = shape[i + 1]
            if size is None or max(before, after) <= max_pad(size):
                continue
            raise ValueError(
                f"{type(self).__name__} mode={self.mode!r} needs padding {relation} the size of "
                f"the padded axis, but axis {i + 1} (spatial axis {i}) has size {size} and padding "
                f"(before, after)={(before, after)}. Use a smaller padding, or "
                f"mode='replicate' / 'constant' which accept any padding."
            )

    def _dynamic_size_assertions(self, x):
        limit = self._limit()
        if limit is None:
            return []
        max_pad, relation = limit
        checks = []
        for i, (before, after) in enumerate(self.padding):
            pad = max(before, after)
            if pad == 0 or x.shape[i + 1] is not None:
                continue
            size = tf.shape(x)[i + 1]
            message = (
                f"{type(self).__name__} mode={self.mode!r} needs padding {relation} the size of "
                f"axis {i + 1} (spatial axis {i}); padding is {pad}"
            )
            if self.mode == "reflect":
                checks.append(tf.debugging.assert_less(pad, size, message=message))
            else:
                checks.append(tf.debugging.assert_less_equal(pad, size, message=message))
        return checks

    # Keras API ---------------------------------------------------------------------------------

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self._rank + 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank {self._rank + 2} "
                f"(batch, {self._rank} spatial axes, channels), got shape {input_shape}."
            )
        self._check_static_sizes(input_shape)
        spatial = tuple(
            None if size is None else size + before + after
            for size, (before, after) in zip(input_shape[1:-1], self.padding)
        )
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def call(self, inputs):
        self._check_static_sizes(tuple(inputs.shape))
        checks = self._dynamic_size_assertions(inputs)
        if checks:
            with tf.control_dependencies(checks):
                inputs = tf.identity(inputs)
        if self.mode in ("constant", "reflect", "symmetric"):
            pad_width = ((0, 0),) + self.padding + ((0, 0),)
            if self.mode == "constant":
                value = ops.cast(self.constant_value, inputs.dtype)
                return ops.pad(inputs, pad_width, mode="constant", constant_values=value)
            return ops.pad(inputs, pad_width, mode=self.mode)
        # replicate / circular: concatenate slices, one spatial axis at a time.
        x = inputs
        for i, (before, after) in enumerate(self.padding):
            axis = i + 1
            parts = []
            if before:
                if self.mode == "replicate":
                    parts.append(ops.repeat(_slice_axis(x, axis, 0, 1), before, axis=axis))
                else:
                    parts.append(_slice_axis(x, axis, -before, None))
            parts.append(x)
            if after:
                if self.mode == "replicate":
                    parts.append(ops.repeat(_slice_axis(x, axis, -1, None), after, axis=axis))
                else:
                    parts.append(_slice_axis(x, axis, 0, after))
            if len(parts) > 1:
                x = ops.concatenate(parts, axis=axis)
        return x


@keras.saving.register_keras_serializable(package="zoo")
class Padding1D(_PaddingND):
    """Pads the steps axis of a sequence with a chosen border mode.

    Args:
        padding: int (same on both sides), or a pair of ints `(before, after)` as in
            `keras.layers.ZeroPadding1D` (`((before, after),)` is accepted too). Values >= 0.
        mode: one of `"constant"`, `"reflect"`, `"replicate"`, `"symmetric"`, `"circular"` (see
            the module docstring; numpy.pad calls replicate `"edge"` and circular `"wrap"`).
            `"reflect"` needs padding < steps; `"symmetric"` and `"circular"` need
            padding <= steps.
        constant_value: value used by `mode="constant"` (default 0), cast to the input dtype.
            Must stay 0 for the other modes.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        3D tensor `(batch, steps, channels)`.

    Output shape:
        3D tensor `(batch, before + steps + after, channels)`.

    Example:

    >>> x = np.array([1.0, 2.0, 3.0], "float32").reshape(1, 3, 1)
    >>> Padding1D(2, mode="reflect")(x)[0, :, 0]  # 3, 2, 1, 2, 3, 2, 1
    """

    _rank = 1


@keras.saving.register_keras_serializable(package="zoo")
class Padding2D(_PaddingND):
    """Pads the rows and columns of an image with a chosen border mode.

    Args:
        padding: int (every side), or `(rows_padding, cols_padding)` where each entry is an int
            (both sides) or a `(before, after)` pair, as in `keras.layers.ZeroPadding2D`.
            E.g. `((1, 2), 3)`: 1 row on top, 2 at the bottom, 3 columns left and right.
            Values >= 0.
        mode: one of `"constant"`, `"reflect"`, `"replicate"`, `"symmetric"`, `"circular"` (see
            the module docstring; numpy.pad calls replicate `"edge"` and circular `"wrap"`).
            `"reflect"` needs padding < size along the axis; `"symmetric"` and `"circular"` need
            padding <= size.
        constant_value: value used by `mode="constant"` (default 0), cast to the input dtype.
            Must stay 0 for the other modes.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        4D tensor `(batch, rows, cols, channels)`.

    Output shape:
        4D tensor `(batch, top + rows + bottom, left + cols + right, channels)`.

    Example:

    >>> x = np.zeros((8, 32, 32, 3), "float32")
    >>> Padding2D(1, mode="reflect")(x).shape  # then a 3x3 "valid" conv gives 32x32 again
    (8, 34, 34, 3)
    """

    _rank = 2


@keras.saving.register_keras_serializable(package="zoo")
class Padding3D(_PaddingND):
    """Pads the three spatial axes of a volume with a chosen border mode.

    Args:
        padding: int (every side), or `(pad1, pad2, pad3)` where each entry is an int (both
            sides) or a `(before, after)` pair, as in `keras.layers.ZeroPadding3D`.
            E.g. `(1, (0, 2), 3)`. Values >= 0.
        mode: one of `"constant"`, `"reflect"`, `"replicate"`, `"symmetric"`, `"circular"` (see
            the module docstring; numpy.pad calls replicate `"edge"` and circular `"wrap"`).
            `"reflect"` needs padding < size along the axis; `"symmetric"` and `"circular"` need
            padding <= size.
        constant_value: value used by `mode="constant"` (default 0), cast to the input dtype.
            Must stay 0 for the other modes.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        5D tensor `(batch, dim1, dim2, dim3, channels)`.

    Output shape:
        5D tensor `(batch, dim1 + pad1, dim2 + pad2, dim3 + pad3, channels)`, each `pad` being
        `before + after` for that axis.

    Example:

    >>> x = np.zeros((2, 4, 4, 4, 1), "float32")
    >>> Padding3D((1, (0, 2), 0), mode="circular")(x).shape
    (2, 6, 6, 4, 1)
    """

    _rank = 3
