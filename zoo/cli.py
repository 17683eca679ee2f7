"""The `zoo` command line: `zoo list`, `zoo info`, `zoo train`, `zoo export`, `zoo demo`, `zoo serve`.

Every command reads the one registry (zoo.registry); none keeps its own list of names. `zoo
--help`, `zoo list` and `zoo info` import neither TensorFlow nor Keras (the registry reads the card
index); the other commands start TensorFlow without its C++ start-up lines (serving.tf_startup).
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
        rows.append((name, c.family, c.task, "x".join("*" if d is None else str(d) for d in c.input_shape), _fmt_count(c.params),
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
        elif key == "recipe":
            if c.recipe is not None:
                _print_recipe(c)
            continue
        print(f"{key:18} {value}")
    return 0


def _print_recipe(card) -> None:
    """The card's training recipe: the line `zoo.fit` prints (with the rules of the budget) and its notes."""
    recipe = card.recipe
    print(f"{'recipe':18} {recipe.summary(card.name).split(': ', 1)[1]}")
    print(f"{'recipe source':18} {recipe.source}")
    if recipe.notes:
        print(f"{'recipe notes':18} {recipe.notes}")


def cmd_demo(args) -> int:
    from zoo.demo import run_demo

    run_demo(model_name=args.model, epochs=args.epochs, data=args.data, batch_size=args.batch_size,
             verbose=0 if args.quiet else 2, models_dir=args.models_dir)
    return 0


def cmd_serve(args) -> int:
    """`zoo serve MODELS_DIR [flags]`: the model server of `serving` (it never imports zoo's training code)."""
    from serving.cli import main as serve_main

    return serve_main(([args.models_dir] if args.models_dir else []) + list(args.flags), prog="zoo serve")


def cmd_train(args) -> int:
    if args.logical_cpus:  # before TensorFlow starts
        from zoo.training import use_logical_cpus

        use_logical_cpus(args.logical_cpus)
    from zoo.training.job import parse_overrides, train_job

    train_job(
        args.model,
        args.data,
        validation_data=args.validation_data,
        num_classes=args.num_classes,
        image_size=tuple(args.image_size) if args.image_size else None,
        weights=args.weights,
        overrides=parse_overrides(args.set),
        output=args.output,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        optimizer=args.optimizer,
        time_limit=args.time_limit,
        strategy=args.strategy,
        mixed_precision=args.mixed_precision,
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_every=args.checkpoint_every,
        log_dir=args.log_dir,
        seed=args.seed,
        verbose=0 if args.quiet else (2 if args.one_line else 1),
        **({"validation_split": args.validation_split} if args.validation_split else {}),
        **({"cache": args.cache if args.cache != "memory" else True} if args.cache else {}),
        on_bad_file=args.on_bad_file,
    )
    return 0


