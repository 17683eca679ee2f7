"""`layers._graph.project_input` (dropout, then x @ kernel) and the `input_dropout` of GCNConv and
GATv2Conv: both of its paths (sparse features: through the nonzero entries only; dense ones) against
the plain product, the dropout's distribution, gradients with respect to the kernel and to x, and
repeatability with a seed."""

import numpy as np
import pytest
import tensorflow as tf

from layers import GATv2Conv, GCNConv
from layers._graph import SPARSE_INPUT_DENSITY, project_input


def features(kind, rng, shape=(300, 200)):
    """[N, F] float32: "sparse" (about 1 % nonzero, as Cora's bag of words) or "dense" (no zeros)."""
    x = rng.uniform(0.5, 1.5, size=shape).astype("float32")
    if kind == "sparse":
        x *= rng.random(shape) < 0.01
        assert np.count_nonzero(x) < SPARSE_INPUT_DENSITY * x.size
    return x


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_without_dropout_it_is_the_product_and_its_gradients(kind):
    rng = np.random.default_rng(0)
    x, kernel = tf.constant(features(kind, rng)), tf.Variable(rng.normal(size=(200, 7)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(300, 7)).astype("float32"))
    for training in (False, True):  # rate 0: nothing is dropped in training either
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = project_input(x, kernel, rate=0.0, seed=None, training=training)
            loss = tf.reduce_sum(y * upstream)
        np.testing.assert_allclose(y.numpy(), x.numpy() @ kernel.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(tape.gradient(loss, kernel).numpy(), x.numpy().T @ upstream.numpy(),
                                   rtol=1e-5, atol=1e-4)
        # d loss / dx = upstream @ kernel^T at the nonzero entries (the sparse path sees no others)
        grad_x = tape.gradient(loss, x).numpy()
        expected = upstream.numpy() @ kernel.numpy().T
        if kind == "sparse":
            expected *= x.numpy() != 0
        np.testing.assert_allclose(grad_x, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_dropout_keeps_each_entry_with_probability_one_minus_rate_and_scales_it(kind):
    rng = np.random.default_rng(1)
    x = features(kind, rng, shape=(400, 300))
    rate, seed = 0.6, tf.constant([3, 4], tf.int64)
    # with the identity as kernel the product is the dropped x itself
    y = project_input(tf.constant(x), tf.eye(300), rate=rate, seed=seed, training=True).numpy()
    nonzero = x != 0
    assert not np.any(y[~nonzero])  # zeros stay zero
    kept = y[nonzero] != 0
    np.testing.assert_allclose(y[nonzero][kept], x[nonzero][kept] / (1 - rate), rtol=1e-6)
    n = nonzero.sum()
    dropped = 1 - kept.mean()
    assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / n), (dropped, n)
    # the same seed draws the same mask; another seed another one; inference drops nothing
    again = project_input(tf.constant(x), tf.eye(300), rate=rate, seed=seed, training=True).numpy()
    np.testing.assert_array_equal(again, y)
    other = project_input(tf.constant(x), tf.eye(300), rate=rate, seed=tf.constant([3, 5], tf.int64), training=True)
    assert not np.array_equal(other.numpy(), y)
    np.testing.assert_array_equal(project_input(tf.constant(x), tf.eye(300), rate=rate, seed=seed,
                                                training=False).numpy(), x)


def test_sparse_gradients_are_repeatable_inside_tf_function():
    rng = np.random.default_rng(2)
    x = tf.constant(features("sparse", rng, shape=(2000, 500)))
    kernel = tf.Variable(rng.normal(size=(500, 64)).astype("float32"))

    @tf.function
    def grad():
        with tf.GradientTape() as tape:
            y = project_input(x, kernel, rate=0.5, seed=tf.constant([1, 2], tf.int64), training=True)
            loss = tf.reduce_sum(tf.square(y))
        return tape.gradient(loss, kernel)

    first = grad().numpy()
    for _ in range(3):
        np.testing.assert_array_equal(grad().numpy(), first)


@pytest.mark.parametrize("make", [lambda rate: GCNConv(5, input_dropout=rate, name="gcn"),
                                  lambda rate: GATv2Conv(3, heads=2, input_dropout=rate, name="gat")],
                         ids=["gcn", "gat"])
def test_layers_drop_their_input_in_training_only(make):
    rng = np.random.default_rng(3)
    graph = {"node_features": features("sparse", rng, shape=(50, 120)),
             "edge_index": rng.integers(0, 50, size=(2, 150)).astype("int32")}
    plain, dropping = make(0.0), make(0.5)
    plain(graph)
    dropping(graph)
    dropping.set_weights(plain.get_weights())
    np.testing.assert_allclose(dropping(graph, training=False).numpy(), plain(graph).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(dropping(graph, training=True).numpy(), plain(graph).numpy(), atol=1e-3)
    assert dropping.get_config()["input_dropout"] == 0.5
    with pytest.raises(ValueError, match="input_dropout"):
        make(1.0)
