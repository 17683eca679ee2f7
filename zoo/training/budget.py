"""The Keras side of a recipe (zoo.recipes) during `zoo.fit`: the arguments it fills in, the
learning-rate schedule, early stopping, the time cap and the weights kept at the end.

`recipe_of(model, recipe)` is the recipe `fit` uses; `fill_in` gives `fit`'s arguments the user
left unset (None) their recipe values (the batch size from the training-set size, the epochs
from the minimum number of steps).

`Budget.begin_epoch` sets the learning rate of a "step", "cosine" or "linear" schedule from the
epoch number (so a resumed run continues the same schedule), before the user's callbacks, and leaves the rate
to them once one of them has set it (a user's LearningRateScheduler or ReduceLROnPlateau wins over
the recipe's schedule); `Budget.end_epoch` applies
ReduceLROnPlateau, records the best weights of the monitored loss and says whether to stop
(patience or time limit); `Budget.finish` puts the kept weights back into the model.

`Budget.state` (a `BudgetState`) goes into `fit`'s checkpoints: a resumed run continues with the
best value and weights found before the interruption, the patience and plateau counters, the
monitored history and the training time already spent (the time limit counts it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from zoo.errors import InvalidArgumentError
from zoo.recipes import DEFAULT, Recipe
from zoo.training.data import TrainingData


def recipe_of(model, recipe) -> tuple[str | None, Recipe]:
    """(the name to print, the recipe) `fit` trains `model` with: `recipe="card"` the model card's
    (none: zoo.recipes.DEFAULT, today's defaults, nothing printed), None the defaults, or a Recipe."""
    if isinstance(recipe, Recipe):
        card = getattr(model, "zoo_card", None)
        return (card.name if card is not None else "given"), recipe
    if recipe is None:
        return None, DEFAULT
    if recipe != "card":
        raise InvalidArgumentError(f"recipe must be 'card', None or a zoo.recipes.Recipe, got {recipe!r}")
    card = getattr(model, "zoo_card", None)
    if card is None or getattr(card, "recipe", None) is None:
        return None, DEFAULT
    return card.name, card.recipe


def _recipe_optimizer(recipe: Recipe, learning_rate):
    """The recipe's optimizer (its arguments and weight decay) at `learning_rate`, as an unbuilt instance."""
    config = {"learning_rate": learning_rate, **recipe.optimizer_args}
    if recipe.weight_decay:
        config["weight_decay"] = recipe.weight_decay
    if recipe.optimizer_args or recipe.weight_decay:
        try:
            return keras.optimizers.get({"class_name": recipe.optimizer, "config": config})
        except (ValueError, TypeError) as error:
            raise InvalidArgumentError(f"the recipe's optimizer {recipe.optimizer!r} with {config}: {error}") from None
    return recipe.optimizer


@dataclass
class FitArguments:
    """`fit`'s arguments after `fill_in`; `scheduled`: whether the recipe's schedule applies."""

    train: TrainingData
    batch_size: int
    epochs: int
    optimizer: object
    learning_rate: object
    augment: object
    time_limit: float | None
    scheduled: bool

    def summary(self, recipe: Recipe, name: str) -> str:
        """The line `fit` prints (Recipe.summary with these values)."""
        shown = self.learning_rate
        if isinstance(self.optimizer, keras.optimizers.Optimizer):
            inner = getattr(self.optimizer, "inner_optimizer", self.optimizer)
            # a float variable: its value; a user's schedule: named by its class ("adamw lr CosineDecay")
            shown = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate)) if _settable(self.optimizer) \
                else inner._learning_rate
        return recipe.summary(name, epochs=self.epochs, batch_size=self.batch_size, learning_rate=shown,
                              optimizer=self.optimizer, scheduled=self.scheduled, time_limit=self.time_limit)


def fill_in(recipe: Recipe, model, source, *, batch_size, epochs, optimizer, learning_rate, augment, time_limit,
            seed: int) -> FitArguments:
    """`fit`'s arguments, the unset ones (None) from `recipe`, with the training data of `source`
    (a `DataSource`) batched. The schedule applies unless `learning_rate` is a schedule or
    `optimizer` an instance (theirs win); `augment=False` means none."""
    if batch_size is None:
        batch_size = recipe.batch_size_for(None if source.labels is None else len(source.labels))
    train = source.training_data(batch_size, True, seed)
    if epochs is None:
        epochs = recipe.epochs_for(train.steps_per_epoch)
    scheduled = not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule) and not isinstance(
        optimizer, keras.optimizers.Optimizer)
    if learning_rate is None:
        learning_rate = recipe.learning_rate
    if optimizer is None:
        optimizer = _recipe_optimizer(recipe, learning_rate)
    if augment is False:
        augment = None
    elif augment is None and recipe.augment and getattr(model, "inputs", None):
        augment = augmentation(recipe.augment, tuple(model.inputs[0].shape[1:]), seed)
    time_limit = recipe.time_limit if time_limit is None else time_limit
    return FitArguments(train, batch_size, epochs, optimizer, learning_rate, augment, time_limit, scheduled)


