"""The ``keras-resnet`` console command.

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


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-resnet", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="parameters and FLOPs of registered networks")
    summary.add_argument("names", nargs="*", help="registry names (default: every registered network)")
    summary.add_argument("--input-size", type=int, default=None,
                         help="input side in pixels (default: 224 ImageNet, 32 CIFAR)")
    summary.set_defaults(run=_summary)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:  # bad input: the message names the fix, no traceback
        print(f"keras-resnet {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
