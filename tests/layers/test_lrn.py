"""LocalResponseNormalization: the paper's formula, TensorFlow's op, PyTorch's convention."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers.normalization import LocalResponseNormalization


def lrn_reference(a, size, alpha, beta, k, divide_alpha_by_size=False):
    """Krizhevsky et al. 2012, eq. in section 3.3, written out channel by channel.

    b_i = a_i / (k + alpha * sum_{j = max(0, i - size//2)}^{min(N-1, i + (size-1)//2)} a_j^2)^beta
    With `divide_alpha_by_size`, alpha becomes alpha / size (torch.nn.LocalResponseNorm).
    """
    a = np.asarray(a, "float64")
    n_channels = a.shape[-1]
    scale = alpha / size if divide_alpha_by_size else alpha
    out = np.empty_like(a)
    for i in range(n_channels):
        lo, hi = max(0, i - size // 2), min(n_channels - 1, i + (size - 1) // 2)
        window = np.sum(a[..., lo : hi + 1] ** 2, axis=-1)
        out[..., i] = a[..., i] / (k + scale * window) ** beta
    return out


def sample(shape, seed=0, scale=3.0):
    return (scale * np.random.default_rng(seed).normal(size=shape)).astype("float32")


def test_defaults_are_the_papers():
    layer = LocalResponseNormalization()
    assert (layer.size, layer.alpha, layer.beta, layer.k) == (5, 1e-4, 0.75, 2.0)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize(
    "params", [dict(alpha=1e-4, beta=0.75, k=2.0), dict(alpha=0.3, beta=0.5, k=1.0)]
)
def test_matches_formula(size, params):
    x = sample((2, 3, 3, 6))
    out = LocalResponseNormalization(size=size, **params)(x)
    np.testing.assert_allclose(out, lrn_reference(x, size, **params), rtol=2e-6, atol=1e-7)


def test_alpha_not_divided_by_size():
    # One channel with value 1 and size 5: b = 1 / (k + alpha)^beta, not 1 / (k + alpha/5)^beta.
    out = LocalResponseNormalization(size=5, alpha=1.0, beta=1.0, k=1.0)(np.ones((1, 1), "float32"))
    np.testing.assert_allclose(out, [[0.5]], rtol=1e-7)


@pytest.mark.parametrize("size", [1, 3, 5, 7, 9])
@pytest.mark.parametrize(
    "params", [dict(alpha=1e-4, beta=0.75, k=2.0), dict(alpha=0.2, beta=0.6, k=0.5)]
)
def test_matches_tf_nn_local_response_normalization(size, params):
    x = sample((2, 4, 3, 8), seed=1)
    expected = tf.nn.local_response_normalization(
        x,
        depth_radius=(size - 1) // 2,
        bias=params["k"],
        alpha=params["alpha"],
        beta=params["beta"],
    )
    out = LocalResponseNormalization(size=size, **params)(x)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("size", [2, 3, 4, 5])
def test_pytorch_convention_via_alpha_over_size(size):
    # torch.nn.LocalResponseNorm(size, alpha=0.5, beta=0.75, k=1.0) == ours with alpha=0.5 / size.
    x = sample((2, 5, 7), seed=2)
    out = LocalResponseNormalization(size=size, alpha=0.5 / size, beta=0.75, k=1.0)(x)
    expected = lrn_reference(x, size, alpha=0.5, beta=0.75, k=1.0, divide_alpha_by_size=True)
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 3), (1, 2, 2, 2, 9)])
def test_any_rank_and_fewer_channels_than_size(shape):
    x = sample(shape, seed=3)
    layer = LocalResponseNormalization(size=5, alpha=0.1)
    np.testing.assert_allclose(layer(x), lrn_reference(x, 5, 0.1, 0.75, 2.0), rtol=2e-6, atol=1e-7)


def test_symbolic_and_tf_function_with_unknown_sizes():
    layer = LocalResponseNormalization(size=3, alpha=0.1)
    y = layer(keras.Input((None, None, 4)))
    assert tuple(y.shape) == (None, None, None, 4)
    assert layer.compute_output_shape((None, None, 7)) == (None, None, 7)
    fn = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, None), tf.float32)])
    x = sample((2, 3, 2, 6), seed=4)
    np.testing.assert_allclose(fn(x), lrn_reference(x, 3, 0.1, 0.75, 2.0), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("size", [0, -1, 2.5, True, "5"])
def test_invalid_size(size):
    with pytest.raises(ValueError, match="size"):
        LocalResponseNormalization(size=size)


def test_save_and_reload(roundtrip):
    x = sample((2, 3, 3, 6), seed=5)
    layer = LocalResponseNormalization(size=3, alpha=0.05, beta=0.6, k=1.5, name="lrn")
    got = roundtrip(layer, x)
    np.testing.assert_allclose(got, lrn_reference(x, 3, 0.05, 0.6, 1.5), rtol=2e-6, atol=1e-7)
    config = layer.get_config()
    assert {key: config[key] for key in ("size", "alpha", "beta", "k")} == dict(
        size=3, alpha=0.05, beta=0.6, k=1.5
    )
