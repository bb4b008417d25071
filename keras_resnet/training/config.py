"""The configuration of one training run, and the command-line options that fill it.

Every field defaults to the paper's recipe for the dataset (``schedule.RECIPES``); ``None`` means "the paper's".
``recipes/cifar10.py``, ``recipes/imagenet.py`` and ``keras-resnet train`` share ``add_arguments``.
"""

import argparse
import dataclasses
import math

from keras_resnet.data import DATASETS
from keras_resnet.validation import non_negative_float, positive_float, positive_int
from keras_resnet.training.distribute import STRATEGIES

# Fields that must be positive when given (``None`` means the paper's value), and those that must not be negative.
POSITIVE = ("image_size", "epochs", "steps_per_epoch", "batch_size", "batch_per_replica", "learning_rate", "width")
NON_NEGATIVE = ("momentum", "weight_decay")


@dataclasses.dataclass
class TrainConfig:
    """One training run. See ``add_arguments`` for the meaning of each field."""

    model: str = "resnet20"
    dataset: str = "cifar10"
    data_dir: str | None = None
    manual_dir: str | None = None
    download: bool = False
    image_size: int | None = None
    epochs: int | None = None
    steps_per_epoch: int | None = None
    batch_size: int | None = None
    batch_per_replica: int | None = None
    learning_rate: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str | None = None
    warmup: bool | None = None
    bn_momentum: float = 0.9
    sync_bn: bool = False
    shortcut: str | None = None
    width: int = 1
    strategy: str = "auto"
    output_dir: str | None = None
    seed: int = 0
    deterministic: bool = False
    histograms: bool = False
    ten_crop: bool = False
    verbose: str | int = "auto"

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
        if not 0 <= self.bn_momentum < 1:
            raise ValueError(f"--bn-momentum must be in [0, 1), got {self.bn_momentum!r} (the paper's models: 0.9).")
        if self.verbose not in ("auto", 0, 1, 2):
            raise ValueError(f"--verbose must be auto, 0, 1 or 2, got {self.verbose!r}")


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


def add_arguments(parser, dataset="cifar10", model="resnet20"):
    """Adds the training options to an ``argparse`` parser, with ``dataset`` and ``model`` as defaults."""
    add = parser.add_argument
    add("--model", default=model, help=f"registry name, e.g. resnet20 .. resnet1202, plain56, resnet50 "
                                       f"(keras-resnet summary lists them; default {model})")
    add("--dataset", default=dataset, choices=DATASETS, help=f"default {dataset}; digits needs no download")
    add("--data-dir", help="TFDS data dir, a cifar-10-batches-py folder or tarball, or an ImageNet JPEG tree")
    add("--manual-dir", help="ImageNet: folder with ILSVRC2012_img_{train,val}.tar for TFDS to prepare")
    add("--download", action="store_true", help="let TFDS download the dataset (CIFAR) if it is missing")
    add("--image-size", type=positive_int, help="network input side (default 32 CIFAR/digits, 224 ImageNet)")
    add("--epochs", type=positive_int, help="epochs (default: the paper's 64k CIFAR / 600k ImageNet iterations)")
    add("--steps-per-epoch", type=positive_int, help="cap on training steps per epoch (quick experiments)")
    add("--batch-size", type=positive_int, help="global batch (default the paper's: 128 CIFAR, 256 ImageNet)")
    add("--batch-per-replica", type=positive_int, help="per-replica batch; global batch = this x replicas")
    add("--lr", "--learning-rate", dest="learning_rate", type=positive_float,
        help="learning rate at the paper's batch (default 0.1), scaled linearly with the global batch")
    add("--momentum", type=non_negative_float, default=0.9)
    add("--weight-decay", type=non_negative_float, default=1e-4,
        help="L2 weight decay on conv/dense kernels (default 1e-4)")
    add("--schedule", choices=("step", "plateau"), help="lr drops at fixed iterations or on plateau "
                                                        "(default: step CIFAR, plateau ImageNet)")
    add("--warmup", action=argparse.BooleanOptionalAction, default=None,
        help="lr 0.01 for the first 400 of 64k iterations (default: on for CIFAR depth >= 110)")
    add("--bn-momentum", type=float, default=0.9, help="moving-statistics momentum (0.9; Keras' 0.99 lags in "
                                                       "short runs)")
    add("--sync-bn", action="store_true", help="batch statistics over all replicas (default: per replica)")
    add("--shortcut", help="shortcut option A, B, C or none (default: the model's)")
    add("--width", type=positive_int, default=1,
        help="widening factor of every stage (default 1: the paper's widths)")
    add("--strategy", default="auto", choices=STRATEGIES, help="tf.distribute strategy (auto: multiworker with "
                                                                 "TF_CONFIG, else mirrored over all GPUs)")
    add("--output-dir", help="run folder (default runs/<model>-<timestamp>); rerun with it to resume")
    add("--seed", type=int, default=0)
    add("--deterministic", action="store_true", help="deterministic ops (bitwise reproducible on CPU)")
    add("--histograms", action="store_true", help="weight and gradient histograms in TensorBoard")
    add("--ten-crop", action="store_true", help="also report the 10-crop test error at the end")
    add("--verbose", default="auto", choices=("auto", "0", "1", "2"), help="Keras fit verbosity: auto, 0, 1 or 2")
    return parser


def from_args(args):
    """``TrainConfig`` from parsed ``add_arguments`` options."""
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    values = {key: value for key, value in vars(args).items() if key in fields}
    if str(values.get("verbose")).isdigit():
        values["verbose"] = int(values["verbose"])
    return TrainConfig(**values)
