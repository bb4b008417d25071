"""``train(config)``: one run of a paper recipe under tf.distribute, resumable, logged to TensorBoard.

The run folder (``--output-dir``) holds::

    backup/            BackupAndRestore state (weights, optimizer, epoch): rerunning the same command resumes
    checkpoints/       last.keras (every epoch) and best.keras (lowest test error)
    logs/              TensorBoard: train/ and validation/ scalars, augmented images, HParams, histograms
    history.csv        one row of metrics per epoch
    model.keras        the final model; its first layer subtracts the training mean (loads with safe_mode=True)
    preprocessing.json the mean, scale and class names the model was trained with
    summary.json       test_accuracy, best_test_accuracy, epochs, images_per_second, ...
"""

import csv
import datetime
import json
import math
import os
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from keras_resnet import data as data_lib
from keras_resnet import registry
from keras_resnet.builder import normalize_shortcut
from keras_resnet.training import callbacks as callbacks_lib
from keras_resnet.training import distribute
from keras_resnet.metrics import TopKError
from keras_resnet.training.schedule import DATASET_RECIPE, RECIPES, scaled_learning_rate, step_schedule

PIXEL_SCALE = 255.0  # the model sees (pixel - training mean) / 255
BACKUP = "backup"


class TrainingError(RuntimeError):
    """A run that could not finish; the message says what was kept and how to go on."""


def default_output_dir(model):
    return os.path.join("runs", f"{model}-{datetime.datetime.now():%Y%m%d-%H%M%S}")


def _writable_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(f"Cannot write to the output dir {path!r} ({error.strerror or error}): choose a writable "
                         "folder with --output-dir.") from error
    return path


def completed_epochs(run_dir):
    """Epochs finished by an earlier, interrupted run in ``run_dir`` (0 for a new run)."""
    metadata = os.path.join(run_dir, BACKUP, "training_metadata.json")
    if not os.path.exists(metadata):
        return 0
    with open(metadata) as file:
        return int(json.load(file)["epoch"])


def build_model(name, source, weight_decay=1e-4, bn_momentum=0.9, sync_bn=False, shortcut=None, width=1):
    """The network ``name`` for ``source``: raw ``[0, 255]`` images in, class probabilities out.

    The first layer subtracts the training-set mean and divides by 255 (a ``Normalization`` layer holding the
    numbers), so that evaluation, export and serving see the same preprocessing as training.
    Shapes: ``(batch, S, S, 3) -> (batch, classes)``.
    """
    inputs = keras.Input(source.image_shape, name="image")
    per_pixel = np.ndim(source.mean) == 3
    x = keras.layers.Normalization(axis=(-3, -2, -1) if per_pixel else -1, mean=source.mean,
                                   variance=np.full(np.shape(source.mean), PIXEL_SCALE ** 2, "float32"),
                                   name="mean_subtraction")(inputs)
    options = {"shortcut": normalize_shortcut(shortcut)} if shortcut else {}
    if width != 1:
        options["width"] = width
    model = registry.build(name, input_tensor=x, classes=source.num_classes, weight_decay=weight_decay,
                           bn_momentum=bn_momentum, sync_bn=sync_bn, **options)
    return keras.Model(inputs, model.output, name=model.name)


def history_rows(run_dir):
    """The rows of ``run_dir/history.csv``, one per epoch (the last one written wins after a resume)."""
    history_path = os.path.join(run_dir, "history.csv")
    if not os.path.exists(history_path):
        return []
    with open(history_path) as file:
        rows = {int(row["epoch"]): row for row in csv.DictReader(file)}
    return [rows[epoch] for epoch in sorted(rows)]


def evaluate_ten_crop(model, source, batch_size):
    """Top-1 error of the 10-crop test ([He16] Sec. 3.4): softmax scores averaged over the 10 views."""
    errors, count = 0, 0
    for crops, labels in data_lib.ten_crop_dataset(source, batch_size):
        views = tf.reshape(crops, (-1, *source.image_shape))
        scores = tf.reshape(model(views, training=False), (tf.shape(crops)[0], 10, -1))
        predicted = tf.argmax(tf.reduce_mean(scores, axis=1), axis=-1)
        errors += int(tf.reduce_sum(tf.cast(predicted != labels, tf.int32)))
        count += int(tf.shape(labels)[0])
    return errors / max(count, 1)


