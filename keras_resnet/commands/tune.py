"""``keras-resnet tune``: a keras-tuner search over depth, shortcuts and optimisation, one run folder per trial."""

import os

from keras_resnet.choices import JIT_COMPILE, PRECISIONS, STRATEGIES, TUNERS
from keras_resnet.tables import format_table
from keras_resnet.validation import non_negative_float, positive_float, positive_int

HELP = "keras-tuner search over depth, shortcuts and optimisation"
COLUMNS = ["trial", "depth", "shortcut", "preact", "width", "params", "GFLOPs", "val error", "seconds"]


def add_arguments(parser, dataset="cifar10"):
    """The options of ``keras-resnet tune`` (and ``recipes/tune_cifar10.py``)."""
    add = parser.add_argument
    add("--dataset", default=dataset, choices=("digits", "cifar10", "cifar100"), help=f"default {dataset}")
    add("--data-dir", help="where the dataset is (as for train)")
    add("--depths", type=positive_int, nargs="+", default=[20, 32, 44, 56], help="CIFAR depths 6n+2 to try")
    add("--depth-range", type=int, nargs=2, metavar=("MIN", "MAX"), help="every depth 6n+2 in [MIN, MAX]")
    add("--shortcut", nargs="+", default=["none", "A"], help="none (plain twin), A, B, C (default: none A)")
    add("--preact", nargs="+", default=["no"], choices=("no", "yes"), help="pre-activation blocks: no, yes")
    add("--widths", type=positive_int, nargs="+", default=[1], help="widening factors (default 1)")
    add("--lr", type=positive_float, nargs="+", help="learning rates (default: the paper's 0.1)")
    add("--weight-decay", type=non_negative_float, nargs="+", default=[1e-4], help="weight decays (default 1e-4)")
    add("--batch-size", type=positive_int, nargs="+", help="global batch sizes (default: the paper's 128)")
    add("--tuner", default="random", choices=TUNERS, help="default random")
    add("--max-trials", type=int, default=10, help="trials of random/bayesian search (hyperband: set by --epochs)")
    add("--executions-per-trial", type=positive_int, default=1)
    add("--epochs", type=positive_int, help="epochs per trial (hyperband: the most; default: the paper's schedule)")
    add("--steps-per-epoch", type=positive_int, help="cap on training steps per epoch (quick searches)")
    add("--strategy", default="auto", choices=STRATEGIES, help="tf.distribute strategy of every trial (as for train)")
    add("--output-dir", help="search folder (default runs/tune); rerun to resume an interrupted search")
    add("--overwrite", action="store_true", help="start the search afresh instead of resuming it")
    add("--precision", default="auto", choices=PRECISIONS, help="numeric precision of every trial (as for train)")
    add("--jit-compile", default="auto", choices=JIT_COMPILE, help="XLA compilation of every trial (as for train)")
    add("--seed", type=int, default=0)
    return parser


def run(args):
    from keras_resnet import files, tuning

    depths = tuning.SearchSpace.depth_range(*args.depth_range) if args.depth_range else args.depths
    space = tuning.SearchSpace(depths=tuple(depths), shortcuts=tuple(args.shortcut),
                               preact=tuple(value == "yes" for value in args.preact), widths=tuple(args.widths),
                               learning_rates=tuple(args.lr or [None]), weight_decays=tuple(args.weight_decay),
                               batch_sizes=tuple(args.batch_size or [None]))
    output_dir = args.output_dir or os.path.join("runs", "tune")
    with files.FolderLock(output_dir, "search folder"):
        return _search(args, space, output_dir)


def _search(args, space, output_dir):
    from keras_resnet import tuning
    from keras_resnet.training import TrainConfig
    from keras_resnet.training.distribute import make_strategy

    base = TrainConfig(dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
                       steps_per_epoch=args.steps_per_epoch, seed=args.seed, precision=args.precision,
                       jit_compile=args.jit_compile, verbose=0)
    strategy = make_strategy(args.strategy)
    hypermodel = tuning.ResNetHyperModel(space, base, output_dir, strategy)
    tuner = tuning.make_tuner(args.tuner, hypermodel, output_dir, args.max_trials, args.executions_per_trial,
                              args.epochs, args.overwrite, strategy, args.seed)
    tuner.search()
    rows = tuning.trial_rows(tuner, hypermodel)
    figure = tuning.write_results(rows, output_dir)
    table = [{**row, "GFLOPs": f"{row['flops'] / 1e9:.3f}", "params": f"{row['params']:,}",
              "val error": f"{100 * row['val_error']:.2f} %", "preact": "yes" if row["preact"] else "no",
              "seconds": f"{row['seconds']:.0f}" if row["seconds"] is not None else "-"} for row in rows]
    print(format_table(table, COLUMNS))
    print(f"\nBest: {rows[0]['model']} ({rows[0]['shortcut']}), {rows[0]['model_file']}\nWrote "
          f"{os.path.join(output_dir, 'trials.csv')}, trials.json and {figure}; TensorBoard HParams: "
          f"tensorboard --logdir {os.path.join(output_dir, 'runs')}")
    return 0
