"""The fast sums of the graph layers (`layers._sparse_sum`) and `FusedBatchNormalization`, against
the plain TensorFlow / Keras ops they replace: values, gradients (tape in eager mode, inside and
outside `tf.function`), sorted and unsorted ids, duplicates, and empty batches (a CSR product of a
matrix without rows kills the process with SIGFPE: these must take the other branch)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers import GCNConv, GINConv, MessagePassing, SAGEConv
from layers._sparse_sum import gather_rows, segment_sum, sparse_sum
from layers.normalization import FusedBatchNormalization


def reference_sum(x, rows, cols, num_rows, weights=None):
    gathered = tf.gather(x, cols)
    if weights is not None:
        gathered = gathered * weights[:, None]
    return tf.math.unsorted_segment_sum(gathered, rows, num_rows)


def value_and_grad(fn, x, *args, mode):
    """fn(x, *args) and d sum(fn^2) / dx, the tape in eager mode, inside or around a tf.function."""
    upstream = tf.constant(np.random.default_rng(0).normal(size=(1, int(x.shape[1]))).astype("float32"))

    def loss_of(x):
        y = fn(x, *args)
        return y, tf.reduce_sum(tf.square(y) * upstream)

    if mode == "inside":

        @tf.function
        def run(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y, loss = loss_of(x)
            return y, tf.convert_to_tensor(tape.gradient(loss, x))

        return run(x)
    body = tf.function(loss_of) if mode == "around" else loss_of
    with tf.GradientTape() as tape:
        tape.watch(x)
        y, loss = body(x)
    return y, tf.convert_to_tensor(tape.gradient(loss, x))


CASES = {  # name: (num_rows, num_cols, rows, cols)
    "sorted": (6, 7, [0, 0, 1, 3, 3, 3, 5], [1, 2, 0, 6, 6, 2, 4]),
    "unsorted": (6, 7, [3, 0, 5, 1, 0, 3], [6, 1, 4, 0, 2, 2]),
    "sorted with duplicates": (3, 3, [2, 2, 2], [0, 0, 1]),
    "no edges": (4, 5, [], []),
    "no rows, no columns": (0, 0, [], []),
    "no rows": (0, 5, [], []),
    "no columns": (4, 0, [], []),
}


@pytest.mark.parametrize("mode", ["eager", "inside", "around"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_sparse_sum_equals_gather_and_segment_sum(case, weighted, mode):
    num_rows, num_cols, rows, cols = CASES[case]
    rng = np.random.default_rng(len(rows))
    x = tf.constant(rng.normal(size=(num_cols, 4)).astype("float32"))
    rows, cols = tf.constant(rows, tf.int32), tf.constant(cols, tf.int32)
    weights = tf.constant(rng.uniform(0.5, 2.0, size=len(rows)).astype("float32")) if weighted else None
    got, got_grad = value_and_grad(lambda x: sparse_sum(x, rows, cols, num_rows, weights), x, mode=mode)
    want, want_grad = value_and_grad(lambda x: reference_sum(x, rows, cols, num_rows, weights), x, mode="eager")
    assert got.shape == (num_rows, 4)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_grad.numpy(), want_grad.numpy(), rtol=1e-5, atol=1e-6)


SQUARE = {  # self_weight needs num_rows == len(x)
    "sorted": (5, [0, 0, 1, 3, 3, 4], [1, 2, 0, 4, 4, 2]),
    "unsorted": (5, [3, 0, 4, 1, 0], [4, 1, 2, 0, 2]),
    "no edges": (4, [], []),
    "empty": (0, [], []),
}


@pytest.mark.parametrize("mode", ["eager", "inside"])
@pytest.mark.parametrize("case", sorted(SQUARE))
def test_sparse_sum_with_self_weight_equals_the_sum_plus_scaled_rows(case, mode):
    """sparse_sum(..., self_weight=c) = A x + c x, with the gradients of x and c (GIN's (1 + eps) h_v)."""
    n, rows, cols = SQUARE[case]
    rng = np.random.default_rng(n)
    x = tf.constant(rng.normal(size=(n, 3)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(n, 3)).astype("float32"))
    rows, cols = tf.constant(rows, tf.int32), tf.constant(cols, tf.int32)
    c = tf.Variable(1.3)

    def grads(fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
            loss = tf.reduce_sum(y * upstream)
        dx, dc = tape.gradient(loss, [x, c])
        return y, dx, dc

    fast = lambda x: sparse_sum(x, rows, cols, n, self_weight=c)  # noqa: E731
    got = tf.function(lambda: grads(fast))() if mode == "inside" else grads(fast)
    want = grads(lambda x: reference_sum(x, rows, cols, n) + c * x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5)


def test_sparse_sum_large_sorted_batch_matches():
    rng = np.random.default_rng(3)
    rows = np.sort(rng.integers(0, 500, 4000)).astype("int32")
    cols = rng.integers(0, 700, 4000).astype("int32")
    x = tf.constant(rng.normal(size=(700, 16)).astype("float32"))
    got, got_grad = value_and_grad(lambda x: sparse_sum(x, rows, cols, 500), x, mode="inside")
    want, want_grad = value_and_grad(lambda x: reference_sum(x, rows, cols, 500), x, mode="eager")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_grad.numpy(), want_grad.numpy(), rtol=1e-4, atol=1e-5)


def test_sparse_sum_is_deterministic():
    """The same sums and gradients bit for bit, call after call, on a batch big enough for the
    kernels to split it over threads (TensorFlow's adjoint CSR product did not: seeded training of
    GIN on MUTAG ended at 0.86-0.90 accuracy from one run to the next)."""
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, 5000, 40000)).astype("int32")
    cols = rng.integers(0, 5000, 40000).astype("int32")
    x = tf.constant(rng.normal(size=(5000, 64)).astype("float32"))
    weights = tf.constant(rng.uniform(size=40000).astype("float32"))
    runs = [value_and_grad(lambda x: sparse_sum(x, rows, cols, 5000, weights), x, mode="eager") for _ in range(6)]
    for value, grad in runs[1:]:
        np.testing.assert_array_equal(value.numpy(), runs[0][0].numpy())
        np.testing.assert_array_equal(grad.numpy(), runs[0][1].numpy())


