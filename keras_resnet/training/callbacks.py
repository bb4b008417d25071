"""Callbacks of the recipes: a guard against NaN/Inf losses, TensorBoard images/hparams/gradients, throughput."""

import math
import time

import keras
import numpy as np
import tensorflow as tf


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or Inf; the run stopped before saving anything from the diverged state."""


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Raises ``NonFiniteLossError`` at the first batch whose loss is not finite.

    Raising (rather than ``stop_training``) keeps the end-of-epoch callbacks from checkpointing diverged weights:
    the last good backup and checkpoints stay as they were.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(f"The training loss became {float(loss)} at epoch {self._epoch + 1}, "
                                     f"step {batch + 1}.")


class Throughput(keras.callbacks.Callback):
    """Training images/s over the epochs after the first (which includes tracing), or over all if only one."""

    def __init__(self, global_batch):
        super().__init__()
        self.global_batch = global_batch
        self.epoch_times, self.epoch_steps = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_times.append(time.perf_counter() - self._start)
        self.epoch_steps.append(self._steps)

    @property
    def images_per_second(self):
        times, steps = (self.epoch_times[1:], self.epoch_steps[1:]) if len(self.epoch_times) > 1 else \
            (self.epoch_times, self.epoch_steps)
        return sum(steps) * self.global_batch / sum(times) if sum(times) > 0 else float("nan")


def image_grid(images, columns=4):
    """``(N, H, W, 3)`` floats in [0, 255] -> one uint8 ``(1, rows * H, columns * W, 3)`` grid image."""
    images = np.clip(np.asarray(images), 0, 255).astype("uint8")
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    padded = np.zeros((rows * columns, height, width, channels), "uint8")
    padded[:count] = images
    grid = padded.reshape(rows, columns, height, width, channels).transpose(0, 2, 1, 3, 4)
    return grid.reshape(1, rows * height, columns * width, channels)


class TensorBoardExtras(keras.callbacks.Callback):
    """What keras.callbacks.TensorBoard does not write: a grid of augmented training images, the HParams
    dashboard entry of the run, and (on request) gradient histograms on a fixed batch at each epoch's end."""

    def __init__(self, log_dir, augmented_images, hparams, gradient_batch=None):
        super().__init__()
        self.log_dir, self.augmented_images, self.hparams = log_dir, augmented_images, hparams
        self.gradient_batch = gradient_batch

    def on_train_begin(self, logs=None):
        from tensorboard.plugins.hparams import api as hp

        with tf.summary.create_file_writer(f"{self.log_dir}/train").as_default():
            tf.summary.image("augmented_training_images", image_grid(self.augmented_images), step=0)
        with tf.summary.create_file_writer(self.log_dir).as_default():
            hp.hparams_config(hparams=[hp.HParam(name) for name in self.hparams],
                              metrics=[hp.Metric("epoch_top1_error", group="validation",
                                                 display_name="val top-1 error"),
                                       hp.Metric("epoch_loss", group="train", display_name="train loss")])
            hp.hparams(self.hparams)

    def on_epoch_end(self, epoch, logs=None):
        if self.gradient_batch is None:
            return
        images, labels = self.gradient_batch
        with tf.GradientTape() as tape:
            scores = self.model(images, training=True)
            loss = keras.losses.sparse_categorical_crossentropy(labels, scores)
            loss = tf.reduce_mean(loss) + tf.add_n(self.model.losses or [tf.constant(0.0)])
        variables = self.model.trainable_variables
        gradients = tape.gradient(loss, variables)
        with tf.summary.create_file_writer(f"{self.log_dir}/train").as_default():
            for variable, gradient in zip(variables, gradients):
                if gradient is not None:
                    tf.summary.histogram(f"gradients/{variable.path}", gradient, step=epoch)
