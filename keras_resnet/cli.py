"""The ``keras-resnet`` console command.

    keras-resnet train --dataset digits --model resnet20 --epochs 15     # the paper's recipe, any dataset
    keras-resnet summary                 # every registered network: parameters and FLOPs
    keras-resnet summary resnet50 resnet110 --input-size 224
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the tables


def format_table(rows, columns):
    """Plain-text table of ``rows`` (dicts) with the given ``columns``; numbers right-aligned."""
    cells = [[str(row[column]) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines.append("  ".join("-" * width for width in widths))
    for line in cells:
        lines.append("  ".join(cell.rjust(width) if cell[:1].isdigit() else cell.ljust(width)
                               for cell, width in zip(line, widths)))
    return "\n".join(lines)


def summary_rows(names, input_size=None):
    """One row per network: family, depth, block, shortcut, pre-activation, parameters, FLOPs."""
    from keras_resnet.architectures import FAMILIES
    from keras_resnet.registry import build, resolve
    from keras_resnet.stats import model_stats

    rows = []
    for name in names:
        entry = resolve(name)
        size = input_size or FAMILIES[entry.family].input_size
        model = build(name, input_shape=(size, size, 3))
        stats = model_stats(model)
        rows.append({
            "name": name, "family": entry.family, "depth": entry.depth, "block": entry.default("block"),
            "shortcut": entry.default("shortcut"), "preact": "yes" if entry.default("preact") else "no",
            "input": f"{size}x{size}", "params": f"{stats['params']:,}",
            "params (M)": f"{stats['trainable_params'] / 1e6:.2f}", "GFLOPs": f"{stats['flops'] / 1e9:.3f}",
        })
    return rows


def _summary(args):
    from keras_resnet.registry import list_models

    names = args.names or list_models()
    columns = ["name", "family", "depth", "block", "shortcut", "preact", "input", "params", "params (M)", "GFLOPs"]
    print(format_table(summary_rows(names, args.input_size), columns))
    print("\nparams: all weights (BN statistics included); params (M): trainable, as [He16] counts; "
          "GFLOPs: multiply-adds of one image.")
    return 0


def _train(args):
    from keras_resnet.training import format_summary, from_args, train

    print(format_summary(train(from_args(args))))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-resnet", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="parameters and FLOPs of registered networks")
    summary.add_argument("names", nargs="*", help="registry names (default: every registered network)")
    summary.add_argument("--input-size", type=int, default=None,
                         help="input side in pixels (default: 224 ImageNet, 32 CIFAR)")
    summary.set_defaults(run=_summary)

    from keras_resnet.training.config import add_arguments

    train = commands.add_parser("train", help="train a network with the paper's recipe (tf.distribute, resumable)")
    add_arguments(train)
    train.set_defaults(run=_train)
    return parser


def _run(command, run, args):
    """Runs a command; bad input and runs that could not finish end with their message, not a traceback."""
    from keras_resnet.training import TrainingError

    try:
        return run(args)
    except ValueError as error:  # bad input: the message names the fix
        print(f"keras-resnet {command}: error: {error}", file=sys.stderr)
        return 2
    except TrainingError as error:  # a diverged run: what was kept and how to go on
        print(f"keras-resnet {command}: error: {error}", file=sys.stderr)
        return 1


def main(argv=None):
    args = build_parser().parse_args(argv)
    return _run(args.command, args.run, args)


def train_main(argv=None, dataset="cifar10", model="resnet20", description=None):
    """The training recipes' entry point: ``keras-resnet train`` with other defaults and help text."""
    from keras_resnet.training.config import add_arguments

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    args = add_arguments(parser, dataset=dataset, model=model).parse_args(argv)
    return _run("train", _train, args)


if __name__ == "__main__":
    sys.exit(main())
