"""``keras-resnet tune``: a keras-tuner search over depth, shortcuts and optimisation, one run folder per trial."""

import dataclasses
import os

from keras_resnet.support.choices import TUNERS
from keras_resnet.support.tables import format_table
from keras_resnet.training.config import TrainConfig, add_run_options
from keras_resnet.support.validation import check_positive_int, non_negative_float, positive_float, positive_int

HELP = "keras-tuner search over depth, shortcuts and optimisation"
COLUMNS = ["trial", "depth", "shortcut", "preact", "width", "params", "GFLOPs", "val error", "seconds"]
# The run options (TrainConfig fields) a search sets itself: the network and optimisation it searches (given below
# as lists of values), each trial's folder (under --output-dir) and its verbosity. Every other run option is
# generated from TrainConfig, as for train, and applies to every trial.
SEARCHED = ("model", "shortcut", "width", "learning_rate", "weight_decay", "batch_size", "output_dir", "verbose")
DATASETS = ("digits", "cifar10", "cifar100")  # the searched networks are the CIFAR ones
RUN_HELP = {  # what some run options mean for a search
    "data_dir": "where the dataset is (as for train)",
    "epochs": "epochs per trial (hyperband: the most; default: the paper's schedule)",
    "steps_per_epoch": "cap on training steps per epoch (quick searches)",
    "strategy": "tf.distribute strategy of every trial (as for train)",
    "precision": "numeric precision of every trial (as for train)",
    "jit_compile": "XLA compilation of every trial (as for train)",
}


def add_arguments(parser, dataset="cifar10"):
    """The options of ``keras-resnet tune`` (and ``recipes/tune_cifar10.py``): the search space, the search, and
    the run options of every trial (those of ``train`` but ``SEARCHED``)."""
    add = parser.add_argument
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
    add("--output-dir", help="search folder (default runs/tune); rerun to resume an interrupted search")
    add("--overwrite", action="store_true", help="start the search afresh instead of resuming it")
    trials = parser.add_argument_group("run options of every trial (as for train)")
    actions = add_run_options(trials, TrainConfig(dataset=dataset), exclude=SEARCHED)
    actions["dataset"].choices = DATASETS
    for name, help in RUN_HELP.items():
        actions[name].help = help
    return parser


def run_config(args):
    """The ``TrainConfig`` every trial starts from: the run options given; the search sets the ``SEARCHED``."""
    names = [field.name for field in dataclasses.fields(TrainConfig) if field.name not in SEARCHED]
    return TrainConfig(**{name: getattr(args, name) for name in names}, verbose=0)


def check(args):
    """The run options and the trial count, checked without TensorFlow."""
    run_config(args)
    check_positive_int(args.max_trials, "--max-trials")


def run(args):
    from keras_resnet.support import files
    from keras_resnet.analysis import tuning

    depths = tuning.SearchSpace.depth_range(*args.depth_range) if args.depth_range else args.depths
    space = tuning.SearchSpace(depths=tuple(depths), shortcuts=tuple(args.shortcut),
                               preact=tuple(value == "yes" for value in args.preact), widths=tuple(args.widths),
                               learning_rates=tuple(args.lr or [None]), weight_decays=tuple(args.weight_decay),
                               batch_sizes=tuple(args.batch_size or [None]))
    output_dir = args.output_dir or os.path.join("runs", "tune")
    with files.FolderLock(output_dir, "search folder"):
        return _search(args, space, output_dir)


def _search(args, space, output_dir):
    from keras_resnet.analysis import tuning
    from keras_resnet.training.distribute import make_strategy

    base = run_config(args)
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
