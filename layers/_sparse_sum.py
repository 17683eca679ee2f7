"""Fast sums over the edges and nodes of a graph batch, forward and backward (see each function).

`sparse_sum` — neighbourhood sums as sparse-matrix products (CSR):

    out[v] = sum over the edges e with rows[e] == v of  weights[e] * x[cols[e]]      out: [num_rows, F]

is `unsorted_segment_sum(gather(x, cols) * weights, rows, num_rows)` (rows the receivers, cols the
senders), computed as the product of the sparse [num_rows, len(x)] matrix A (A[rows[e], cols[e]] +=
weights[e]) with x in TensorFlow's CSR kernel (`SparseMatrixMatMul`) when the rows are sorted (as
`zoo.data` delivers edges). The gather + segment sum writes and reads an [E, F] tensor and its
gradient turns an IndexedSlices into a dense sum; the product does neither and runs on every core:
on the merged PROTEINS batch (43,471 nodes, 162,088 edges, F = 64) a sum's forward + backward takes
11 ms instead of 27 ms. Its gradient with respect to x is the product A^T g, with A^T transposed
as a CSR matrix (`SparseMatrixTranspose`): the kernel's own adjoint product is not deterministic
(its float sums come in another order from one run to the next, so seeded training diverges).
TensorFlow's CSR product of a matrix without rows, inside a graph, divides by zero (SIGFPE: the
process dies):
empty batches and unsorted rows take the gather + segment-sum branch. `weights` carry no gradient
(they are degree normalizations); attention weights, which do, stay with the gather + segment ops
(`layers.graph_conv.GATv2Conv`).

`segment_sum` — sums by sorted ids (readouts by `node_graph_ids`, edge messages by receiver) with
the sorted-ids kernel; `gather_rows` — a gather whose gradient is that sum.
"""

from __future__ import annotations

import tensorflow as tf


def _csr(rows, cols, values, num_rows, num_cols):
    """The CSR matrix [num_rows, num_cols] with values[e] at (rows[e], cols[e]); `rows` sorted."""
    indices = tf.stack([tf.cast(rows, tf.int64), tf.cast(cols, tf.int64)], axis=1)
    shape = tf.stack([num_rows, num_cols])
    # the kernel counts the entries of each row and keeps their order: rows must be grouped in
    # order (columns within a row may come in any order, duplicates add up)
    return tf.raw_ops.SparseTensorToCSRSparseMatrix(indices=indices, values=values, dense_shape=shape)


def sparse_sum(x, rows, cols, num_rows, weights=None, self_weight=None):
    """sum_{e: rows[e] == v} weights[e] * x[cols[e]]  (+ self_weight * x[v])  for v in [0, num_rows): [num_rows, F].

    Args:
        x: [M, F] float; rows: [E] int in [0, num_rows); cols: [E] int in [0, M) (checked by the
            callers' `validate_graph_batch`); num_rows: scalar int.
        weights: [E] of x's dtype, or None for ones. Not differentiated (see the module doc).
        self_weight: None, or a scalar (differentiated) adding self_weight * x[v] to each row v;
            then num_rows == M (GIN's (1 + eps) h_v). Inside one op with one gradient, x feeds
            one op less: its gradient is a sum of fewer terms.

    Equal to `tf.math.unsorted_segment_sum(tf.gather(x, cols) * weights[:, None], rows, num_rows)`
    (+ self_weight * x) up to float rounding (the order of the additions differs), gradients
    included. Fast when `rows` is sorted (the batches of `zoo.data` are: edges by receiver, nodes
    by graph); otherwise it is that gather + segment sum.
    """
    x = tf.convert_to_tensor(x)
    values = tf.ones(tf.shape(rows), x.dtype) if weights is None else tf.stop_gradient(tf.cast(weights, x.dtype))
    if self_weight is None:
        return _sparse_sum(x, rows, cols, values, tf.cast(num_rows, tf.int64))
    return _sparse_sum_and_self(x, rows, cols, values, tf.cast(num_rows, tf.int64), tf.cast(self_weight, x.dtype))


def _is_sorted(ids):
    return tf.reduce_all(ids[1:] >= ids[:-1])


