"""``keras-resnet summary``: parameters, FLOPs and weights tags of registered networks."""

from keras_resnet.support.tables import format_table
from keras_resnet.support.validation import positive_int

HELP = "parameters and FLOPs of registered networks"
COLUMNS = ["name", "family", "depth", "block", "shortcut", "preact", "input", "params", "params (M)", "GFLOPs",
           "weights"]


def add_arguments(parser):
    parser.add_argument("names", nargs="*", help="registry names (default: every registered network)")
    parser.add_argument("--input-size", type=positive_int, default=None,
                        help="input side in pixels (default: 224 ImageNet, 32 CIFAR)")


def summary_rows(names, input_size=None):
    """One row per network: family, depth, block, shortcut, pre-activation, parameters, FLOPs, weights tags."""
    from keras_resnet.models.architectures import FAMILIES
    from keras_resnet.applications.registry import build, spec
    from keras_resnet.models.stats import model_stats
    from keras_resnet.weights.records import tags

    rows = []
    for name in names:
        arch = spec(name)
        size = input_size or FAMILIES[arch.family].input_size
        stats = model_stats(build(name, input_shape=(size, size, 3)))
        rows.append({
            "name": name, "family": arch.family, "depth": arch.depth, "block": arch.block,
            "shortcut": arch.shortcut, "preact": "yes" if arch.preact else "no",
            "input": f"{size}x{size}", "params": f"{stats['params']:,}",
            "params (M)": f"{stats['trainable_params'] / 1e6:.2f}", "GFLOPs": f"{stats['flops'] / 1e9:.3f}",
            "weights": " ".join(tags(name)) or "-",
        })
    return rows


def run(args):
    from keras_resnet.applications.registry import list_models

    print(format_table(summary_rows(args.names or list_models(), args.input_size), COLUMNS))
    print("\nparams: all weights (BN statistics included); params (M): trainable, as [He16] counts; "
          "GFLOPs: multiply-adds of one image.")
    return 0
