"""The `zoo` command line: `zoo list`, `zoo info`, `zoo demo`.

Every command reads the one registry (zoo.registry); none keeps its own list of names.
"""

from __future__ import annotations

import argparse
import json
import sys

from zoo import registry
from zoo.errors import ZooError


def _fmt_count(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "-"


def cmd_list(args) -> int:
    names = registry.list_models(args.pattern or "*", task=args.task, family=args.family)
    if not names:
        print(f"no registered model matches {args.pattern or '*'}", file=sys.stderr)
        return 1
    rows = [("name", "family", "task", "input", "params", "pretrained", "description")]
    for name in names:
        c = registry.card(name)
        rows.append((name, c.family, c.task, "x".join(str(d) for d in c.input_shape), _fmt_count(c.params),
                     ",".join(c.pretrained) or "-", c.description))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return 0


def cmd_info(args) -> int:
    c = registry.card(args.name)
    data = c.to_dict()
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    for key, value in data.items():
        if key == "pretrained":
            value = ", ".join(f"{tag} ({w['source']}, preprocessing {w['preprocessing']})" for tag, w in value.items()) or "none"
        elif key in ("params", "trainable_params", "reference_params"):
            value = _fmt_count(value)
        elif key == "extra":
            if not value:
                continue
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        print(f"{key:18} {value}")
    return 0


def cmd_demo(args) -> int:
    from zoo.demo import run_demo

    run_demo(model_name=args.model, epochs=args.epochs, data=args.data, batch_size=args.batch_size)
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="A TensorFlow/Keras model zoo with serving.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models (shell-style wildcards)")
    p.add_argument("pattern", nargs="*", help="e.g. 'resnet*' 'vgg1?'")
    p.add_argument("--task", choices=["image", "sequence", "graph"])
    p.add_argument("--family")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="show a model's card")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="the end-to-end demo on the digits data set")
    p.add_argument("--model", default="lenet5")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--data", help="a digits.csv.gz file (default: scikit-learn's bundled copy)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except ZooError as error:
        print(f"zoo: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
