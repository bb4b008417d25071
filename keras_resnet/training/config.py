"""The configuration of one training run: its fields, defaults and help are declared once, here, and the
command-line options of ``keras-resnet train``, ``recipes/cifar10.py`` and ``recipes/imagenet.py`` are generated
from them (``add_arguments``).

``None`` means "the paper's" (``schedule.RECIPES``) or, for the architecture options, "the network's"
(``spec.ArchSpec``). Named experiments (``EXPERIMENTS``) are configurations as data: ``--experiment
cifar10_resnet110`` sets their values as defaults, which options given on the command line override.
"""

import argparse
import dataclasses
import math

from keras_resnet.support.choices import DATASETS, JIT_COMPILE, PRECISIONS, STRATEGIES, parse_freeze
from keras_resnet.support.validation import check_val_fraction, non_negative_float, positive_float, positive_int

# Fields that must be positive when given (``None`` means the paper's value), and those that must not be negative.
POSITIVE = ("image_size", "epochs", "steps_per_epoch", "batch_size", "batch_per_replica", "learning_rate", "width")
NON_NEGATIVE = ("momentum", "weight_decay")


def option(default=None, help="", type=None, choices=None, flags=(), action=None):
    """A ``TrainConfig`` field with what its command-line option needs (``--name-with-dashes`` by default)."""
    return dataclasses.field(default=default, metadata={"help": help, "type": type, "choices": choices,
                                                        "flags": flags, "action": action})


@dataclasses.dataclass
class TrainConfig:
    """One training run; every field is an option of ``keras-resnet train`` (``add_arguments``)."""

    model: str = option("resnet20", "registry name, e.g. resnet20 .. resnet1202, plain56, resnet50 (keras-resnet "
                                     "summary lists them)")
    dataset: str = option("cifar10", "what to train on; digits needs no download", choices=DATASETS)
    data_dir: str | None = option(None, "TFDS data dir, a cifar-10-batches-py folder or tarball, an ImageNet "
                                        "JPEG tree, or (folder) one sub-folder of images per class")
    manual_dir: str | None = option(None, "ImageNet: folder with ILSVRC2012_img_{train,val}.tar for TFDS to prepare")
    download: bool = option(False, "let TFDS download the dataset (CIFAR) if it is missing", action="store_true")
    image_size: int | None = option(None, "network input side (default 32 CIFAR/digits, 224 ImageNet; folder: the "
                                          "network's, 224 ImageNet models, 32 CIFAR ones)", type=positive_int)
    val_fraction: float = option(0.2, "folder without val/: share of every class held out for validation (stratified, "
                                      "seeded)", type=float)
    flip: bool | None = option(None, "random horizontal flips in training (default on; off for digits)",
                               action=argparse.BooleanOptionalAction)
    weights: str | None = option(None, "fine-tune from pretrained weights: a weights tag (imagenet, cifar10, ...) or "
                                       "a .keras / .weights.h5 file of an earlier run (or hf://owner/name); the "
                                       "classifier is new")
    freeze: str = option("none", "with --weights: freeze 'all' but the classifier, 'stages N' (the stem and the first "
                                 "N stages) or 'none'; frozen BatchNormalization runs in inference mode")
    epochs: int | None = option(None, "epochs (default: the paper's 64k CIFAR / 600k ImageNet iterations)",
                                type=positive_int)
    steps_per_epoch: int | None = option(None, "cap on training steps per epoch (quick experiments)",
                                         type=positive_int)
    batch_size: int | None = option(None, "global batch (default the paper's: 128 CIFAR, 256 ImageNet)",
                                    type=positive_int)
    batch_per_replica: int | None = option(None, "per-replica batch; global batch = this x replicas",
                                           type=positive_int)
    learning_rate: float | None = option(None, "learning rate at the paper's batch (default 0.1), scaled linearly "
                                               "with the global batch", type=positive_float,
                                         flags=("--lr", "--learning-rate"))
    momentum: float = option(0.9, "SGD momentum", type=non_negative_float)
    weight_decay: float = option(1e-4, "L2 weight decay on conv/dense kernels", type=non_negative_float)
    schedule: str | None = option(None, "lr drops at fixed iterations, on plateau, or cosine decay (default: step "
                                        "CIFAR, plateau ImageNet)", choices=("step", "plateau", "cosine"))
    warmup: bool | None = option(None, "lr 0.01 for the first 400 of 64k iterations (cosine: a linear rise over the "
                                       "first tenth; default: on for CIFAR depth >= 110)",
                                 action=argparse.BooleanOptionalAction)
    bn_momentum: float | None = option(None, "BN moving-statistics momentum (default the network's 0.9; Keras' "
                                             "0.99 lags in short runs)", type=float)
    sync_bn: bool = option(False, "batch statistics over all replicas (default: per replica)", action="store_true")
    shortcut: str | None = option(None, "shortcut option A, B, C or none (default: the network's)")
    width: int | None = option(None, "widening factor of every stage (default the network's 1: the paper's "
                                     "widths)", type=positive_int)
    strategy: str = option("auto", "tf.distribute strategy (auto: multiworker with TF_CONFIG, else mirrored over "
                                   "all GPUs)", choices=STRATEGIES)
    precision: str = option("auto", "numeric precision: auto picks what benchmarks/throughput.py measured fastest "
                                    "on this device (float32 on CPU, mixed float16 on GPU, mixed bfloat16 on TPU)",
                            choices=PRECISIONS)
    jit_compile: str = option("auto", "XLA compilation (auto: off on CPU but for float16, on on GPU and TPU)",
                              choices=JIT_COMPILE)
    output_dir: str | None = option(None, "run folder (default runs/<model>-<timestamp>); rerun with it to resume")
    seed: int = option(0, "random seed of the weights, the data order and the augmentation", type=int)
    deterministic: bool = option(False, "bitwise reproducible across processes on one machine (one inter-op "
                                        "thread, deterministic ops)", action="store_true")
    histograms: bool = option(False, "weight and gradient histograms in TensorBoard", action="store_true")
    ten_crop: bool = option(False, "also report the 10-crop test error at the end", action="store_true")
    verbose: str | int = option("auto", "Keras fit verbosity (auto: a progress bar on a terminal or in a notebook, "
                                "one line per epoch otherwise)", choices=("auto", "0", "1", "2"))

    def __post_init__(self):
        for name in POSITIVE:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not _finite(value) or value <= 0):
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value!r} (leave it out for the "
                                 "paper's value).")
        for name in NON_NEGATIVE:
            value = getattr(self, name)
            if isinstance(value, bool) or not _finite(value) or value < 0:
                raise ValueError(f"--{name.replace('_', '-')} must not be negative, got {value!r}.")
        if self.bn_momentum is not None and not 0 <= self.bn_momentum < 1:
            raise ValueError(f"--bn-momentum must be in [0, 1), got {self.bn_momentum!r} (the paper's models: 0.9).")
        check_val_fraction(self.val_fraction)
        parse_freeze(self.freeze)
        if self.freeze != "none" and self.weights is None:
            raise ValueError(f"--freeze {self.freeze} freezes pretrained layers: pass --weights too (a tag such as "
                             "imagenet, or an earlier run's model.keras).")
        if self.verbose not in ("auto", 0, 1, 2):
            raise ValueError(f"--verbose must be auto, 0, 1 or 2, got {self.verbose!r}")


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


