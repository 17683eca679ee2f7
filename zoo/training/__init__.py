"""Training: `fit` and `evaluate` under tf.distribute (loop), strategies, checkpoints, what users pass (user_objects), data adapters, mixed precision.

The names below load their modules on first use (zoo._lazy), so `zoo.training.strategies` can be
imported with TensorFlow alone (what `import zoo` does for $ZOO_LOGICAL_CPUS) and Keras comes in
with `fit`.
"""

from zoo._lazy import make_lazy

__all__ = ["fit", "evaluate", "resolve_strategy", "use_logical_cpus", "is_chief"]

make_lazy(__name__, {
    "fit": "zoo.training.loop",
    "evaluate": "zoo.training.loop",
    "resolve_strategy": "zoo.training.strategies",
    "use_logical_cpus": "zoo.training.strategies",
    "is_chief": "zoo.training.strategies",
})
