"""Graph training throughput: the zoo's graph models against the same models written with TF-GNN, side by side.

For gcn, gat, graphsage, gin and mpnn (the zoo's default variants) and their TF-GNN twins (same layers,
widths, activations, dropout and readout, over a `tfgnn.GraphTensor` with TF-GNN 1.0.3's Keras 2
layers: `gcn.GCNConv`, `gat_v2.GATv2Conv`, `SimpleConv` + `NodeSetUpdate`), one full-batch training
step (forward, backward, Adam) is timed on

- PROTEINS merged into one batch (1,113 graphs, 43,471 nodes, 162,088 edges; graph classification),
- Cora (2,708 nodes, 10,556 edges, 1,433 features; node classification),

alternating zoo and twin over `--rounds` rounds after a warm-up (tracing excluded); the median is
printed with the ratio twin / zoo (>= 1: the zoo is not slower), the achieved GFLOP/s of the
step (its forward + backward FLOPs counted by TensorFlow's profiler) against a
matrix-multiply peak measured in the same run, and for GIN on PROTEINS the step against the same
arithmetic as plain matmuls (24 x [43471, 64] @ [64, 64]) and against the step's own 23 matmuls in
their shapes (forward, input-gradient and weight-gradient products), both timed in the same rounds
as the step, alternating with it (the machine's speed drifts by 10-30 % within minutes).

Then the zoo's GIN (node task, 16 input features, 64 hidden) on generated graphs up to 1M nodes and
10M edges, each size in its own process: step time, time per million edges (flat = linear in edges)
and the process's peak RSS. mpnn gets random 4-dimensional edge features on both data sets.

    python benchmarks/graph_throughput.py [--rounds 3] [--steps 5] [--scale 0.1,0.3,1.0] [--models gin gcn]

Needs the `gnn` extra (tensorflow-gnn, tf-keras) and the data sets (`ZOO_DATA_DIR`, e.g. ../shared/data).
zoo is imported before TensorFlow, so its TensorFlow settings (oneDNN's kernels, the CPU buffer pool:
zoo._tf_settings) apply to both sides. TF_USE_LEGACY_KERAS=1 is set here before TensorFlow is imported (TF-GNN needs tf.keras = Keras 2);
the zoo's models are Keras 3 (`import keras`) either way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("ZOO_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))

import zoo  # noqa: E402  first: its TensorFlow settings (oneDNN, the CPU pool) apply to both sides

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from zoo.data.datasets import load_dataset  # noqa: E402
from zoo.data.graphs import merge_graphs  # noqa: E402
from zoo.models.gnn import VARIANTS  # noqa: E402

MODELS = ("gcn", "gat", "graphsage", "gin", "mpnn")
EDGE_FEATURES = 4  # mpnn's default edge_feature_size
WARMUP = 2


# --------------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------------


def proteins():
    data, _ = load_dataset("proteins", continuous_features=False)
    batch = merge_graphs(data.graphs)
    return "PROTEINS", "graph", batch, data.labels.astype("int32"), data.num_classes


def cora():
    data = load_dataset("cora")
    batch = {k: np.asarray(v) for k, v in data.graph.items()}
    return "Cora", "node", batch, np.maximum(np.asarray(data.labels), 0).astype("int32"), data.num_classes


def with_edge_features(batch, seed=0):
    out = dict(batch)
    out["edge_features"] = np.random.default_rng(seed).normal(size=(batch["edge_index"].shape[1], EDGE_FEATURES))
    out["edge_features"] = out["edge_features"].astype("float32")
    return out


# --------------------------------------------------------------------------------------------------
# TF-GNN twins (Keras 2: tf.keras under TF_USE_LEGACY_KERAS=1)
# --------------------------------------------------------------------------------------------------


def twin_model(name: str, task: str, spec, num_classes: int):
    """The TF-GNN version of the zoo's default `name` (see zoo/models/gnn.py VARIANTS) for `task`."""
    import tensorflow_gnn as tfgnn
    from tensorflow_gnn.models import gat_v2, gcn

    k = tf.keras
    config = VARIANTS[name]
    state, target = tfgnn.HIDDEN_STATE, tfgnn.TARGET
    inputs = k.Input(type_spec=spec)
    graph = inputs
    nodes = graph.node_sets["nodes"][state]

    def set_state(graph, new_state):
        return graph.replace_features(node_sets={"nodes": {state: new_state}})

    def dropout(graph, rate):
        return set_state(graph, k.layers.Dropout(rate)(graph.node_sets["nodes"][state])) if rate else graph

    identity = k.layers.Activation("linear")
    states = [nodes]
    if name == "mpnn":
        graph = set_state(graph, k.layers.Dense(config.hidden[0], activation=config.activation)(nodes))
        states = [graph.node_sets["nodes"][state]]
    node_head = task == "node" and name in ("gcn", "gat")
    widths = list(config.hidden) + ([num_classes] if node_head else [])
    for i, units in enumerate(widths):
        last_conv = node_head and i == len(widths) - 1
        activation = "softmax" if last_conv else config.activation
        graph = dropout(graph, config.dropout)
        if name == "gcn":
            conv = gcn.GCNConv(units, receiver_tag=target, activation=activation, add_self_loops=True)
            update = tfgnn.keras.layers.NodeSetUpdate({"edges": conv}, tfgnn.keras.layers.SingleInputNextState())
        elif name == "gat":
            heads = config.output_heads if last_conv else config.heads
            conv = gat_v2.GATv2Conv(
                num_heads=heads, per_head_channels=units, receiver_tag=target, edge_dropout=config.attention_dropout,
                heads_merge_type="mean" if last_conv else "concat", activation=activation,
            )
            update = tfgnn.keras.layers.NodeSetUpdate({"edges": conv}, tfgnn.keras.layers.SingleInputNextState())
        elif name == "graphsage":  # W [h || mean h_u] + b = W_self h + W_neigh mean h_u + b
            conv = tfgnn.keras.layers.SimpleConv(identity, "mean", receiver_tag=target, receiver_feature=None)
            next_state = tfgnn.keras.layers.NextStateFromConcat(k.layers.Dense(units, activation=activation))
            update = tfgnn.keras.layers.NodeSetUpdate({"edges": conv}, next_state)
        elif name == "gin":  # MLP(h + sum h_u) (GIN-0), then batch norm and ReLU
            conv = tfgnn.keras.layers.SimpleConv(identity, "sum", receiver_tag=target, receiver_feature=None)
            update = tfgnn.keras.layers.NodeSetUpdate({"edges": conv}, _GINNextState(units, config))
        else:  # mpnn: relu(W [h_u || h_v || e_uv]) summed, GRU update
            conv = tfgnn.keras.layers.SimpleConv(
                k.layers.Dense(units, activation="relu"), "sum", receiver_tag=target, receiver_feature=state,
                sender_edge_feature=state,
            )
            update = tfgnn.keras.layers.NodeSetUpdate({"edges": conv}, _GRUNextState(units))
        graph = tfgnn.keras.layers.GraphUpdate(node_sets={"nodes": update})(graph)
        if name == "gin":
            graph = set_state(graph, k.layers.Activation(config.activation)(
                k.layers.BatchNormalization(momentum=config.batch_norm_momentum)(graph.node_sets["nodes"][state])))
        states.append(graph.node_sets["nodes"][state])
    if node_head:
        return k.Model(inputs, graph.node_sets["nodes"][state])
    if task == "graph":
        def pool(h):
            return tfgnn.keras.layers.Pool(tfgnn.CONTEXT, config.readout, node_set_name="nodes")(set_state(graph, h))

        pooled = [pool(h) for h in (states if config.jumping_knowledge else states[-1:])]
        x = k.layers.Concatenate()(pooled) if len(pooled) > 1 else pooled[0]
    else:
        x = states[-1]
    if config.head_dropout:
        x = k.layers.Dropout(config.head_dropout)(x)
    return k.Model(inputs, k.layers.Dense(num_classes, activation="softmax")(x))