@pytest.mark.parametrize(
    "ids,num_segments",
    [([0, 0, 1, 1, 1, 2], 3), ([0, 0, 2, 2], 3), ([2, 0, 1, 0], 3), ([0, 1], 4), ([], 0)],
    ids=["sorted", "sorted with an empty segment", "unsorted", "trailing empty segments", "empty"],
)
@pytest.mark.parametrize("mode", ["eager", "inside", "around"])
def test_segment_sum_equals_unsorted_segment_sum(ids, num_segments, mode):
    x = tf.constant(np.random.default_rng(1).normal(size=(len(ids), 3)).astype("float32"))
    ids = tf.constant(ids, tf.int32)
    got, got_grad = value_and_grad(lambda x: segment_sum(x, ids, num_segments), x, mode=mode)
    want, want_grad = value_and_grad(lambda x: tf.math.unsorted_segment_sum(x, ids, num_segments), x, mode="eager")
    assert got.shape == (num_segments, 3)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got_grad.numpy(), want_grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("ids", [[0, 0, 2, 3, 3], [3, 1, 0, 1], []], ids=["sorted", "unsorted", "empty"])
@pytest.mark.parametrize("mode", ["eager", "inside", "around"])
def test_gather_rows_equals_gather(ids, mode):
    x = tf.constant(np.random.default_rng(2).normal(size=(5, 3)).astype("float32"))
    ids = tf.constant(ids, tf.int32)
    got, got_grad = value_and_grad(lambda x: gather_rows(x, ids), x, mode=mode)
    want, want_grad = value_and_grad(lambda x: tf.gather(x, ids), x, mode="eager")
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_allclose(got_grad.numpy(), want_grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [lambda: GINConv(5, name="gin"), lambda: GCNConv(5, name="gcn"), lambda: SAGEConv(5, name="sage"),
     lambda: MessagePassing(4, name="mp")],
    ids=["gin", "gcn", "sage", "mpnn"],
)
def test_layers_give_the_same_with_edges_sorted_or_not(make):
    """The formula tests use unsorted edges (the segment-sum branch); sorted edges take the CSR branch."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 4)).astype("float32")
    edge_index = rng.integers(0, 30, size=(2, 120)).astype("int32")
    order = np.argsort(edge_index[1], kind="stable")
    layer = make()
    layer({"node_features": x, "edge_index": edge_index})

    def run(edges):
        with tf.GradientTape() as tape:
            out = layer({"node_features": x, "edge_index": edges}, training=True)
            loss = tf.reduce_sum(tf.square(out))
        return out.numpy(), [g.numpy() for g in tape.gradient(loss, layer.trainable_weights)]

    (out_a, grads_a), (out_b, grads_b) = run(edge_index), run(edge_index[:, order])
    np.testing.assert_allclose(out_a, out_b, rtol=1e-4, atol=1e-5)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("n", [1, 2, 9, 500])
def test_fused_batch_normalization_equals_keras(n):
    x = tf.constant(np.random.default_rng(n).normal(3.0, 2.0, size=(n, 5)).astype("float32"))
    keras_bn = keras.layers.BatchNormalization(momentum=0.9)
    fused = FusedBatchNormalization(momentum=0.9)
    for layer in (keras_bn, fused):
        layer.build((None, 5))
        layer.gamma.assign(np.arange(1.0, 6.0, dtype="float32"))
        layer.beta.assign(np.linspace(-1.0, 1.0, 5, dtype="float32"))
    weights = tf.range(5.0) ** 2

    def step(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * weights * x)
        return y.numpy(), [g.numpy() for g in tape.gradient(loss, [x, layer.gamma, layer.beta])]

    (y_keras, g_keras), (y_fused, g_fused) = step(keras_bn), step(fused)
    np.testing.assert_allclose(y_fused, y_keras, rtol=1e-5, atol=1e-5)
    for a, b in zip(g_fused, g_keras):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())
    np.testing.assert_allclose(fused.moving_mean.numpy(), keras_bn.moving_mean.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused.moving_variance.numpy(), keras_bn.moving_variance.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused(x).numpy(), keras_bn(x).numpy(), rtol=1e-6, atol=1e-6)  # inference


def test_fused_batch_normalization_saves_and_falls_back(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, FusedBatchNormalization(name="bn")(inputs))
    model.compile("sgd", "mse")
    model.fit(np.random.default_rng(0).normal(size=(32, 4)).astype("float32"), np.zeros((32, 4)), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("bn")).__name__ == "FusedBatchNormalization"
    assert not np.allclose(model.get_layer("bn").moving_mean.numpy(), 0)  # fit moved the statistics
    for a, b in zip(model.get_layer("bn").weights, loaded.get_layer("bn").weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    images = tf.random.normal((2, 3, 3, 4))  # rank 4: the Keras layer's own code
    np.testing.assert_allclose(
        FusedBatchNormalization()(images, training=True).numpy(),
        keras.layers.BatchNormalization()(images, training=True).numpy(),
        rtol=1e-5, atol=1e-5,
    )
