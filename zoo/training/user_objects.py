"""What users pass to `zoo.fit` (optimizers, losses, metrics), made to work under its strategy.

Every Keras tutorial creates its optimizer (with a learning-rate schedule), loss and metrics
before training starts, i.e. outside any `tf.distribute` scope. Objects with TensorFlow variables
(optimizers, metrics) belong to the strategy in whose scope they were created, and one made under
the default strategy cannot update variables of a MirroredStrategy ("Mixing different
tf.distribute.Strategy objects"). So an object created outside `zoo.fit`'s strategy is rebuilt
inside its scope from its Keras config (`keras.saving.serialize_keras_object`, then
`keras.optimizers.deserialize` / `keras.metrics.deserialize`): same class, same schedule, same
hyper-parameters. Losses and schedules hold no variables and are used as given.
"""

from __future__ import annotations

import copy
import math
from typing import Callable

import keras
import tensorflow as tf

from zoo.errors import InvalidArgumentError

BUILTIN_LOGS = ("loss", "accuracy")  # what zoo.fit always reports (see loop._logs)
BUILTIN_ACCURACY_NAMES = ("accuracy", "acc")


def make_optimizer(optimizer, learning_rate, strategy: tf.distribute.Strategy, mixed_precision: str | None):
    """The optimizer to train with under `strategy` (call inside `strategy.scope()`).

    Args:
        optimizer: a name ("adam", "sgd", ...), a `keras.optimizers.Optimizer` class, or an instance
            not used yet. An instance whose variables belong to `strategy` is used as is; one
            created elsewhere (the usual case) is rebuilt from its config, and left untouched.
        learning_rate: a float or a schedule, for names and classes (an instance keeps its own).
        mixed_precision: "mixed_float16" wraps the optimizer in a `LossScaleOptimizer`.
    """
    if isinstance(optimizer, keras.optimizers.Optimizer):
        if optimizer.built:
            raise InvalidArgumentError(
                "this optimizer has already been used (it is built for other variables): pass a new one, or a "
                "name such as 'adam'; to continue an interrupted run, pass the same checkpoint_dir instead"
            )
        opt = optimizer if _variables_in_scope(optimizer, strategy) else rebuild(optimizer, "optimizer")
    else:
        opt = _optimizer_from_name(optimizer, learning_rate)
    if mixed_precision == "mixed_float16" and not isinstance(opt, keras.optimizers.LossScaleOptimizer):
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def optimizer_like(optimizer, learning_rate):
    """A new optimizer of the same kind and hyper-parameters as `optimizer` (a name, class or
    instance) but with `learning_rate`: the backbone's optimizer of `backbone_learning_rate`."""
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        return _optimizer_from_name(optimizer, learning_rate)
    config = keras.saving.serialize_keras_object(optimizer)
    config["config"]["learning_rate"] = keras.saving.serialize_keras_object(learning_rate)
    return _deserialize(config, optimizer, "optimizer")


def _optimizer_from_name(optimizer, learning_rate):
    try:
        if isinstance(optimizer, str):
            return keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": learning_rate}})
        return optimizer(learning_rate=learning_rate)
    except (ValueError, TypeError) as error:
        raise InvalidArgumentError(
            f"unknown optimizer {optimizer!r} ({error}); pass a name such as 'adam', 'sgd' or 'adamw', a "
            "keras.optimizers.Optimizer class, or an instance"
        ) from None


def _variables_in_scope(optimizer, strategy) -> bool:
    return all(strategy.extended.variable_created_in_scope(getattr(v, "value", v)) for v in optimizer.variables)


def make_loss(loss, model: keras.Model, *, label_smoothing: float = 0.0) -> Callable:
    """`loss` (a name, a `keras.losses.Loss` or a function `f(y_true, y_pred)`) as a function
    returning per-example values [batch] (no reduction: zoo.fit divides by the global batch).

    Default (None): sparse categorical cross-entropy, from logits unless the model ends in a softmax;
    with `label_smoothing` (a recipe's), the cross-entropy of the one-hot labels smoothed by it.
    """
    if loss is None:
        activation = getattr(getattr(model.layers[-1], "activation", None), "__name__", "")
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=activation != "softmax")
        if label_smoothing:
            return _smoothed_cross_entropy(label_smoothing, from_logits=activation != "softmax")
    else:
        try:
            loss = keras.losses.get(loss)
        except (ValueError, TypeError) as error:
            raise InvalidArgumentError(
                f"unknown loss {loss!r} ({error}); pass a name such as 'sparse_categorical_crossentropy', a "
                "keras.losses.Loss or a function f(y_true, y_pred)"
            ) from None
    if isinstance(loss, keras.losses.Loss):
        return loss.call  # per-example values, no reduction
    return loss