class _GINNextState(tf.keras.layers.Layer):
    """GIN's update for TF-GNN's NodeSetUpdate: MLP(h + sum of the neighbours)."""

    def __init__(self, units, config, **kwargs):
        super().__init__(**kwargs)
        k = tf.keras.layers
        self.mlp = [k.Dense(units), k.BatchNormalization(momentum=config.batch_norm_momentum),
                    k.Activation(config.activation), k.Dense(units)]

    def call(self, inputs, training=None):
        h, edge_inputs, _ = inputs
        x = h + edge_inputs["edges"]
        for layer in self.mlp:
            x = layer(x, training=training) if isinstance(layer, tf.keras.layers.BatchNormalization) else layer(x)
        return x


class _GRUNextState(tf.keras.layers.Layer):
    """MPNN's update for TF-GNN's NodeSetUpdate: GRU(aggregated message, h)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.cell = tf.keras.layers.GRUCell(units)

    def call(self, inputs):
        h, edge_inputs, _ = inputs
        return self.cell(edge_inputs["edges"], [h])[0]


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------


def train_step(model, optimizer, inputs, labels):
    loss_fn = tf.keras.losses.sparse_categorical_crossentropy

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_fn(labels, model(inputs, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def seconds(step, steps):
    """Median seconds of one call over `steps` calls."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step().numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def matmul_peak(n=2048, repeats=10) -> float:
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    matmul = tf.function(lambda: tf.linalg.matmul(a, b))
    matmul().numpy()
    best = min(seconds(matmul, 1) for _ in range(repeats))
    return 2 * n**3 / best