class Run:
    """One training run of a ``TrainConfig``: the paper's recipe resolved for this data, machine and run folder.

    ``train(config)`` is ``Run(config)``, ``build_model()``, ``fit(model)``, ``finish(model)``; keras-tuner trials
    (``keras_resnet.tuning``) use the same steps with the tuner's strategy, data and callbacks.

    Raises ``ValueError`` for bad options, before any data is read or any training starts.
    """

    def __init__(self, config, strategy=None, source=None):
        self.config = config
        self.recipe = RECIPES[DATASET_RECIPE.get(config.dataset, "cifar")]
        if config.dataset not in DATASET_RECIPE:
            data_lib.load(config.dataset)  # raises the clear unknown-dataset error
        self.entry = registry.resolve(config.model)
        self.entry.layout()  # bad depths fail here
        if config.shortcut:
            normalize_shortcut(config.shortcut)
        self.output_dir = config.output_dir or default_output_dir(config.model)
        self.chief = distribute.is_chief()
        self.run_dir = _writable_dir(self.output_dir if self.chief else
                                     os.path.join(self.output_dir, "workers", distribute.worker_name()))
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.strategy = strategy or distribute.make_strategy(config.strategy)
        self.batch = distribute.global_batch_size(self.strategy, config.batch_size, config.batch_per_replica,
                                                  default=self.recipe.batch_size)
        self.source = source or data_lib.load(config.dataset, config.data_dir, config.download, config.manual_dir,
                                              config.image_size)
        steps = data_lib.steps_per_epoch(self.source, self.batch)
        self.steps = min(steps, config.steps_per_epoch or steps)
        self.epochs = config.epochs or math.ceil(self.recipe.iterations / self.steps)
        self.schedule = config.schedule or self.recipe.schedule
        self.learning_rate = scaled_learning_rate(self.recipe, config.learning_rate or self.recipe.learning_rate,
                                                  self.batch)
        self.warmup = config.warmup if config.warmup is not None else (
            DATASET_RECIPE.get(config.dataset) == "cifar" and self.entry.family == "cifar"
            and self.entry.depth >= self.recipe.warmup_min_depth)
        self.throughput = callbacks_lib.Throughput(self.batch)
        self.train_seconds = 0.0

    @property
    def hparams(self):
        config = self.config
        return {"model": config.model, "dataset": config.dataset, "batch_size": self.batch,
                "learning_rate": self.learning_rate, "epochs": self.epochs, "weight_decay": config.weight_decay,
                "schedule": self.schedule, "warmup": bool(self.warmup), "sync_bn": config.sync_bn,
                "replicas": self.strategy.num_replicas_in_sync,
                "shortcut": config.shortcut or str(self.entry.default("shortcut")), "width": config.width}

    def build_model(self):
        """The network for this run, built and compiled (SGD with the recipe's schedule) under the strategy."""
        config = self.config
        with self.strategy.scope():
            model = build_model(config.model, self.source, config.weight_decay, config.bn_momentum, config.sync_bn,
                                config.shortcut, config.width)
            lr = step_schedule(self.recipe, self.learning_rate, self.epochs * self.steps, self.warmup) \
                if self.schedule == "step" else self.learning_rate
            metrics = [TopKError(1)] + ([TopKError(5)] if self.source.num_classes >= 100 else [])
            model.compile(optimizer=keras.optimizers.SGD(lr, momentum=config.momentum),
                          loss=keras.losses.SparseCategoricalCrossentropy(), metrics=metrics)
        return distribute.prepare_for_multi_worker(model, self.strategy)

    def callbacks(self):
        """Backup, checkpoints, history, TensorBoard (with images and HParams), throughput, NaN guard."""
        run_dir, config, source = self.run_dir, self.config, self.source
        log_dir = os.path.join(run_dir, "logs")
        gradient_batch = next(iter(data_lib.eval_dataset(source, min(self.batch, 32)))) if config.histograms \
            else None
        callbacks = [
            callbacks_lib.NonFiniteLossGuard(),
            keras.callbacks.BackupAndRestore(os.path.join(run_dir, BACKUP), double_checkpoint=True,
                                             delete_checkpoint=False),
            keras.callbacks.ModelCheckpoint(os.path.join(run_dir, "checkpoints", "last.keras")),
            keras.callbacks.ModelCheckpoint(os.path.join(run_dir, "checkpoints", "best.keras"),
                                            monitor="val_top1_error", mode="min", save_best_only=True),
            keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"), append=True),
            keras.callbacks.TensorBoard(log_dir, histogram_freq=1 if config.histograms else 0),
            callbacks_lib.TensorBoardExtras(log_dir, data_lib.augmented_examples(source, 16, config.seed),
                                            self.hparams, gradient_batch),
            self.throughput,
        ]
        if self.schedule == "plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau(
                monitor="val_top1_error", mode="min", factor=0.1, patience=self.recipe.plateau_patience,
                min_lr=self.learning_rate * 1e-3))
        return callbacks

    def fit(self, model, extra_callbacks=(), initial_epoch=0):
        """Trains ``model`` from where the run folder left off (or from ``initial_epoch``, for a model that comes
        with the weights of that epoch); returns the Keras History (``None`` if there is nothing left to train)."""
        start_epoch = max(completed_epochs(self.run_dir), initial_epoch)
        print(f"Training {self.config.model} on {self.source.name} ({self.source.num_train} images, "
              f"{self.source.num_classes} classes) with {self.strategy.num_replicas_in_sync} replica(s): global "
              f"batch {self.batch}, lr {self.learning_rate:g} ({self.schedule}{', warm-up' if self.warmup else ''}"
              f"), {self.epochs} epochs x {self.steps} steps; run folder {self.output_dir}"
              + (f"; resuming after epoch {start_epoch}" if start_epoch else ""), flush=True)
        if start_epoch >= self.epochs:
            return None
        train_data = data_lib.train_dataset(self.source, self.batch, self.epochs, start_epoch, self.config.seed,
                                            self.config.deterministic, steps=self.steps)
        started = time.perf_counter()
        try:
            return model.fit(train_data, epochs=self.epochs, initial_epoch=start_epoch, steps_per_epoch=self.steps,
                             validation_data=data_lib.eval_dataset(self.source, self.batch),
                             callbacks=[*self.callbacks(), *extra_callbacks], shuffle=False,
                             verbose=self.config.verbose)
        except callbacks_lib.NonFiniteLossError as error:
            done = completed_epochs(self.run_dir)
            kept = (f"The last good state (end of epoch {done}) is kept in {os.path.join(self.run_dir, BACKUP)} "
                    f"and {os.path.join(self.run_dir, 'checkpoints')}" if done else "No epoch had finished, so "
                    "nothing was saved")
            raise TrainingError(f"{error} {kept}. Lower the learning rate (--lr) or turn on --warmup, then rerun "
                                "the same command with --output-dir to resume.") from error
        finally:
            self.train_seconds += time.perf_counter() - started

    def finish(self, model):
        """Evaluates ``model``, saves it with its preprocessing numbers and the summary; returns the summary."""
        source, run_dir = self.source, self.run_dir
        results = model.evaluate(data_lib.eval_dataset(source, self.batch), return_dict=True, verbose=0)
        rows = history_rows(run_dir)
        best_error = min([float(row["val_top1_error"]) for row in rows] + [results["top1_error"]])
        summary = {
            "model": self.config.model, "dataset": source.name, "epochs": self.epochs,
            "steps_per_epoch": self.steps, "global_batch_size": self.batch,
            "replicas": self.strategy.num_replicas_in_sync, "test_accuracy": 1.0 - results["top1_error"],
            "best_test_accuracy": 1.0 - best_error, "test_error": results["top1_error"],
            "best_test_error": best_error, "test_loss": results["loss"], "train_seconds": self.train_seconds,
            "images_per_second": self.throughput.images_per_second if self.throughput.epoch_times else None,
            "params": model.count_params(), "output_dir": self.output_dir,
        }
        if "top5_error" in results:
            summary["test_top5_error"] = results["top5_error"]
        if self.config.ten_crop:
            summary["ten_crop_test_error"] = evaluate_ten_crop(model, source, self.batch)
        if self.chief:
            model.save(os.path.join(run_dir, "model.keras"))
            with open(os.path.join(run_dir, "preprocessing.json"), "w") as file:
                json.dump({"mean": np.asarray(source.mean).tolist(), "scale": 1.0 / PIXEL_SCALE,
                           "image_size": source.image_size, "class_names": source.class_names,
                           "dataset": source.name}, file)
            with open(os.path.join(run_dir, "summary.json"), "w") as file:
                json.dump(summary, file, indent=2)
        return summary


def train(config):
    """Trains ``config.model`` on ``config.dataset`` with the paper's recipe; returns the summary dict.

    Raises ``ValueError`` for bad options (before any training) and ``TrainingError`` when the loss diverges.
    """
    run = Run(config)
    model = run.build_model()
    run.fit(model)
    return run.finish(model)


def format_summary(summary):
    """Human-readable closing lines of a run."""
    speed = summary["images_per_second"]
    return (f"{summary['model']} on {summary['dataset']}: test error {100 * summary['test_error']:.2f} % "
            f"(accuracy {100 * summary['test_accuracy']:.2f} %), best {100 * summary['best_test_error']:.2f} %, "
            f"{summary['epochs']} epochs in {summary['train_seconds']:.0f} s"
            + (f", {speed:.0f} images/s" if speed else "") + f". Run folder: {summary['output_dir']}")
