"""What several commands share: the classifier arguments of ``predict`` and ``explain``, and option checks."""

from keras_resnet.support.choices import PREPROCESSING
from keras_resnet.support.validation import positive_int


def exactly_one(first, second, message):
    """Refuses two options that exclude each other when both or neither are given."""
    if (first is None) == (second is None):
        raise ValueError(message)


def add_overwrite_argument(parser, what):
    """``--overwrite``: replace ``what`` (the files a command writes) when they are there already."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what} if already there")


def add_classifier_arguments(parser, inputs, metavar, inputs_help, models, default_k=5):
    """The arguments ``predict`` and ``explain`` share: the model (a file, or a registry name with ``--weights``),
    the images (``inputs``), and how to read the model's classes and preprocessing."""
    parser.add_argument("model", help=f"{models}, or a registry name with --weights")
    parser.add_argument(inputs, nargs="+", metavar=metavar, help=inputs_help)
    parser.add_argument("--weights", help="for a registry name: imagenet, or a weights file")
    parser.add_argument("--top-k", type=positive_int, default=default_k,
                        help=f"classes per image (default {default_k})")
    parser.add_argument("--labels", help="text file with one class name per line (default: the run's "
                                         "preprocessing.json)")
    parser.add_argument("--preprocessing", default="auto", choices=PREPROCESSING,
                        help="auto: the model's own (trained models), the weights' keras.applications mode "
                             "(pretrained ImageNet models)")
