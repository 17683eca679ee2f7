"""Training recipes as data: how a registered model is trained by default, and where that comes from.

Every model card carries one (`ModelCard.recipe`); `zoo.fit(model, data)` and `zoo train` use it for
every argument the user does not pass, and print one line saying what they use (`Recipe.summary`).
A recipe is one recipe for every data set: its budget adapts to the data (the batch-size rule, a
minimum number of optimizer steps, early stopping), it is never tuned to a test.

This module is plain Python (no TensorFlow): `zoo info` shows recipes without starting TensorFlow.
The Keras side (schedules, early stopping, restoring the best weights) is zoo.training.budget.

    >>> r = Recipe(source="Xu et al. 2019 §7", learning_rate=0.01, schedule="step",
    ...            schedule_args={"every": 50, "factor": 0.5}, epochs=350, batch_size=32)
    >>> r.batch_size_for(188), r.epochs_for(steps_per_epoch=6)
    (32, 350)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

SCHEDULES = ("constant", "step", "plateau", "cosine", "linear")
KEEP = ("best_validation", "best_training_loss", "last")
STOPS = ("patience", "window")
AUGMENTATIONS = ("horizontal_flip", "random_crop")
_SCHEDULE_ARGS = {
    "constant": set(),
    "step": {"every", "factor"},
    "plateau": {"factor", "patience", "min_lr", "monitor"},
    "cosine": {"min_lr"},
    "linear": {"min_lr"},
}


@dataclass(frozen=True)
class Recipe:
    """A default training recipe.

    Attributes:
        source: where it comes from (paper section, or file of the reference code). Required.
        optimizer: a Keras optimizer name ("adam", "sgd", "rmsprop", "adamw").
        optimizer_args: its other hyper-parameters, e.g. {"momentum": 0.9}.
        learning_rate: the initial learning rate.
        schedule: "constant"; "step" (multiply by `factor` every `every` epochs); "plateau"
            (ReduceLROnPlateau: multiply by `factor` after `patience` epochs without improvement of
            `monitor`, "loss" or "val_loss", down to `min_lr`); "cosine" / "linear" (decay over the
            epochs of the budget down to `min_lr`, default 0).
        schedule_args: the schedule's arguments (see `schedule`).
        epochs: the maximum number of epochs (the paper's).
        min_steps: at least this many optimizer steps: with few examples per epoch, the number of
            epochs grows to reach it (a 36-series set at batch 3 has 12 steps per epoch).
        time_limit: stop after this many seconds of training (checked at epoch ends), or None.
        batch_size: the batch size; with `batch_fraction`, its upper bound.
        batch_fraction: when set, the batch size is int(min(n * batch_fraction, batch_size)) (at
            least 1) for a training set of n examples (the UCR baselines' int(min(n/10, 16))).
        weight_decay: the optimizer's (decoupled) weight decay; 0 for none. A regularizer built into
            the model (e.g. GCN's L2 on its first layer) is in the model's config, not here.
        label_smoothing: of the cross-entropy (default loss only); 0 for none.
        augment: image augmentations applied to training batches: "horizontal_flip", "random_crop"
            (a random crop of the image padded by 1/8 of its size on each side, the size kept).
        keep: the weights `fit` ends with: "best_validation" (the epoch of lowest validation loss;
            lowest training loss when there is no validation data), "best_training_loss", or "last".
        patience: stop after this many epochs without improvement of the monitored loss (the one
            `keep` names; validation loss when there is validation data and `keep` is "last"), or
            None for no early stopping.
        stop: how `patience` stops: "patience" (no new lowest value for `patience` epochs, as Keras'
            EarlyStopping) or "window" (the epoch's value is above the mean of the `patience` epochs
            before it: Kipf & Welling's GCN rule, which trains longer on a noisy validation loss).
        notes: what the recipe leaves out of its source or adds to it.
    """

    source: str
    optimizer: str = "adam"
    optimizer_args: dict = field(default_factory=dict)
    learning_rate: float = 1e-3
    schedule: str = "constant"
    schedule_args: dict = field(default_factory=dict)
    epochs: int = 1
    min_steps: int = 0
    time_limit: float | None = None
    batch_size: int = 32
    batch_fraction: float | None = None
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augment: tuple[str, ...] = ()
    keep: str = "last"
    patience: int | None = None
    stop: str = "patience"
    notes: str = ""

    def __post_init__(self):
        def bad(message):
            raise ValueError(f"Recipe ({self.source or 'no source'}): {message}")

        if not self.source:
            bad("source must cite where the recipe comes from")
        if self.schedule not in SCHEDULES:
            bad(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        unknown = set(self.schedule_args) - _SCHEDULE_ARGS[self.schedule]
        if unknown:
            bad(f"schedule {self.schedule!r} takes {sorted(_SCHEDULE_ARGS[self.schedule])}, got {sorted(unknown)}")
        if self.keep not in KEEP:
            bad(f"keep must be one of {KEEP}, got {self.keep!r}")
        if self.stop not in STOPS:
            bad(f"stop must be one of {STOPS}, got {self.stop!r}")
        if not set(self.augment) <= set(AUGMENTATIONS):
            bad(f"augment takes {AUGMENTATIONS}, got {self.augment!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.min_steps < 0:
            bad("epochs and batch_size must be >= 1, min_steps >= 0")
        object.__setattr__(self, "augment", tuple(self.augment))

    def replace(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["augment"] = list(self.augment)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        """The recipe `to_dict` gave (unknown keys left out, lists back to tuples)."""
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in known}
        fields["augment"] = tuple(fields.get("augment") or ())
        return cls(**fields)

    def batch_size_for(self, n: int | None) -> int:
        """The batch size for a training set of `n` examples (None: unknown, `batch_size`)."""
        if self.batch_fraction is None or not n:
            return self.batch_size
        return max(1, int(min(n * self.batch_fraction, self.batch_size)))

    def epochs_for(self, steps_per_epoch: int | None) -> int:
        """`epochs`, or more when that many epochs of `steps_per_epoch` steps make fewer than `min_steps`."""
        if not self.min_steps or not steps_per_epoch:
            return self.epochs
        return max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))

    def batch_rule(self) -> str:
        """The batch size as a rule of the training-set size n, e.g. "int(min(n/10, 16))", or "32"."""
        if self.batch_fraction is None:
            return str(self.batch_size)
        fraction = f"n/{1 / self.batch_fraction:g}" if (1 / self.batch_fraction).is_integer() else f"n*{self.batch_fraction:g}"
        return f"int(min({fraction}, {self.batch_size}))"

    def describe_schedule(self, learning_rate=None, *, scheduled: bool = True) -> str:
        """E.g. "adam lr 0.01 halved every 50 epochs" (`scheduled` False: without the schedule)."""
        lr = self.learning_rate if learning_rate is None else learning_rate
        args = self.schedule_args
        text = f"{self.optimizer} lr " + (f"{lr:g}" if isinstance(lr, (int, float)) else type(lr).__name__)
        if not scheduled:
            return text
        if self.schedule == "step":
            factor, every = args.get("factor", 0.1), args.get("every", 30)
            text += f" {'halved' if factor == 0.5 else f'x{factor:g}'} every {every} epoch{'s' * (every != 1)}"
        elif self.schedule == "plateau":
            text += (f" x{args.get('factor', 0.1):g} after {args.get('patience', 10)} epochs without a lower "
                     f"{args.get('monitor', 'loss')} (min {args.get('min_lr', 0):g})")
        elif self.schedule in ("cosine", "linear"):
            text += f" {self.schedule} decay"
        return text

    def summary(self, name: str, *, epochs: int | str | None = None, batch_size: int | str | None = None,
                learning_rate=None, optimizer=None, scheduled: bool = True, time_limit: float | None = None) -> str:
        """The one line `fit` prints: what it trains with (the resolved values), e.g.
        "recipe gin (Xu et al. 2019 §7): adam lr 0.01 halved every 50 epochs, 350 epochs, batch 32, keep best validation".
        Without `epochs` / `batch_size` (as `zoo info` shows it): the rules, e.g. "350 epochs (at least 2000 steps)",
        "batch int(min(n/10, 16))"."""
        opt = self.optimizer if optimizer is None else optimizer
        head = self.replace(optimizer=opt if isinstance(opt, str) else type(opt).__name__.lower())
        budget = f"{epochs} epochs"
        if epochs is None:
            budget = f"{self.epochs} epochs" + (f" (at least {self.min_steps} steps)" if self.min_steps else "")
        parts = [head.describe_schedule(learning_rate, scheduled=scheduled), budget,
                 f"batch {self.batch_rule() if batch_size is None else batch_size}"]
        if self.weight_decay:
            parts.append(f"weight decay {self.weight_decay:g}")
        if self.label_smoothing:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        if self.augment:
            parts.append("augment " + "+".join(self.augment))
        parts.append("keep " + self.keep.replace("_", " "))
        if self.patience and self.stop == "window":
            parts.append(f"stop when the loss exceeds its mean of the {self.patience} epochs before")
        elif self.patience:
            parts.append(f"patience {self.patience}")
        limit = self.time_limit if time_limit is None else time_limit
        if limit:
            parts.append(f"time limit {limit:g}s")
        return f"recipe {name} ({self.source}): " + ", ".join(parts)


DEFAULT = Recipe(source="zoo.fit's defaults for models without a card", epochs=1, batch_size=32)
"""What `zoo.fit` trains a model without a card (a user's own Keras model) with."""
