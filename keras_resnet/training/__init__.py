"""Training with the paper's recipes (TensorFlow-only: tf.data, tf.distribute, TensorBoard)."""

from keras_resnet.training.config import TrainConfig, add_arguments, from_args
from keras_resnet.training.trainer import Run, TrainingError, build_model, format_summary, train

__all__ = ["Run", "TrainConfig", "TrainingError", "add_arguments", "build_model", "format_summary", "from_args",
           "train"]