def gin_as_matmuls(num_nodes):
    """GIN's dense arithmetic as plain matmuls: 4 layers x 2 Dense x (forward + 2 backward) = 24."""
    a, w = tf.random.normal((num_nodes, 64)), tf.random.normal((64, 64))

    @tf.function
    def run():
        total = 0.0
        for i in range(24):
            total += tf.reduce_sum(tf.matmul(a + float(i), w)[:1])
        return total

    return run


def gin_step_matmuls(num_nodes, num_features):
    """The matmuls of the GIN step in their own shapes: forward 1 x [N, F] @ [F, 64] + 7 x [N, 64] @ [64, 64],
    input gradients 7 x [N, 64] @ [64, 64]^T, weight gradients 1 x [N, F]^T @ [N, 64] + 7 x [N, 64]^T @ [N, 64]
    (with oneDNN's kernels these 23 took 81 ms against 97 ms for the 24 forward-shaped ones, in one run)."""
    x, a, w = tf.random.normal((num_nodes, num_features)), tf.random.normal((num_nodes, 64)), tf.random.normal((64, 64))
    w_in = tf.random.normal((num_features, 64))

    @tf.function
    def run():
        total = tf.reduce_sum(tf.matmul(x, w_in)[:1]) + tf.reduce_sum(tf.matmul(x, a, transpose_a=True)[:1])
        for i in range(7):
            b = a + float(i)
            total += tf.reduce_sum(tf.matmul(b, w)[:1]) + tf.reduce_sum(tf.matmul(b, w, transpose_b=True)[:1])
            total += tf.reduce_sum(tf.matmul(b, a, transpose_a=True)[:1])
        return total

    return run


