"""The one registry of model names: module-level tables, a decorator, wildcard search.

Every family module registers its variants here; `zoo.build`, `zoo.list_models`, `zoo.card` and
the command line all read these tables, and nothing else keeps a list of names. Until a family's
module is imported (it imports Keras), its names and cards come from the card index generated
from these same tables (zoo.card_index); `builder(name)` imports the module.

A builder is a function `builder(*, num_classes, input_shape, include_top, pooling, **overrides)`
returning an unbuilt-weights `keras.Model`; arguments are validated by `zoo.build` before it runs.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
import sys
from typing import Callable

from zoo import card_index
from zoo.cards import ModelCard
from zoo.errors import UnknownModelError

_builders: dict[str, Callable] = {}
_cards: dict[str, ModelCard] = {}


def _index() -> dict[str, card_index.Entry]:
    """The card index; without its file, every family imported instead (and an empty index)."""
    index = card_index.read()
    if index is None:
        import zoo.models  # noqa: F401  (importing the families registers them)

        return {}
    return index


def _unloaded_family(name: str, builder: Callable) -> card_index.Entry | None:
    """The index entry of `name` when it belongs to a family whose module is not imported yet and
    `builder` is not a family's own (the index never stands in the way of what it is made from)."""
    entry = _index().get(name)
    if entry is None or name in _builders or entry.module in sys.modules \
            or getattr(builder, "__module__", "").startswith(card_index.FAMILIES_PACKAGE + "."):
        return None
    return entry


def register_model(card: ModelCard, builder: Callable, *, overwrite: bool = False) -> Callable:
    """Add `builder` to the registry under `card.name`. Returns the builder.

    A name of one of the zoo's families counts as registered before its module is imported:
    without `overwrite` it is refused; with it, the family is imported first and then replaced.
    """
    entry = _unloaded_family(card.name, builder)
    if entry is not None and overwrite:  # the family first, so that importing it later keeps this one
        importlib.import_module(entry.module)
    if (card.name in _builders or entry is not None) and not overwrite:
        family = (_cards[card.name] if card.name in _builders else entry.card).family
        raise ValueError(
            f"a model named {card.name!r} is already registered (family {family!r}); "
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


def _names() -> set[str]:
    """Every registered name: the families' (from the index until imported) and users' own."""
    return set(_index()) | set(_builders)


def _card(name: str) -> ModelCard:
    return _cards[name] if name in _cards else _index()[name].card


def list_models(pattern: str | list[str] = "*", task: str | None = None, family: str | None = None) -> list[str]:
    """Registered model names matching shell-style `pattern`(s), sorted.

    Example: `list_models("resnet*")`, `list_models(["vgg1?", "vit_*"])`, `list_models(task="image")`.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    names = [n for n in _names() if any(fnmatch.fnmatchcase(n, p.lower()) for p in patterns)]
    if task is not None:
        names = [n for n in names if _card(n).task == task]
    if family is not None:
        names = [n for n in names if _card(n).family == family]
    return sorted(names, key=_natural_key)


def _natural_key(name: str):
    """Sort "resnet18" before "resnet101": digits compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def is_model(name: str) -> bool:
    return name in _builders or name in _index()


def _lookup(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a model name must be a string, got {type(name).__name__}")
    key = name.strip().lower()
    names = _names()
    if key in names:
        return key
    close = difflib.get_close_matches(key, sorted(names), n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}.{hint} zoo.list_models() lists the {len(names)} registered names."
    )


def card(name: str) -> ModelCard:
    """The model card of a registered model."""
    return _card(_lookup(name))


def builder(name: str) -> Callable:
    """The registered builder function of a model (prefer `zoo.build`, which validates).

    A family's model imports its module (and Keras) here, the first time one of its models is built.
    """
    key = _lookup(name)
    if key not in _builders:
        module = _index()[key].module
        importlib.import_module(module)
        if key not in _builders:
            raise RuntimeError(f"the card index names {key!r} in {module}, which does not register it: "
                               f"the index is stale, run {card_index.REGENERATE}")
    return _builders[key]
