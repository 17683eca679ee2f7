"""Training: `fit` and `evaluate` under tf.distribute (loop), strategies, checkpoints, what users pass (user_objects), data adapters, mixed precision."""

from zoo.training.loop import evaluate, fit
from zoo.training.strategies import is_chief, resolve_strategy, use_logical_cpus

__all__ = ["fit", "evaluate", "resolve_strategy", "use_logical_cpus", "is_chief"]
