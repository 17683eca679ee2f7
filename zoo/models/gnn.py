"""Graph neural networks over the plain-tensor graph batch, for node and graph classification.

| model       | paper                                                                          | layer (layers/)    |
| ----------- | ------------------------------------------------------------------------------ | ------------------ |
| `gcn`       | Kipf & Welling (2017). Semi-Supervised Classification with Graph Convolutional | `GCNConv` "sym"    |
|             | Networks. ICLR. arXiv:1609.02907 (section 5: 2 layers, 16 hidden, dropout 0.5, |                    |
|             | weight decay 5e-4 on the first layer)                                           |                    |
| `graphsage` | Hamilton, Ying, Leskovec (2017). Inductive Representation Learning on Large    | `SAGEConv`         |
|             | Graphs. NeurIPS. arXiv:1706.02216 (K = 2, mean aggregator, 256-d layers)        |                    |
| `gat`       | Brody, Alon, Yahav (2022). How Attentive are Graph Attention Networks? ICLR.   | `GATv2Conv`        |
|             | arXiv:2105.14491, in the setup of Velickovic et al. (2018) GAT, ICLR (section   |                    |
|             | 3.3: 8 heads x 8 features, ELU, output 1 head, dropout 0.6 on inputs and attention) |                |
| `gin`       | Xu, Hu, Leskovec, Jegelka (2019). How Powerful are Graph Neural Networks? ICLR. | `GINConv`         |
|             | arXiv:1810.00826 (section 7: 5 layers incl. the input, 2-layer MLPs, 64 hidden, |                    |
|             | batch norm, sum readout of every layer concatenated (eq. 4.2), dropout 0.5);    | `GINEConv` with   |
|             | with edge features the GINE form of Hu et al. (2020), arXiv:1905.12265          | edge_feature_size |
| `mpnn`      | Gilmer et al. (2017). Neural Message Passing for Quantum Chemistry. ICML.       | `MessagePassing`   |
|             | arXiv:1703.01212 (pair-message network with edge features, GRU update)           |                    |

Inputs: a dict of plain tensors (see `layers.message_passing`), with no batch axis:

    node_features   keras.Input(shape=(F,))                          -> [N, F]
    edge_index      keras.Input(batch_shape=(2, None), dtype="int32") -> [2, E]
    edge_features   keras.Input(shape=(D,))                          -> [E, D]   (gin, mpnn: edge_feature_size = D > 0)
    node_graph_ids  keras.Input(shape=(), dtype="int32")             -> [N]      (task="graph")

N and E are dynamic, so one model (and one traced `tf.function`) serves every batch. Feed it whole
batches: call it on a dict of tensors, or `fit` / `predict` on a `tf.data.Dataset` whose elements are
batches (`zoo.data.graph_dataset`, `NodeClassificationData.dataset`); Keras cannot cut a batch out
of arrays whose first axes differ. For the same reason `tf.distribute.MirroredStrategy` must not
split a batch itself: `fit` on a dataset of graph batches under it cuts `edge_index` [2, E] along
its first axis (the check layer reports it), and `fit` on per-replica batches
(`strategy.distribute_datasets_from_function`) fails in Keras 3.15 (an AddN of differently shaped
per-replica tensors). A `strategy.run` step over per-replica batches runs: distributed training of
graph models needs the project's own step. Models save to `.keras` and reload with no custom objects.

`gin` and `mpnn` take the option `edge_feature_size` D (gin: 0 = none, the default; mpnn: 4, the
bond types of MUTAG; 0 = none): with D > 0 the model has the `edge_features` input and uses it
(gin: `GINEConv` layers, h_v' = MLP((1 + eps) h_v + sum_u ReLU(h_u + e_uv W + b)), W [D, F] per
layer; mpnn: the edge's features enter each message). `zoo train` builds them with the data's D
(a TU data set folder with DS_edge_labels.txt, `zoo.data.load_tu`, gives the one-hot bond type;
data without edge features gives 0; `--set edge_feature_size=0` trains without them). `zoo.fit`
checks a model against its data: a model without the input on data with edge features warns
and leaves them out; a model with the input on data without them, or of another D, is an error
saying which edge_feature_size to build with (`zoo.training.edge_features`).

The first layer, "validate_graph_batch" (`layers.ValidateGraphBatch`), checks the batch (node ids
in range and not negative, ranks, lengths); every other layer reads its output, so inside
`tf.function` a bad batch fails with a message naming the tensor and the problem.

Every model has a config field `task`: "node" (one prediction per node: [N, num_classes]) or
"graph" (one per graph: a readout over each graph's nodes, then Dense: [G, num_classes]), e.g.
`zoo.build("gin", task="graph", num_classes=2, input_shape=(7,))`. The graph layers are named
`{gcn,sage,gat,gin,mp}{i}` (i = 1..len(hidden)), the dropouts `dropout{i}` (gcn and gat: each graph
layer drops its own input, its `input_dropout`, so that sparse bag-of-words features are dropped and
multiplied through their nonzero entries only: a GCN step on CiteSeer 80 -> 45 ms); the head is the layer
named "predictions": the last graph convolution for node-level `gcn` and `gat` (as in their
papers), a Dense layer otherwise. `include_top=False` returns the node embeddings of the last
hidden layer, or with pooling "avg" / "max" their mean / max per graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from layers.graph_conv import GATv2Conv, GCNConv, GINConv, GINEConv, SAGEConv
from layers.graph_pooling import READOUTS, GraphReadout
from layers.message_passing import MessagePassing, ValidateGraphBatch
from layers.normalization import FusedBatchNormalization
from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.models._common import register_variants
from zoo.recipes import Recipe

TASKS = ("node", "graph")


@dataclass(frozen=True)
class GNNConfig:
    """Fields every graph model has.

    task: "node" or "graph". hidden: widths of the hidden graph layers (per head for gat).
    dropout: rate on the input of every graph layer (and of a convolutional head).
    head_dropout: rate before the Dense head. activation: of the hidden layers.
    readout: "sum", "mean", "max" or "attention" (task="graph").
    jumping_knowledge: the graph vector concatenates the readouts of the input and of every
    hidden layer (GIN's eq. 4.2) instead of reading out the last layer only.
    l2: L2 factor on the kernels of the graph layers (Keras' L2: loss += l2 * sum(W^2), so the
    papers' `weight_decay * tf.nn.l2_loss(W)` is l2 = weight_decay / 2).
    l2_layers: "all" graph layers, or only the "first" (as Kipf & Welling's GCN code).
    """

    task: str = "node"
    hidden: tuple = (64, 64)
    dropout: float = 0.5
    head_dropout: float = 0.0
    activation: str = "relu"
    readout: str = "sum"
    jumping_knowledge: bool = False
    l2: float = 0.0
    l2_layers: str = "all"


@dataclass(frozen=True)
class GCNConfig(GNNConfig):
    """GCN: normalization "sym" (D^-1/2 (A+I) D^-1/2) or "mean" (D^-1 A)."""

    normalization: str = "sym"


@dataclass(frozen=True)
class SAGEConfig(GNNConfig):
    """GraphSAGE: aggregator "mean" or "max" (max-pooling); normalize: L2-normalize each layer's output."""

    aggregator: str = "mean"
    normalize: bool = False


@dataclass(frozen=True)
class GATConfig(GNNConfig):
    """GATv2: `heads` per hidden layer (concatenated), `output_heads` of the node-level head (averaged)."""

    heads: int = 8
    output_heads: int = 1
    attention_dropout: float = 0.6
    negative_slope: float = 0.2


@dataclass(frozen=True)
class GINConfig(GNNConfig):
    """GIN: MLP depth of each GINConv, eps learnable (GIN-eps) or fixed at 0 (GIN-0), batch norm (momentum
    0.9: PyTorch's default, as in the paper's code); edge_feature_size D > 0: GINEConv layers (Hu et al.
    2020) over an `edge_features` [E, D] input, 0 (the default): GINConv, no edge input."""

    edge_feature_size: int = 0
    mlp_layers: int = 2
    learn_epsilon: bool = False
    batch_norm: bool = True
    batch_norm_momentum: float = 0.9


@dataclass(frozen=True)
class MPNNConfig(GNNConfig):
    """MPNN: size of the edge features (0: none; 4 by default, MUTAG's bond types; `zoo train` and
    `zoo.fit`'s data decide it when they build the model), aggregation and update of each step."""

    edge_feature_size: int = 4
    aggregation: str = "sum"
    update: str = "gru"


VARIANTS = {
    "gcn": GCNConfig(task="node", hidden=(16,), dropout=0.5, l2=2.5e-4, l2_layers="first"),
    "graphsage": SAGEConfig(task="node", hidden=(256,), dropout=0.5, head_dropout=0.5, aggregator="mean"),
    "gat": GATConfig(task="node", hidden=(8,), heads=8, output_heads=1, dropout=0.6, attention_dropout=0.6,
                     activation="elu", l2=2.5e-4),
    "gin": GINConfig(task="graph", hidden=(64, 64, 64, 64), dropout=0.0, head_dropout=0.5, readout="sum",
                     jumping_knowledge=True),
    "mpnn": MPNNConfig(task="graph", hidden=(64, 64, 64), dropout=0.0, head_dropout=0.0, readout="sum",
                       edge_feature_size=4),
}

# the models that take edge features (option `edge_feature_size`): their card's `edge_features` input
EDGE_INPUTS = {
    "gin": "[E, D] float32, with edge_feature_size=D > 0 (default 0: no edge input)",
    "mpnn": "[E, D] float32, D = edge_feature_size (default 4; 0: no edge input)",
}

_PREFIX = {GCNConfig: "gcn", SAGEConfig: "sage", GATConfig: "gat", GINConfig: "gin", MPNNConfig: "mp"}

_CORA = "Cora (Planetoid split): 1,433 bag-of-words features, 7 classes"
_MUTAG = "MUTAG-style molecules: one-hot atom types (7 in the TU data set), 4 bond types, 2 classes"

# name: (level, input_shape, num_classes, params, trainable_params, reference, description, data)
# (gin: its batch-norm statistics and its fixed epsilons (GIN-0) are not trainable)
_TABLE = {
    "gcn": (
        "node", (1433,), 7, 23_063, 23_063,
        "Kipf, Welling (2017). Semi-Supervised Classification with Graph Convolutional Networks. ICLR. "
        "https://arxiv.org/abs/1609.02907",
        "graph convolutional network: 2 GCN layers (sym. normalized, self-loops), 16 hidden",
        _CORA,
    ),
    "graphsage": (
        "node", (1433,), 7, 735_751, 735_751,
        "Hamilton, Ying, Leskovec (2017). Inductive Representation Learning on Large Graphs. NeurIPS. "
        "https://arxiv.org/abs/1706.02216",
        "GraphSAGE: SAGE layers with mean (or max-pool) aggregation, Dense head",
        _CORA,
    ),
    "gat": (
        "node", (1433,), 7, 184_462, 184_462,
        "Brody, Alon, Yahav (2022). How Attentive are Graph Attention Networks? ICLR. "
        "https://arxiv.org/abs/2105.14491 ; Velickovic et al. (2018). Graph Attention Networks. ICLR. "
        "https://arxiv.org/abs/1710.10903",
        "graph attention network (GATv2 attention): 8 heads x 8, output layer 1 head",
        _CORA,
    ),
    "gin": (
        "graph", (7,), 2, 31_700, 30_672,
        "Xu, Hu, Leskovec, Jegelka (2019). How Powerful are Graph Neural Networks? ICLR. "
        "https://arxiv.org/abs/1810.00826",
        "graph isomorphism network: 4 GIN layers (2-layer MLPs, 64 hidden), sum readout of every layer; "
        "GINE layers over edge features with edge_feature_size > 0",
        _MUTAG,
    ),
    "mpnn": (
        "graph", (7,), 2, 101_058, 101_058,
        "Gilmer, Schoenholz, Riley, Vinyals, Dahl (2017). Neural Message Passing for Quantum Chemistry. ICML. "
        "https://arxiv.org/abs/1703.01212",
        "message passing network: edge-conditioned pair messages, GRU updates, sum readout",
        _MUTAG,
    ),
}

# Training recipes, as data (the weight decay of GCN and GAT is their models' L2, `l2` above, not the optimizer's).
RECIPES = {
    "gcn": Recipe(
        source="Kipf & Welling 2017 §5.2, tkipf/gcn train.py",
        optimizer="adam", learning_rate=0.01, epochs=200, batch_size=1, keep="last", patience=10, stop="window",
        notes="weight decay 5e-4 on the first layer is the model's l2; as the code, training stops when the "
              "validation loss exceeds its mean of the 10 epochs before, and the last weights are kept",
    ),
    "gat": Recipe(
        source="Velickovic et al. 2018 §3.3, PetarV-/GAT execute_cora.py",
        optimizer="adam", learning_rate=0.005, epochs=100_000, batch_size=1, keep="best_validation", patience=100,
        notes="L2 5e-4 is the model's l2; the code's patience watches validation loss and accuracy, here the loss",
    ),
    "graphsage": Recipe(
        source="Hamilton et al. 2017 §4 (GraphSAGE supervised_train.py); budget of Kipf & Welling §5.2",
        optimizer="adam", learning_rate=0.01, epochs=200, batch_size=1, keep="best_validation", patience=10,
        notes="full-graph steps: the paper's 10 epochs of 512-node minibatches become GCN's 200 epochs and patience",
    ),
    "gin": Recipe(
        source="Xu et al. 2019 §7",
        optimizer="adam", learning_rate=0.01, schedule="step", schedule_args={"every": 50, "factor": 0.5},
        epochs=350, min_steps=2000, batch_size=32, keep="best_validation",
        notes="at least 2000 steps is the zoo's, for small data sets (36 graphs at batch 32 make 2 steps an epoch)",
    ),
    "mpnn": Recipe(
        source="Gilmer et al. 2017 §8",
        optimizer="adam", learning_rate=5e-4, schedule="linear", schedule_args={"min_lr": 5e-5},
        epochs=540, min_steps=2000, batch_size=20, keep="best_validation",
        notes="3 million steps of batch 20 on QM9 (~540 epochs), the learning rate decayed linearly to 10%; "
              "at least 2000 steps is the zoo's",
    ),
}

CARDS = {
    name: ModelCard(
        name=name,
        family="gnn",
        task="graph",
        input_shape=input_shape,
        params=params,
        trainable_params=trainable,
        min_input_size=None,
        num_classes=num_classes,
        reference=reference,
        reference_impl=None,
        reference_params=None,
        reference_counts="total",
        keras_application=None,
        head_layers=("predictions",),
        description=description,
        recipe=RECIPES[name],
        extra={
            "level": level,
            "default_data": data,
            "inputs": {
                "node_features": "[N, F] float32",
                "edge_index": "[2, E] int32 (senders, receivers)",
                **({"edge_features": EDGE_INPUTS[name]} if name in EDGE_INPUTS else {}),
                **({"node_graph_ids": "[N] int32"} if level == "graph" else {}),
            },
        },
    )
    for name, (level, input_shape, num_classes, params, trainable, reference, description, data) in _TABLE.items()
}


def _check_config(config: GNNConfig, name: str) -> None:
    def bad(message):
        raise InvalidArgumentError(f"{name}: {message}")

    if config.task not in TASKS:
        bad(f"task must be one of {TASKS}, got {config.task!r}")
    hidden = tuple(config.hidden)
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        bad(f"hidden must be a tuple of layer widths >= 1, got {config.hidden!r}")
    for field in ("dropout", "head_dropout") + (("attention_dropout",) if isinstance(config, GATConfig) else ()):
        if not 0.0 <= getattr(config, field) < 1.0:
            bad(f"{field} must be a rate in [0, 1), got {getattr(config, field)!r}")
    if config.readout not in READOUTS:
        bad(f"readout must be one of {READOUTS}, got {config.readout!r}")
    if config.l2 < 0:
        bad(f"l2 must be >= 0, got {config.l2!r}")
    if config.l2_layers not in ("all", "first"):
        bad(f"l2_layers must be 'all' or 'first', got {config.l2_layers!r}")
    if isinstance(config, GCNConfig) and config.normalization not in ("sym", "mean"):
        bad(f"normalization must be 'sym' or 'mean', got {config.normalization!r}")
    if isinstance(config, SAGEConfig) and config.aggregator not in ("mean", "max"):
        bad(f"aggregator must be 'mean' or 'max', got {config.aggregator!r}")
    if isinstance(config, (GINConfig, MPNNConfig)):
        size = config.edge_feature_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            bad(f"edge_feature_size must be an integer >= 0 (the D of edge_features [E, D]; 0 for none), got {size!r}")
    if isinstance(config, MPNNConfig):
        if config.aggregation not in ("sum", "mean", "max"):
            bad(f"aggregation must be 'sum', 'mean' or 'max', got {config.aggregation!r}")
        if config.update not in ("gru", "dense"):
            bad(f"update must be 'gru' or 'dense', got {config.update!r}")
        if config.update == "gru" and len(set(hidden)) > 1:
            bad(f"update='gru' keeps the state size, so every hidden width must be equal, got {hidden}")
    if not hidden and not (config.task == "node" and isinstance(config, (GCNConfig, GATConfig))):
        bad("hidden must name at least one graph layer")


def graph_inputs(feature_size: int, *, edge_feature_size: int = 0, node_graph_ids: bool = False) -> dict:
    """The `keras.Input`s of a graph batch: no batch axis, N and E dynamic."""
    inputs = {
        "node_features": keras.Input(shape=(feature_size,), name="node_features"),
        "edge_index": keras.Input(batch_shape=(2, None), dtype="int32", name="edge_index"),
    }
    if edge_feature_size:
        inputs["edge_features"] = keras.Input(shape=(edge_feature_size,), name="edge_features")
    if node_graph_ids:
        inputs["node_graph_ids"] = keras.Input(shape=(), dtype="int32", name="node_graph_ids")
    return inputs


def _drops_own_input(config: GNNConfig) -> bool:
    """gcn and gat layers apply the dropout before them themselves (`input_dropout`)."""
    return isinstance(config, (GCNConfig, GATConfig))


def _graph_layer(config: GNNConfig, units: int, *, name: str, activation, validate: bool, head: bool = False,
                 first: bool = False):
    """The graph layer of the family with `units` outputs (per head for gat)."""
    regularized = config.l2 and (first or config.l2_layers == "all")
    regularizer = keras.regularizers.L2(config.l2) if regularized else None
    common = dict(name=name, validate=validate, kernel_regularizer=regularizer)
    if _drops_own_input(config):
        common["input_dropout"] = config.dropout
    if isinstance(config, GCNConfig):
        return GCNConv(units, normalization=config.normalization, activation=activation, **common)
    if isinstance(config, SAGEConfig):
        return SAGEConv(units, aggregator=config.aggregator, normalize=config.normalize, activation=activation, **common)
    if isinstance(config, GATConfig):
        return GATv2Conv(
            units,
            heads=config.output_heads if head else config.heads,
            concat=not head,
            attention_dropout=config.attention_dropout,
            negative_slope=config.negative_slope,
            activation=activation,
            **common,
        )
    if isinstance(config, GINConfig):
        return (GINEConv if config.edge_feature_size else GINConv)(
            units,
            mlp_layers=config.mlp_layers,
            learn_epsilon=config.learn_epsilon,
            batch_norm=config.batch_norm,
            batch_norm_momentum=config.batch_norm_momentum,
            activation=config.activation,
            output_bias=not config.batch_norm,  # the model's batch norm follows (see GINConv: no bias before it)
            **common,
        )
    if isinstance(config, MPNNConfig):
        return MessagePassing(
            units,
            aggregation=config.aggregation,
            update=config.update,
            activation=activation,
            use_edge_features=bool(config.edge_feature_size),
            **common,
        )
    raise TypeError(f"no graph layer for config {type(config).__name__}")


def _build_gnn(config: GNNConfig, *, name, num_classes, input_shape, include_top, pooling, classifier_activation):
    """A functional graph model: [input projection] -> hidden graph layers -> head (see the module doc)."""
    _check_config(config, name)
    feature_size = input_shape[-1]
    if len(input_shape) != 1 or feature_size is None:
        raise InvalidArgumentError(
            f"{name}: input_shape is the node feature size (F,), e.g. {CARDS[name].input_shape}; got {tuple(input_shape)}"
        )
    node_task = config.task == "node"
    conv_head = node_task and include_top and isinstance(config, (GCNConfig, GATConfig))
    needs_ids = (include_top and not node_task) or (not include_top and pooling is not None)
    edge_size = getattr(config, "edge_feature_size", 0)
    inputs = graph_inputs(feature_size, edge_feature_size=edge_size, node_graph_ids=needs_ids)
    prefix = _PREFIX[type(config)]

    # checked once, first: every later op depends on the checks (see layers.ValidateGraphBatch)
    checked = ValidateGraphBatch(name="validate_graph_batch")(inputs)

    def graph(x):
        g = {"node_features": x, "edge_index": checked["edge_index"]}
        if edge_size:
            g["edge_features"] = checked["edge_features"]
        return g

    def readout(x, reduction, layer_name):
        ids = checked["node_graph_ids"]
        return GraphReadout(reduction, validate=False, name=layer_name)({"node_features": x, "node_graph_ids": ids})

    x = checked["node_features"]
    if isinstance(config, MPNNConfig) and config.update == "gru" and config.hidden:
        # the GRU keeps the state size: project the input features to it first (the paper pads them)
        x = layers.Dense(config.hidden[0], activation=config.activation, name="node_embedding")(x)
    states = [x]
    for i, units in enumerate(config.hidden, start=1):
        if config.dropout and not _drops_own_input(config):
            x = layers.Dropout(config.dropout, name=f"dropout{i}")(x)
        x = _graph_layer(config, units, name=f"{prefix}{i}", activation=config.activation, validate=False,
                         first=i == 1)(graph(x))
        if isinstance(config, GINConfig):
            if config.batch_norm:
                x = FusedBatchNormalization(momentum=config.batch_norm_momentum, name=f"{prefix}{i}_bn")(x)
            x = layers.Activation(config.activation, name=f"{prefix}{i}_act")(x)
        states.append(x)

    if not include_top:
        if pooling is None:
            return keras.Model(inputs, x, name=name)
        reduction = {"avg": "mean", "max": "max"}[pooling]
        return keras.Model(inputs, readout(x, reduction, f"{pooling}_pool"), name=name)

    if conv_head:
        head = _graph_layer(
            config, num_classes, name="predictions", activation=classifier_activation, validate=False, head=True,
            first=not config.hidden,
        )
        return keras.Model(inputs, head(graph(x)), name=name)

    if not node_task:
        if config.jumping_knowledge:
            pooled = [readout(h, config.readout, f"readout{i}") for i, h in enumerate(states)]
            x = layers.Concatenate(name="readout_concat")(pooled) if len(pooled) > 1 else pooled[0]
        else:
            x = readout(x, config.readout, "readout")
    if config.head_dropout:
        x = layers.Dropout(config.head_dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build_gnn)