def _smoothed_cross_entropy(smoothing: float, *, from_logits: bool) -> Callable:
    """Per-example cross-entropy of integer labels [batch] (one-hot, smoothed) against predictions [batch, classes]."""

    def loss(y_true, y_pred):
        if not y_true.dtype.is_integer:  # one-hot or soft labels already
            return keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=from_logits,
                                                         label_smoothing=smoothing)
        onehot = tf.one_hot(tf.reshape(tf.cast(y_true, tf.int32), [-1]), tf.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(onehot, y_pred, from_logits=from_logits, label_smoothing=smoothing)

    return loss


def make_metrics(metrics) -> list[keras.metrics.Metric]:
    """Fresh metric objects for `metrics` (call inside the strategy's scope), one per entry.

    Args:
        metrics: None, or a list of names ("mae", "auc", ...), `keras.metrics.Metric` instances or
            classes, or functions `f(y_true, y_pred)` (averaged over examples). "accuracy" / "acc"
            name the accuracy zoo.fit always reports, and add nothing.

    Instances are rebuilt from their config, never updated in place: their results are in the
    history `zoo.fit` returns, under each metric's name (and "val_" + name).
    """
    if metrics is None:
        return []
    if not isinstance(metrics, (list, tuple)):
        raise InvalidArgumentError(f"metrics must be a list of metrics (names, keras.metrics objects or functions), "
                                   f"got {type(metrics).__name__}")
    built = []
    for metric in metrics:
        if isinstance(metric, str) and metric in BUILTIN_ACCURACY_NAMES:
            continue
        built.append(_metric(metric))
    names = [m.name for m in built]
    taken = sorted({n for n in names if n in BUILTIN_LOGS or names.count(n) > 1})
    if taken:
        raise InvalidArgumentError(
            f"metric name(s) {taken} clash with zoo.fit's own 'loss' and 'accuracy' (always reported) or with each "
            "other; give them other names, e.g. keras.metrics.SparseCategoricalAccuracy(name='sparse_accuracy')"
        )
    return built


def _metric(metric) -> keras.metrics.Metric:
    if isinstance(metric, keras.metrics.Metric):
        return rebuild(metric, "metric")
    if isinstance(metric, type) and issubclass(metric, keras.metrics.Metric):
        return metric()
    if isinstance(metric, str):
        try:
            found = keras.metrics.get(metric)
        except (ValueError, TypeError):
            raise InvalidArgumentError(
                f"unknown metric {metric!r}; pass a name such as 'mae' or 'auc', a keras.metrics.Metric or a "
                "function f(y_true, y_pred)"
            ) from None
        return found if isinstance(found, keras.metrics.Metric) else keras.metrics.MeanMetricWrapper(found, name=metric)
    if callable(metric):
        return keras.metrics.MeanMetricWrapper(metric, name=getattr(metric, "__name__", "metric"))
    raise InvalidArgumentError(
        f"a metric must be a name, a keras.metrics.Metric (instance or class) or a function, got {type(metric).__name__}"
    )


def rebuild(obj, kind: str):
    """A new `obj` (an optimizer or a metric) created in the current scope from its Keras config.

    Classes never registered with `keras.saving.register_keras_serializable` are found too (the
    object's own class, and those of the Keras objects it holds, such as a schedule). Raises
    InvalidArgumentError when the config cannot rebuild the object, or rebuilds a different one
    (a `get_config` that leaves out some `__init__` argument).
    """
    return _deserialize(keras.saving.serialize_keras_object(obj), obj, kind)


def _deserialize(config: dict, like, kind: str):
    deserialize = keras.optimizers.deserialize if kind == "optimizer" else keras.metrics.deserialize
    advice = (f"create the {kind} inside `strategy.scope()` of the strategy you pass to zoo.fit, or give its "
              "class a get_config() that returns every __init__ argument")
    try:
        clone = deserialize(copy.deepcopy(config), custom_objects=_classes_of(like))  # from_config edits it
    except Exception as error:  # whatever a user's from_config raises
        raise InvalidArgumentError(
            f"zoo.fit rebuilds {kind}s created outside its strategy's scope from their config, and "
            f"{type(like).__name__}'s config does not rebuild it ({type(error).__name__}: {error}); {advice}"
        ) from None
    before, after = _hyper_parameters(like), _hyper_parameters(clone)
    before.update(config["config"])
    after.update(keras.saving.serialize_keras_object(clone)["config"])
    changed = sorted(k for k in set(before) | set(after) if not _same(before.get(k), after.get(k)))
    if changed:
        raise InvalidArgumentError(
            f"zoo.fit rebuilds {kind}s created outside its strategy's scope from their config, and "
            f"{type(like).__name__}'s config rebuilds a different one (differs in {changed}); {advice}"
        )
    return clone


def _same(a, b) -> bool:
    """Equal hyper-parameters; floats to float32 precision (a learning rate of 1e-4 reads back from its
    float32 variable as 9.99999974e-05)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


def _hyper_parameters(obj) -> dict:
    """The public attributes of `obj` holding plain values (its hyper-parameters, e.g. `momentum`):
    a rebuilt object must have the same, or its get_config left something out."""
    plain = (bool, int, float, str, type(None), tuple)
    return {k: v for k, v in vars(obj).items() if not k.startswith("_") and isinstance(v, plain)}


def _classes_of(obj, seen=None) -> dict:
    """{registered name: class} of `obj` and of the Keras objects its attributes hold (e.g. the
    learning-rate schedule of an optimizer, the inner optimizer of a LossScaleOptimizer)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return {}
    seen.add(id(obj))
    classes = {keras.saving.get_registered_name(type(obj)): type(obj)}
    for value in vars(obj).values():
        if isinstance(value, (keras.optimizers.schedules.LearningRateSchedule, keras.optimizers.Optimizer)):
            classes.update(_classes_of(value, seen))
    return classes