def segment_sum(x, ids, num_segments):
    """`tf.math.unsorted_segment_sum(x, ids, num_segments)`: [num_segments, ...], by the sorted-ids kernel
    when `ids` is sorted (graph readouts of `zoo.data` batches: node_graph_ids sorted; edge messages
    summed into their receivers: edges sorted by receiver), whose gradient is a plain gather. On
    PROTEINS' 43,471 x 64 node states a readout takes 3.6 ms forward + backward instead of 5.1 ms
    (a CSR product's backward is slower there: 12.8 ms). `ids` must be in [0, num_segments)."""
    num_segments = tf.cast(num_segments, ids.dtype)
    last = tf.reduce_max(tf.concat([ids, tf.constant([-1], ids.dtype)], axis=0))

    def sorted_sum():
        total = tf.math.segment_sum(x, ids)  # rows up to the last id; pad is free when nothing is added
        missing = tf.stack([tf.constant(0, ids.dtype), num_segments - last - 1])
        paddings = tf.concat([missing[None], tf.zeros([tf.rank(x) - 1, 2], ids.dtype)], axis=0)
        return tf.pad(total, paddings)

    return tf.cond(_is_sorted(ids), sorted_sum, lambda: tf.math.unsorted_segment_sum(x, ids, num_segments))


def gather_rows(x, ids):
    """`tf.gather(x, ids)` [E, ...] whose gradient is `segment_sum` into len(x) rows: the sorted-ids
    kernel when `ids` is sorted (the receivers of a `zoo.data` batch), and a dense tensor rather
    than TensorFlow's IndexedSlices, which its optimizer turns dense with an unsorted segment sum."""
    return _gather_rows(tf.convert_to_tensor(x), ids)


@tf.custom_gradient
def _gather_rows(x, ids):
    def grad(upstream):
        return segment_sum(upstream, ids, tf.shape(x, out_type=ids.dtype)[0]), None

    return tf.gather(x, ids), grad


def _product_and_adjoint(x, rows, cols, values, num_rows):
    """(A x [num_rows, F], the function g -> A^T g [len(x), F]) for the sparse A of `sparse_sum`."""
    num_cols = tf.shape(x, out_type=tf.int64)[0]
    # TensorFlow's CSR product divides by zero (SIGFPE: the process dies) on a matrix without rows
    # inside a graph: a batch without nodes or graphs takes the segment-sum branch, as unsorted rows do
    use_csr = tf.logical_and(tf.logical_and(num_rows > 0, num_cols > 0), _is_sorted(rows))

    def product(b, transpose):
        matrix = _csr(rows, cols, values, num_rows, num_cols)
        if transpose:  # A^T as a CSR matrix of its own: the adjoint product (adjoint_a=True) adds
            # its rows up in a different order from run to run; this one is deterministic (and faster)
            matrix = tf.raw_ops.SparseMatrixTranspose(input=matrix, type=values.dtype)
        return tf.raw_ops.SparseMatrixMatMul(a=matrix, b=b)

    def segment_sum(b, into, take, num_segments):
        return tf.math.unsorted_segment_sum(tf.gather(b, take) * values[:, None], into, num_segments)

    out = tf.cond(use_csr, lambda: product(x, False), lambda: segment_sum(x, rows, cols, num_rows))

    def adjoint(upstream):
        return tf.cond(use_csr, lambda: product(upstream, True), lambda: segment_sum(upstream, cols, rows, num_cols))

    return out, adjoint


@tf.custom_gradient
def _sparse_sum(x, rows, cols, values, num_rows):
    out, adjoint = _product_and_adjoint(x, rows, cols, values, num_rows)

    def grad(upstream):
        return adjoint(upstream), None, None, None, None

    return out, grad


@tf.custom_gradient
def _sparse_sum_and_self(x, rows, cols, values, num_rows, self_weight):
    out, adjoint = _product_and_adjoint(x, rows, cols, values, num_rows)

    def grad(upstream):
        return adjoint(upstream) + self_weight * upstream, None, None, None, None, tf.reduce_sum(upstream * x)

    return out + self_weight * x, grad
