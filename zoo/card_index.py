"""The card index: every family's registered names, cards and module, as data (zoo/card_index.json).

The family modules in zoo/models/ are the source: each registers its variants with their cards
(zoo.registry). They import Keras, so `zoo list` and `zoo.card` would cost a TensorFlow start;
the registry reads this index instead and imports a family's module when one of its models is
built. The index is generated from the live registry, never edited by hand:

    python -m zoo.models            # rewrite zoo/card_index.json after changing a family
    python -m zoo.models --check    # exit 1 when it differs from the families (tests/zoo/test_card_index.py checks too)

File layout: {"generated_by": ..., "models": {name: {"module": "zoo.models.lenet", "card": card.to_dict()}}}.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import NamedTuple

from zoo.cards import ModelCard

INDEX_FILE = Path(__file__).with_name("card_index.json")
FAMILIES_PACKAGE = "zoo.models"
REGENERATE = "python -m zoo.models"


class Entry(NamedTuple):
    """One indexed model: the module that registers it and its card."""

    module: str
    card: ModelCard


@functools.lru_cache(maxsize=None)
def read(path: Path = INDEX_FILE) -> dict[str, Entry] | None:
    """{name: Entry} of the index file (read once); None when there is no file (a checkout before
    its first `python -m zoo.models`: the registry then imports the families themselves)."""
    try:
        models = json.loads(Path(path).read_text(encoding="utf-8"))["models"]
    except FileNotFoundError:
        return None
    return {name: Entry(item["module"], ModelCard.from_dict(item["card"])) for name, item in models.items()}


def generate() -> dict:
    """The index of the live registry after importing every family (the file's JSON content)."""
    import zoo.models  # noqa: F401  (importing the families registers them)
    from zoo import registry

    models = {
        name: {"module": registry._builders[name].__module__, "card": registry._cards[name].to_dict()}
        for name in sorted(registry._builders)
        if registry._builders[name].__module__.startswith(FAMILIES_PACKAGE + ".")
    }
    return {"generated_by": REGENERATE, "models": json.loads(json.dumps(models))}


def render(index: dict) -> str:
    return json.dumps(index, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description="Write (or --check) zoo/card_index.json.")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs from the families")
    args = parser.parse_args(argv)
    index = generate()
    text = render(index)
    if args.check:
        if INDEX_FILE.read_text(encoding="utf-8") != text:
            print(f"{INDEX_FILE} differs from the registered families: run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    INDEX_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {INDEX_FILE} ({len(index['models'])} models)")
    return 0