def step_flops(model, batch, labels) -> float:
    """FLOPs of one forward + backward pass of `model` on `batch`, counted by TensorFlow's profiler on
    the traced graph (ops with FLOP statistics: MatMul, elementwise arithmetic, reductions; the CSR
    products and segment sums have none, so this is a lower bound of the work)."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    specs = {k: tf.TensorSpec(v.shape, tf.as_dtype(v.dtype)) for k, v in batch.items()}

    def loss_and_grads(b):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, model(b, training=True)))
        return tape.gradient(loss, model.trainable_variables)

    graph = tf.function(loss_and_grads).get_concrete_function(specs).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(model_analyzer.profile(graph, options=options).total_float_ops)


def zoo_inputs(name, task, batch):
    keep = ["node_features", "edge_index"] + (["node_graph_ids"] if task == "graph" else [])
    keep += ["edge_features"] if name == "mpnn" else []
    return {k: batch[k] for k in keep}


def compare(workload, names, rounds, steps, peak, references=None):
    """Time each model and its twin, alternating; `references` {model: {label: step}} are timed in the
    same rounds as that model (for ratios under the same machine conditions). Returns
    {model: (zoo seconds, twin seconds, {label: reference seconds})}."""
    from zoo.data.tfgnn_interop import to_graph_tensor

    title, task, batch, labels, num_classes = workload
    print(f"\n{title}: {batch['node_features'].shape[0]:,} nodes, {batch['edge_index'].shape[1]:,} edges, "
          f"{task} classification, {num_classes} classes")
    header = (f"{'model':10} {'zoo ms':>8} {'TF-GNN ms':>10} {'TF-GNN/zoo':>10} {'zoo params':>11} {'twin params':>11} "
              f"{'GFLOP':>7} {'zoo GFLOP/s':>11} {'% of peak':>9}")
    print(header)
    print("-" * len(header))
    results = {}
    for name in names:
        data = zoo_inputs(name, task, with_edge_features(batch) if name == "mpnn" else batch)
        tensors = {k: tf.constant(v) for k, v in data.items()}
        y = tf.constant(labels)
        keras.utils.set_random_seed(0)
        model = zoo.build(name, task=task, num_classes=num_classes, input_shape=(batch["node_features"].shape[1],))
        zoo_step = train_step(model, keras.optimizers.Adam(1e-3), tensors, y)
        graph = to_graph_tensor(tensors)
        twin = twin_model(name, task, graph.spec, num_classes)
        twin_step = train_step(twin, tf.keras.optimizers.Adam(1e-3), graph, y)
        timed = {"zoo": zoo_step, "twin": twin_step, **(references or {}).get(name, {})}
        for step in timed.values():
            seconds(step, WARMUP)
        times = {label: [] for label in timed}
        for _ in range(rounds):
            for label, step in timed.items():
                times[label].append(seconds(step, steps))
        medians = {label: float(np.median(t)) for label, t in times.items()}
        zoo_s, twin_s = medians.pop("zoo"), medians.pop("twin")
        flops = step_flops(model, data, y)
        print(f"{name:10} {zoo_s * 1e3:8.1f} {twin_s * 1e3:10.1f} {twin_s / zoo_s:10.2f} {model.count_params():11,} "
              f"{twin.count_params():11,} {flops / 1e9:7.2f} {flops / zoo_s / 1e9:11.1f} {100 * flops / zoo_s / peak:8.1f}%")
        results[name] = (zoo_s, twin_s, medians)
    return results


# --------------------------------------------------------------------------------------------------
# Scaling (one process per size, for its peak RSS)
# --------------------------------------------------------------------------------------------------


def scale_child(num_nodes: int, num_edges: int, steps: int) -> dict:
    """GIN (node task) on a random graph; edges sorted by receiver, as zoo.data delivers them."""
    rng = np.random.default_rng(0)
    receivers = np.sort(rng.integers(0, num_nodes, num_edges)).astype("int32")
    senders = rng.integers(0, num_nodes, num_edges).astype("int32")
    batch = {"node_features": tf.constant(rng.normal(size=(num_nodes, 16)).astype("float32")),
             "edge_index": tf.constant(np.stack([senders, receivers]))}
    labels = tf.constant(rng.integers(0, 7, num_nodes).astype("int32"))
    del receivers, senders
    model = zoo.build("gin", task="node", num_classes=7, input_shape=(16,))
    step = train_step(model, keras.optimizers.Adam(1e-3), batch, labels)
    seconds(step, 1)
    return {"seconds": seconds(step, steps), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def scaling(fractions, steps):
    print("\nGIN (node task, 16 features, 4 x 64 hidden) on generated graphs, 10 edges per node, edges sorted by receiver")
    header = f"{'nodes':>10} {'edges':>11} {'step s':>8} {'s per 1M edges':>15} {'peak RSS MB':>12}"
    print(header)
    print("-" * len(header))
    for fraction in fractions:
        nodes = int(1_000_000 * fraction)
        result = subprocess.run(
            [sys.executable, __file__, "--scale-child", str(nodes), str(10 * nodes), str(steps)],
            capture_output=True, text=True, check=True,
        )
        r = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"{nodes:10,} {10 * nodes:11,} {r['seconds']:8.2f} {r['seconds'] / (10 * nodes / 1e6):15.3f} "
              f"{r['peak_rss_mb']:12,.0f}")


def scale_sizes(text: str) -> list[float]:
    """'0.1,0.3,1.0' -> [0.1, 0.3, 1.0]; '' or '0' -> [] (no scaling run)."""
    try:
        sizes = [float(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated numbers: {text!r}") from None
    if sizes == [0.0]:
        return []
    if any(not 0 < f <= 100 for f in sizes):
        raise argparse.ArgumentTypeError(f"sizes are millions of nodes in (0, 100]: {text!r} ('' or 0 to skip)")
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--data", nargs="*", default=["proteins", "cora"])
    parser.add_argument("--scale", type=scale_sizes, default="0.1,0.3,1.0",
                        help="graph sizes in millions of nodes, comma-separated ('' or 0 to skip)")
    parser.add_argument("--scale-child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child:
        print(json.dumps(scale_child(*args.scale_child)))
        return

    load = os.getloadavg()[0]
    peak = matmul_peak()
    print(f"load average before the run {load:.2f} on {os.cpu_count()} cores; "
          f"matrix-multiply peak (float32 2048^2, best of 10) {peak / 1e9:.1f} GFLOP/s")
    print(f"median of {args.rounds} rounds x {args.steps} steps after {WARMUP} warm-up steps, zoo and TF-GNN alternating")
    workloads = {"proteins": proteins, "cora": cora}
    for key in args.data:
        workload = workloads[key]()
        references = {}
        if key == "proteins":  # GIN's matmul references, timed in the same rounds as its step
            shape = workload[2]["node_features"].shape
            references["gin"] = {"its arithmetic as 24 plain matmuls": gin_as_matmuls(shape[0]),
                                 "the step's own 23 matmuls, in their shapes": gin_step_matmuls(*shape)}
        results = compare(workload, args.models, args.rounds, args.steps, peak, references)
        if "gin" in results:
            for label, mm in results["gin"][2].items():
                print(f"GIN step / {label} ({mm * 1e3:.1f} ms, same rounds): {results['gin'][0] / mm:.2f}")
    if args.scale:
        scaling(args.scale, max(2, args.steps // 2))


if __name__ == "__main__":
    main()