# The fine-tuning recipe's defaults (training/two_phase.py, keras-resnet finetune): the classifier alone for
# HEAD_EPOCHS at the recipe's learning rate, then everything for FULL_EPOCHS at FULL_LR_FACTOR of it. They are the
# best setting of the measurement in docs/finetune-recipe.json (keras-resnet experiment recipe; tests/test_finetune.py
# keeps them equal). Here, without TensorFlow, so that the command's options and help are built without it.
HEAD_EPOCHS = 15
FULL_EPOCHS = 30
FULL_LR_FACTOR = 0.3

# Named experiments: the paper's runs and ours, as data. ``--experiment NAME`` makes these the defaults.
EXPERIMENTS = {
    "digits_resnet20": {"dataset": "digits", "model": "resnet20", "epochs": 15},
    **{f"cifar10_{model}": {"dataset": "cifar10", "model": model}
       for model in ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202", "plain20", "plain56",
                     "resnet110v2", "resnet164v2", "resnet1001v2")},
    **{f"imagenet_{model}": {"dataset": "imagenet", "model": model}
       for model in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34")},
}


def experiment(name):
    """The ``TrainConfig`` of the named experiment ``name`` (one of ``EXPERIMENTS``)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)}.")
    return TrainConfig(**EXPERIMENTS[name])


def add_arguments(parser, experiment_name=None):
    """Adds an option for every ``TrainConfig`` field to an ``argparse`` parser, and ``--experiment``; the defaults
    are the fields' (or those of ``experiment_name``)."""
    parser.add_argument("--experiment", choices=EXPERIMENTS, default=experiment_name,
                        help="a named experiment whose settings become the defaults" +
                             (f" (default {experiment_name})" if experiment_name else ""))
    add_run_options(parser, TrainConfig(**EXPERIMENTS.get(experiment_name, {})))
    return parser


def add_run_options(parser, defaults, exclude=()):
    """Adds an option for every ``TrainConfig`` field but those named in ``exclude``, with the values of the
    ``TrainConfig`` ``defaults`` as defaults; returns ``{field name: argparse action}``."""
    actions = {}
    for field in dataclasses.fields(TrainConfig):
        if field.name in exclude:
            continue
        meta = field.metadata
        default = getattr(defaults, field.name)
        keywords = {"dest": field.name, "default": default,
                    "help": meta["help"] + (f" (default {default})" if default not in (None, False) else "")}
        if meta["action"] is not None:
            keywords["action"] = meta["action"]
        else:
            keywords.update({key: meta[key] for key in ("type", "choices") if meta[key] is not None})
        actions[field.name] = parser.add_argument(*(meta["flags"] or (f"--{field.name.replace('_', '-')}",)),
                                                  **keywords)
    return actions


def parse_args(parser, argv=None):
    """Parses ``argv`` with ``parser`` (from ``add_arguments``), the named ``--experiment``'s values as defaults."""
    known, _ = parser.parse_known_args(argv)
    if known.experiment:
        parser.set_defaults(**EXPERIMENTS[known.experiment])
    return parser.parse_args(argv)


def from_args(args):
    """``TrainConfig`` from parsed ``add_arguments`` options."""
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    values = {key: value for key, value in vars(args).items() if key in fields}
    if str(values.get("verbose")).isdigit():
        values["verbose"] = int(values["verbose"])
    return TrainConfig(**values)
