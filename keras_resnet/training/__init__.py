"""Training with the paper's recipes (TensorFlow-only: tf.data, tf.distribute, TensorBoard).

The run configuration (``TrainConfig``, its command-line options) imports without TensorFlow; the trainer loads on
first use of its names (PEP 562), so ``keras-resnet train --help`` prints at once.
"""

import importlib

from keras_resnet.training.config import TrainConfig, add_arguments, from_args

_TRAINER = ("Run", "TrainingError", "build_model", "format_summary", "make_deterministic", "train")
__all__ = ["Run", "TrainConfig", "TrainingError", "add_arguments", "build_model", "format_summary", "from_args",
           "make_deterministic", "train"]


def __getattr__(name):
    if name in _TRAINER:
        return getattr(importlib.import_module("keras_resnet.training.trainer"), name)
    raise AttributeError(f"module 'keras_resnet.training' has no attribute {name!r}")