class BudgetState:
    """A `Budget`'s counters as variables, for checkpoints (`Budget.save_state` / `load_state`).

    best, best_epoch (-1: none), plateau_best, plateau_wait, elapsed (seconds of training so far),
    history [epochs] (the monitored value of every epoch), and `best_weights`: one variable per
    weight of the model, when the recipe keeps the best weights (else none), holding those of
    epoch `weights_epoch` (-1: none; a checkpoint of a run that kept none leaves it so).
    """

    def __init__(self, model, keeps_weights: bool):
        scalar = lambda value, dtype, name: tf.Variable(value, dtype=dtype, trainable=False, name=name)  # noqa: E731
        self.best = scalar(math.inf, tf.float64, "best")
        self.best_epoch = scalar(-1, tf.int64, "best_epoch")
        self.plateau_best = scalar(math.inf, tf.float64, "plateau_best")
        self.plateau_wait = scalar(0, tf.int64, "plateau_wait")
        self.elapsed = scalar(0.0, tf.float64, "elapsed")
        self.weights_epoch = scalar(-1, tf.int64, "weights_epoch")
        self.history = tf.Variable(tf.zeros([0], tf.float64), shape=tf.TensorShape([None]), trainable=False,
                                   name="history")
        self.best_weights = [tf.Variable(tf.zeros(w.shape, w.dtype), trainable=False, name=f"best_{i}")
                             for i, w in enumerate(model.weights)] if keeps_weights else []

    def parts(self) -> dict:
        """{name: variable or list of variables}: what `Checkpoints(optional=...)` saves and restores."""
        names = ("best", "best_epoch", "plateau_best", "plateau_wait", "elapsed", "weights_epoch", "history")
        return {name: getattr(self, name) for name in names} | ({"best_weights": self.best_weights}
                                                                if self.best_weights else {})