def cmd_export(args) -> int:
    """`zoo export MODEL.keras BASE_PATH`: the trained model as BASE_PATH/<version>/, a SavedModel to serve."""
    import zoo

    model = zoo.load_model(args.model)
    path = zoo.export(model, args.base_path, version=args.version, class_names=args.class_names,
                      preprocessing=args.preprocessing)
    print(path)
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

    p = sub.add_parser("train", help="train a registered model; with --strategy multiworker, one worker ($TF_CONFIG)")
    p.add_argument("model")
    p.add_argument("--data", required=True, help="an image folder (one sub-folder per class), a .npz with x and y, "
                                                 "a .ts file, a Planetoid .npz, a GIN text file or folder, or a TU "
                                                 "data set's folder (DS_A.txt, ...; gin and mpnn get its edge features)")
    p.add_argument("--validation-data", metavar="PATH",
                   help="evaluated after every epoch (val_ metrics), read like --data; a .ts, GIN text or TU file "
                        "with the training file's class names / node tags, edge tags and labels")
    p.add_argument("--epochs", type=int, help="default: the card's recipe (zoo info MODEL)")
    p.add_argument("--batch-size", type=int, help="global batch size (default: the recipe's rule)")
    p.add_argument("--learning-rate", type=float, help="default: the recipe's")
    p.add_argument("--optimizer", help="a Keras optimizer name (default: the recipe's)")
    p.add_argument("--time-limit", type=float, metavar="SECONDS", help="stop at the first epoch end after this long")
    p.add_argument("--strategy", default="auto", choices=["auto", "one_device", "mirrored", "multiworker", "tpu"])
    p.add_argument("--logical-cpus", type=int, help="split the CPU into N devices (for --strategy mirrored)")
    p.add_argument("--mixed-precision", choices=["mixed_float16", "mixed_bfloat16"])
    p.add_argument("--checkpoint-dir")
    p.add_argument("--checkpoint-every", type=int, help="also checkpoint every N steps")
    p.add_argument("--log-dir", help="TensorBoard logs")
    p.add_argument("--output", help="save the trained model: .keras, or .weights.h5 for the weights")
    p.add_argument("--num-classes", type=int, help="default: max label + 1")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="resize images of a folder")
    p.add_argument("--validation-split", type=float, metavar="FRACTION",
                   help="image folders: validate on this fraction of each class's files")
    p.add_argument("--cache", metavar="memory|PATH", help="image folders: keep decoded images in memory or in a file")
    p.add_argument("--on-bad-file", choices=["error", "skip"], default="error",
                   help="image folders: stop at an unreadable image (default) or skip and count them")
    p.add_argument("--weights", help="initial weights: a file or a published tag such as imagenet")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="architecture override, e.g. dropout=0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--one-line", action="store_true", help="one line per epoch instead of a progress bar")
    p.set_defaults(func=cmd_train, starts_tensorflow=True)

    p = sub.add_parser("export", help="export a trained .keras model as a SavedModel for `zoo serve` / TF Serving")
    p.add_argument("model", help="a .keras file (e.g. from zoo train --output)")
    p.add_argument("base_path", help="the model's folder: writes BASE_PATH/<version>/ (e.g. models/digits)")
    p.add_argument("--version", type=int, help="version number (default: one more than the largest present)")
    p.add_argument("--class-names", nargs="+", metavar="NAME",
                   help="one name per class (default: the model's own, else 0 .. k-1)")
    p.add_argument("--preprocessing", help="how serving_bytes normalizes decoded pixels: unit (x/255, default), "
                                           "raw, caffe, tf, torch, or a published weights tag such as imagenet")
    p.set_defaults(func=cmd_export, starts_tensorflow=True)

    p = sub.add_parser("demo", help="the end-to-end demo on digits: build, fit, export, serve, query")
    p.add_argument("--model", default="lenet5")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--data", help="a digits.csv.gz file (default: scikit-learn's bundled copy)")
    p.add_argument("--quiet", action="store_true", help="no line per epoch")
    p.add_argument("--models-dir", default="models", help="where to export (models/digits/<version>/)")
    p.set_defaults(func=cmd_demo, starts_tensorflow=True)

    p = sub.add_parser("serve", help="serve SavedModels over gRPC/REST (python -m serving --help for the flags)",
                       add_help=False)
    p.add_argument("models_dir", nargs="?", help="serve every sub-folder <name>/<version>/ of this folder")
    p.add_argument("flags", nargs=argparse.REMAINDER, help="tensorflow_model_server's flags, e.g. --port=8500")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:  # every flag (and --help) belongs to serving.cli
        from serving.cli import main as serve_main

        return serve_main(argv[1:], prog="zoo serve")
    args = make_parser().parse_args(argv)
    if getattr(args, "starts_tensorflow", False):
        from serving.tf_startup import import_tensorflow

        import_tensorflow()
    try:
        return args.func(args)
    except (ZooError, FileNotFoundError) as error:  # the user's input: a message, not a traceback
        print(f"zoo: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
