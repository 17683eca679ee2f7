"""The one registry of model names: module-level tables, a decorator, wildcard search.

Every family module registers its variants here; `zoo.build`, `zoo.list_models`, `zoo.card` and
the command line all read these tables, and nothing else keeps a list of names.

A builder is a function `builder(*, num_classes, input_shape, include_top, pooling, **overrides)`
returning an unbuilt-weights `keras.Model`; arguments are validated by `zoo.build` before it runs.
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Callable

from zoo.cards import ModelCard
from zoo.errors import UnknownModelError

_builders: dict[str, Callable] = {}
_cards: dict[str, ModelCard] = {}


def register_model(card: ModelCard, builder: Callable, *, overwrite: bool = False) -> Callable:
    """Add `builder` to the registry under `card.name`. Returns the builder."""
    if card.name in _builders and not overwrite:
        raise ValueError(
            f"a model named {card.name!r} is already registered (family {_cards[card.name].family!r}); "
            "pass overwrite=True to replace it"
        )
    _builders[card.name] = builder
    _cards[card.name] = card
    return builder


def register(name: str | None = None, *, overwrite: bool = False, **card_fields):
    """Decorator that registers a model builder, for users' own models as for the zoo's.

    Example:
        >>> @zoo.register(family="tiny", task="image", input_shape=(28, 28, 1), num_classes=10)
        ... def tiny_cnn(*, num_classes, input_shape, include_top=True, pooling=None):
        ...     inputs = keras.Input(input_shape)
        ...     ...
        ...     return keras.Model(inputs, outputs, name="tiny_cnn")
        >>> model = zoo.build("tiny_cnn")

    Args:
        name: the registered name (default: the function's name).
        overwrite: replace an existing registration of the same name.
        **card_fields: the `ModelCard` fields (family, task and input_shape are required).
    """

    def decorate(builder: Callable) -> Callable:
        card = ModelCard(name=name or builder.__name__, **card_fields)
        return register_model(card, builder, overwrite=overwrite)

    return decorate


def _ensure_families_loaded() -> None:
    import zoo.models  # noqa: F401  (importing the families registers them)


def list_models(pattern: str | list[str] = "*", task: str | None = None, family: str | None = None) -> list[str]:
    """Registered model names matching shell-style `pattern`(s), sorted.

    Example: `list_models("resnet*")`, `list_models(["vgg1?", "vit_*"])`, `list_models(task="image")`.
    """
    _ensure_families_loaded()
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    names = [n for n in _builders if any(fnmatch.fnmatchcase(n, p.lower()) for p in patterns)]
    if task is not None:
        names = [n for n in names if _cards[n].task == task]
    if family is not None:
        names = [n for n in names if _cards[n].family == family]
    return sorted(names, key=_natural_key)


def _natural_key(name: str):
    """Sort "resnet18" before "resnet101": digits compare as numbers."""
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def is_model(name: str) -> bool:
    _ensure_families_loaded()
    return name in _builders


def _lookup(name: str) -> str:
    _ensure_families_loaded()
    if not isinstance(name, str):
        raise TypeError(f"a model name must be a string, got {type(name).__name__}")
    key = name.strip().lower()
    if key in _builders:
        return key
    close = difflib.get_close_matches(key, _builders, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}.{hint} zoo.list_models() lists the {len(_builders)} registered names."
    )


def card(name: str) -> ModelCard:
    """The model card of a registered model."""
    return _cards[_lookup(name)]


def builder(name: str) -> Callable:
    """The registered builder function of a model (prefer `zoo.build`, which validates)."""
    return _builders[_lookup(name)]