class Budget:
    """One `fit` call's schedule, stopping rule and kept weights.

    Args:
        recipe: the recipe in use.
        epochs: the resolved number of epochs (the schedule's horizon for "cosine" / "linear").
        optimizers: the optimizers of the training groups; the schedule scales each from the
            learning rate it has now (before any checkpoint is restored), when that is a float.
        schedule: False when the user's learning rate is a schedule or an optimizer instance (theirs
            wins).
        has_validation: whether `logs` carry "val_loss".
        time_limit: seconds, or None.
        strategy: the tf.distribute strategy (workers agree on stopping).
        model: when the run is checkpointed, the model trained: `state` holds copies of its weights
            for the kept ones (None: counters only).
    """

    def __init__(self, recipe: Recipe, *, epochs: int, optimizers, schedule: bool, has_validation: bool,
                 time_limit: float | None, strategy, model=None):
        self.recipe, self.epochs, self.strategy = recipe, epochs, strategy
        self.state = BudgetState(model, keeps_weights=model is not None and recipe.keep != "last")
        self._saved_best_epoch = None  # the best epoch whose weights `state` holds
        self.optimizers = [o for o in optimizers if schedule and _settable(o)]
        self.base = [float(keras.ops.convert_to_numpy(o.learning_rate)) for o in self.optimizers]
        validation = "val_loss" if has_validation else "loss"
        self.monitor = "loss" if recipe.keep == "best_training_loss" else validation
        plateau = recipe.schedule_args.get("monitor", "loss")
        self.plateau_monitor = plateau if has_validation else "loss"
        self.time_limit, self.start = time_limit, time.monotonic()
        self.best, self.best_epoch, self.best_weights = math.inf, None, None
        self.history = []  # the monitored value of every epoch (the "window" rule)
        self.plateau_best, self.plateau_wait = math.inf, 0
        self.last = None  # the rates as this budget left them: another value means a user's callback sets them

    def _rates(self) -> list[float]:
        return [float(keras.ops.convert_to_numpy(o.learning_rate)) for o in self.optimizers]

    def _owned(self) -> bool:
        """Whether the schedule is still this budget's: once a user's callback (LearningRateScheduler,
        ReduceLROnPlateau) has set a rate, the user's schedule wins and the recipe's stops."""
        if self.last is not None and not np.allclose(self._rates(), self.last, rtol=1e-6, atol=0):
            self.optimizers = []
        return bool(self.optimizers)

    def _set(self, rates) -> None:
        for opt, rate in zip(self.optimizers, rates):
            opt.learning_rate = rate
        self.last = self._rates()

    def begin_epoch(self, epoch: int) -> None:
        """Before the user's callbacks' `on_epoch_begin` (theirs win)."""
        if self.last is None:
            self.last = self._rates()  # after a checkpoint is restored
        if self.recipe.schedule in ("step", "cosine", "linear") and self._owned():
            self._set([self._scheduled(base, epoch) for base in self.base])

    def _scheduled(self, base: float, epoch: int) -> float:
        args = self.recipe.schedule_args
        if self.recipe.schedule == "step":
            return base * args.get("factor", 0.1) ** (epoch // args.get("every", 30))
        low = min(args.get("min_lr", 0.0), base)
        progress = min(epoch / max(self.epochs, 1), 1.0)
        shape = 0.5 * (1 + math.cos(math.pi * progress)) if self.recipe.schedule == "cosine" else 1 - progress
        return low + (base - low) * shape

    def end_epoch(self, epoch: int, logs: dict, model: keras.Model) -> bool:
        """Record the epoch (`logs` has "loss", maybe "val_loss"); True when training should stop."""
        if self.recipe.schedule == "plateau" and self._owned():
            self._plateau(logs[self.plateau_monitor])
        value = logs.get(self.monitor, math.inf)
        if value < self.best:
            self.best, self.best_epoch = value, epoch
            if self.recipe.keep != "last":
                self.best_weights = [np.array(w) for w in model.get_weights()]
        stop = self._patience_says_stop(epoch, value)
        if self.time_limit is not None and time.monotonic() - self.start >= self.time_limit:
            stop = True
        return _agree(self.strategy, stop)

    def _patience_says_stop(self, epoch: int, value: float) -> bool:
        """The recipe's early stopping (see `Recipe.stop`) after this epoch's monitored `value`."""
        patience = self.recipe.patience
        self.history.append(value)
        if patience is None:
            return False
        if self.recipe.stop == "window":
            before = self.history[-patience - 1:-1]
            return len(before) == patience and value > float(np.mean(before))
        return self.best_epoch is not None and epoch - self.best_epoch >= patience

    def _plateau(self, value: float) -> None:
        args = self.recipe.schedule_args
        if value < self.plateau_best:
            self.plateau_best, self.plateau_wait = value, 0
            return
        self.plateau_wait += 1
        if self.plateau_wait >= args.get("patience", 10):
            self.plateau_wait = 0
            self._set([max(rate * args.get("factor", 0.1), args.get("min_lr", 0.0)) for rate in self._rates()])

    def save_state(self) -> None:
        """Write the counters (and the kept weights, when they changed) into `state`, before a checkpoint."""
        st = self.state
        st.best.assign(self.best)
        st.best_epoch.assign(-1 if self.best_epoch is None else self.best_epoch)
        st.plateau_best.assign(self.plateau_best)
        st.plateau_wait.assign(self.plateau_wait)
        st.elapsed.assign(time.monotonic() - self.start)
        st.history.assign(np.asarray(self.history, np.float64))
        if not st.best_weights:
            st.weights_epoch.assign(-1)
        if self.best_weights is not None and self._saved_best_epoch != self.best_epoch:
            for variable, value in zip(st.best_weights, self.best_weights):
                variable.assign(value)
            st.weights_epoch.assign(self.best_epoch)
            self._saved_best_epoch = self.best_epoch

    def load_state(self) -> None:
        """Take the counters from `state`, after a checkpoint was restored into it."""
        st = self.state
        self.best, epoch = float(st.best.numpy()), int(st.best_epoch.numpy())
        self.best_epoch = None if epoch < 0 else epoch
        self.plateau_best, self.plateau_wait = float(st.plateau_best.numpy()), int(st.plateau_wait.numpy())
        self.start = time.monotonic() - float(st.elapsed.numpy())
        self.history = [float(v) for v in st.history.numpy()]
        if st.best_weights and self.best_epoch is not None:
            if int(st.weights_epoch.numpy()) == self.best_epoch:
                self.best_weights = [v.numpy() for v in st.best_weights]
                self._saved_best_epoch = self.best_epoch
            else:  # the checkpoint has no weights of that epoch (its run kept the last): look for the best anew
                self.best, self.best_epoch = math.inf, None

    def finish(self, model: keras.Model) -> int | None:
        """Put the kept weights into `model`; returns the epoch they come from (None: the last)."""
        if self.best_weights is None:
            return None
        model.set_weights(self.best_weights)
        return self.best_epoch


def _settable(optimizer) -> bool:
    """Whether the learning rate of `optimizer` is a float variable (not a user's schedule)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return not isinstance(getattr(inner, "_learning_rate", None), keras.optimizers.schedules.LearningRateSchedule)


def _agree(strategy, stop: bool) -> bool:
    """`stop` of any worker, on every worker (clocks differ between workers; the losses do not)."""
    if not getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)():
        return stop
    value = strategy.experimental_distribute_values_from_function(lambda _: tf.constant(float(stop)))
    return bool(strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None).numpy() > 0)


def augmentation(names: tuple[str, ...], input_shape, seed: int):
    """The Keras layers of a recipe's image augmentations for inputs of `input_shape` [h, w, c]
    (None when there are none or the images are not of a fixed size)."""
    if not names or len(input_shape) != 3 or None in input_shape[:2]:
        return None
    height, width = input_shape[:2]
    steps = []
    if "random_crop" in names:
        steps += [keras.layers.ZeroPadding2D((height // 8, width // 8)), keras.layers.RandomCrop(height, width, seed=seed)]
    if "horizontal_flip" in names:
        steps.append(keras.layers.RandomFlip("horizontal", seed=seed))
    return keras.Sequential(steps, name="recipe_augmentation")
