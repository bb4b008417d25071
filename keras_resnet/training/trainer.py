"""``train(config)``: one run of a paper recipe under tf.distribute, resumable, logged to TensorBoard.

A run is its resolved configuration (``plan.resolve(config)``: one frozen ``RunPlan``) trained in its run folder
(``run_folder.RunFolder``: lock, identity, record, backup, final files; its layout is documented there). ``Run`` puts
the two together: it builds and compiles the plan's network, fits it with the run's callbacks from where the folder
left off, and saves the result. Rerunning a finished run's command changes nothing and returns its summary;
rerunning it with more ``--epochs`` continues from the backup; rerunning an interrupted one resumes it.
"""

import datetime
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_resnet import data as data_lib
from keras_resnet.models import contract as contract_lib
from keras_resnet.models import heads
from keras_resnet.applications import registry
from keras_resnet.applications.builder import ResNet
from keras_resnet.models.metrics import TopKError
from keras_resnet.models.network import ResNetModel
from keras_resnet.training import callbacks as callbacks_lib
from keras_resnet.training import distribute, finetune
from keras_resnet.training.plan import make_deterministic, resolve, run_spec  # noqa: F401  (public here too)
from keras_resnet.training.run_folder import BACKUP, WORKERS, RunFolder, completed_epochs  # noqa: F401
from keras_resnet.training.run_folder import history_rows  # noqa: F401  (analysis reads run folders' history)
from keras_resnet.training.schedule import cosine_schedule, step_schedule

PIXEL_SCALE = 255.0  # the model sees (pixel - training mean) / 255


class TrainingError(RuntimeError):
    """A run that could not finish; the message says what was kept and how to go on."""


def default_output_dir(model):
    return os.path.join("runs", f"{model}-{datetime.datetime.now():%Y%m%d-%H%M%S}")


def build_model(spec, source, weight_decay=1e-4, sync_bn=False, normalization=None):
    """The network of ``spec`` (an ``ArchSpec``, or a registry name) for ``source``: raw ``[0, 255]`` images in,
    class probabilities out.

    The first layer subtracts the training-set mean and divides by 255 (a ``Normalization`` layer holding the
    numbers), so that evaluation, export and serving see the same preprocessing as training; ``normalization`` (a
    ``finetune.normalization_of`` dict: pretrained weights' own) replaces it. The model is a ``ResNetModel``
    carrying ``spec`` and its inference contract (``source_contract``).
    Shapes: ``(batch, S, S, 3) -> (batch, classes)``.
    """
    spec = registry.spec(spec) if isinstance(spec, str) else spec
    inputs = keras.Input(source.image_shape, name="image")
    per_pixel = np.ndim(source.mean) == 3
    layer = finetune.normalization_layer(normalization) if normalization is not None else keras.layers.Normalization(
        axis=(-3, -2, -1) if per_pixel else -1, mean=source.mean,
        variance=np.full(np.shape(source.mean), PIXEL_SCALE ** 2, "float32"), name="mean_subtraction")
    x = layer(inputs)
    network = ResNet(spec, input_tensor=x, classes=source.num_classes, weight_decay=weight_decay, sync_bn=sync_bn)
    return ResNetModel(inputs, network.output, spec=spec, contract=source_contract(source), name=network.name)


def preprocessing_record(source, normalization=None, weights=None):
    """What a model trained on ``source`` expects, for export, serving and the experiments (preprocessing.json):
    ``(pixel - mean) * scale`` with the training mean, or with the ``normalization`` that fine-tuning kept from
    ``weights`` (``normalization_from`` says which)."""
    record = {"mean": np.asarray(source.mean).tolist(), "scale": 1.0 / PIXEL_SCALE, "normalization_from": "data"}
    if normalization is not None:
        record = finetune.normalization_fields(normalization, os.fspath(weights))
    record = {**record, "image_size": source.image_size, "class_names": list(source.class_names),
              "dataset": source.name, "eval_transform": data_lib.eval_transform(source)}
    if source.name == "folder":  # how it was split (null: by its own val/), for evaluate to score held-out images
        record["split"] = source.split
    return record


def source_contract(source):
    """The ``InferenceContract`` of a model trained on ``source``: its evaluation view and class names; the model
    normalises its raw ``[0, 255]`` channels_last inputs itself (its first layer)."""
    return contract_lib.for_view(data_lib.eval_transform(source), "channels_last", source.class_names)


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


def compiled_model(plan):
    """The network of ``plan`` (a ``RunPlan``; with ``--weights``: pretrained, a new classifier, ``--freeze``'s
    layers frozen), built and compiled (SGD with the recipe's schedule) under its strategy and precision; its
    weights are drawn from ``config.seed``, so every build of a plan starts from the same weights."""
    config, spec, source = plan.config, plan.spec, plan.source
    keras.utils.set_random_seed(config.seed)
    with plan.strategy.scope(), plan.precision.scope():
        model = build_model(spec, source, config.weight_decay, config.sync_bn) \
            if config.weights is None else finetune.pretrained_model(
                config.weights, spec, source, config.weight_decay, config.sync_bn,
                build=lambda: build_model(spec, source, config.weight_decay, config.sync_bn, plan.normalization))
        heads.freeze(model, config.freeze)
        model.contract = source_contract(source)  # saved in model.keras: its view and class names
        lr = plan.learning_rate
        if plan.schedule == "step":
            lr = step_schedule(plan.recipe, plan.learning_rate, plan.epochs * plan.steps, plan.warmup)
        elif plan.schedule == "cosine":
            lr = cosine_schedule(plan.learning_rate, plan.epochs * plan.steps, plan.warmup)
        metrics = [TopKError(1)] + ([TopKError(5)] if source.num_classes >= 100 else [])
        model.compile(optimizer=plan.precision.optimizer(keras.optimizers.SGD(lr, momentum=config.momentum)),
                      loss=keras.losses.SparseCategoricalCrossentropy(), metrics=metrics,
                      jit_compile=plan.precision.jit_compile)
    return distribute.prepare_for_multi_worker(model, plan.strategy)


class Run:
    """One training run of a ``TrainConfig``: its ``RunPlan`` (``plan``) in its locked ``RunFolder`` (``folder``).

    ``train(config)`` is ``Run(config)``, ``build_model()``, ``fit(model)``, ``finish(model)``, then ``close()``;
    keras-tuner trials (``keras_resnet.analysis.tuning``) use the same steps with the tuner's strategy, data and callbacks,
    and pass the ``plan`` they built the trial's model from. The run folder (``config.output_dir``) is locked first,
    from there to ``close()`` (or the end of the process), then the configuration is resolved and the folder opened.

    ``finished`` is the summary of a run that this folder already completed (``None`` otherwise): ``fit`` then
    trains nothing and ``finish`` writes nothing.

    Raises ``ValueError`` for bad options, a folder in use or holding another run, before any training starts.
    """

    def __init__(self, config, strategy=None, source=None, plan=None):
        self.output_dir = config.output_dir or default_output_dir(config.model)
        self.chief = distribute.is_chief()
        # The folder is locked before the plan is resolved: a second run on it is refused before its data loads,
        # and a multi-worker run's workers make their folders before the strategy waits for the whole cluster.
        self.folder = RunFolder(self.output_dir if self.chief else os.path.join(self.output_dir, WORKERS,
                                                                                 distribute.worker_name()))
        try:
            self.plan = plan if plan is not None else resolve(config, strategy, source)  # bad options fail here
            self.throughput = callbacks_lib.Throughput(self.plan.batch)
            self.train_seconds = 0.0
            self.finished = self.folder.open(self.plan.settings, self.plan.epochs)
        except BaseException:
            self.folder.discard()
            raise

    @property
    def run_dir(self):
        """This process's run folder: the output dir (a multi-worker run's other workers: a folder inside it)."""
        return self.folder.path

    def close(self):
        """Releases the run folder's lock."""
        self.folder.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def build_model(self):
        """The run's network, built and compiled (``compiled_model``)."""
        return compiled_model(self.plan)

    def callbacks(self, start_epoch):
        """Checkpoints, history, TensorBoard (with images and HParams), throughput, NaN guard, and last the
        backup, which marks an epoch as done once everything else of it is written."""
        plan, folder = self.plan, self.folder
        config, source = plan.config, plan.source
        log_dir = folder.file("logs")
        earlier = [float(row["val_top1_error"]) for row in folder.history_rows()
                   if int(row["epoch"]) < start_epoch and row.get("val_top1_error")]
        gradient_batch = next(iter(data_lib.train_dataset(source, min(plan.batch, 32), 1, seed=config.seed,
                                                          steps=1))) if config.histograms else None
        callbacks = [
            callbacks_lib.NonFiniteLossGuard(),
            keras.callbacks.TensorBoard(log_dir, histogram_freq=1 if config.histograms else 0),
            callbacks_lib.TensorBoardExtras(log_dir, data_lib.augmented_examples(source, 16, config.seed),
                                            plan.hparams, gradient_batch),
            self.throughput,
            callbacks_lib.HistoryCSV(folder.file("history.csv"), start_epoch),
            callbacks_lib.Checkpoint(folder.file("checkpoints", "last.keras")),
            callbacks_lib.Checkpoint(folder.file("checkpoints", "best.keras"), monitor="val_top1_error",
                                     best=min(earlier, default=math.inf)),
        ]
        if plan.schedule == "plateau":
            callbacks.append(callbacks_lib.ResumablePlateau(
                folder.file("plateau.json"), start_epoch, monitor="val_top1_error", mode="min",
                factor=0.1, patience=plan.recipe.plateau_patience, min_lr=plan.learning_rate * 1e-3))
        return callbacks

    def _resume(self, model, initial_epoch):
        """Restores the folder's last finished epoch into ``model`` (unless ``initial_epoch`` is as far), records
        ``run.json`` and returns the epoch training starts at."""
        plan, folder = self.plan, self.folder
        folder.remove_stale_temporaries()
        done = folder.completed_epochs()
        if done > initial_epoch:
            with plan.strategy.scope():
                state = folder.restore(model)
            # The committed epochs' time, over the earlier processes (a backup from before it was kept: none).
            self.train_seconds = float(state.get("train_seconds", 0.0))
        folder.record()
        start_epoch = max(done, initial_epoch)
        # Rows of epochs after the kept state (a run killed before its backup, or resumed with fewer --epochs)
        # describe weights that are gone.
        folder.truncate_history(start_epoch)
        source = plan.source
        print(f"Training {plan.config.model} on {source.name} ({source.num_train} images, {source.num_classes} "
              f"classes) with {plan.strategy.num_replicas_in_sync} replica(s): global batch {plan.batch}, lr "
              f"{plan.learning_rate:g} ({plan.schedule}{', warm-up' if plan.warmup else ''}), {plan.epochs} epochs x "
              f"{plan.steps} steps, {plan.precision.description}; run folder {self.output_dir}"
              + (f"; resuming after epoch {start_epoch}" if start_epoch else ""), flush=True)
        return start_epoch

    def fit(self, model, extra_callbacks=(), initial_epoch=0):
        """Trains ``model`` from where the run folder left off (or from ``initial_epoch``, for a model that comes
        with the weights of that epoch); returns the Keras History (``None`` if there is nothing left to train)."""
        plan = self.plan
        if self.finished is not None:
            print(f"{self.output_dir} holds this finished run ({plan.epochs} epochs): nothing to train.", flush=True)
            return None
        start_epoch = self._resume(model, initial_epoch)
        if start_epoch >= plan.epochs:
            return None
        train_data = data_lib.train_dataset(plan.source, plan.batch, plan.epochs, start_epoch, plan.config.seed,
                                            plan.config.deterministic, steps=plan.steps)
        backup = callbacks_lib.RunBackup(self.folder.file(BACKUP), self.train_seconds)
        verbose = callbacks_lib.fit_verbosity(plan.config.verbose)
        line = callbacks_lib.ProgressLine(verbose)
        started = time.perf_counter()
        try:
            return model.fit(train_data, epochs=plan.epochs, initial_epoch=start_epoch, steps_per_epoch=plan.steps,
                             validation_data=data_lib.eval_dataset(plan.source, plan.batch),
                             callbacks=[*self.callbacks(start_epoch), *extra_callbacks, backup, line], shuffle=False,
                             verbose=verbose)
        except callbacks_lib.NonFiniteLossError as error:
            raise self._diverged(error) from error
        finally:
            line.close()
            self.train_seconds += time.perf_counter() - started

    def _diverged(self, error):
        """The ``TrainingError`` of a loss that became NaN or infinite: what was kept, and how to go on."""
        done = self.folder.completed_epochs()
        kept = (f"The last good state (end of epoch {done}) is kept in {self.folder.file(BACKUP)} and "
                f"{self.folder.file('checkpoints')}" if done else "No epoch had finished, so no weights were saved")
        overflow = (" In float16 this is an overflow that loss scaling did not absorb: train with --precision "
                    "bfloat16 or float32." if self.plan.precision.loss_scaling else "")
        return TrainingError(f"{error}{overflow} {kept}. Lower the learning rate (--lr) or turn on --warmup, then "
                             "rerun the same command with --output-dir to resume.")

    def finish(self, model):
        """Evaluates ``model``, saves it with its preprocessing record and, last, the summary; returns the summary.

        For a run this folder had already finished, nothing is written: ``model`` gets the saved model's weights
        and the saved summary is returned.
        """
        if self.finished is not None:
            model.load_weights(self.folder.file("model.keras"))
            return self.finished
        plan = self.plan
        source = plan.source
        results = model.evaluate(data_lib.eval_dataset(source, plan.batch), return_dict=True, verbose=0)
        rows = self.folder.history_rows()
        best_error = min([float(row["val_top1_error"]) for row in rows] + [results["top1_error"]])
        summary = {
            "model": plan.config.model, "dataset": source.name, "epochs": plan.epochs,
            "steps_per_epoch": plan.steps, "global_batch_size": plan.batch,
            "replicas": plan.strategy.num_replicas_in_sync, "test_accuracy": 1.0 - results["top1_error"],
            "best_test_accuracy": 1.0 - best_error, "test_error": results["top1_error"],
            "best_test_error": best_error, "test_loss": results["loss"], "train_seconds": self.train_seconds,
            "images_per_second": self.throughput.images_per_second if self.throughput.epoch_times else None,
            "params": model.count_params(), "output_dir": self.output_dir,
            "precision": plan.precision.policy, "jit_compile": plan.precision.jit_compile,
        }
        if "top5_error" in results:
            summary["test_top5_error"] = results["top5_error"]
        if plan.config.ten_crop:
            summary["ten_crop_test_error"] = evaluate_ten_crop(model, source, plan.batch)
        if self.chief:
            self.folder.save(model, preprocessing_record(source, plan.normalization, plan.config.weights), summary)
        self.finished = summary
        return summary


def train(config):
    """Trains ``config.model`` on ``config.dataset`` with the paper's recipe; returns the summary dict.

    A finished run in ``config.output_dir`` is returned as it is, untouched; an interrupted one is resumed.
    Raises ``ValueError`` for bad options (before any training) and ``TrainingError`` when the loss diverges.
    """
    with Run(config) as run:
        if run.finished is not None:
            return run.finished
        model = run.build_model()
        run.fit(model)
        return run.finish(model)


def format_summary(summary):
    """Human-readable closing lines of a run."""
    speed = summary["images_per_second"]
    return (f"{summary['model']} on {summary['dataset']}: test error {100 * summary['test_error']:.2f} % "
            f"(accuracy {100 * summary['test_accuracy']:.2f} %), best {100 * summary['best_test_error']:.2f} %, "
            f"{summary['epochs']} epoch{'s' if summary['epochs'] != 1 else ''} in {summary['train_seconds']:.0f} s"
            + (f", {speed:.0f} images/s" if speed else "") + f". Run folder: {summary['output_dir']}")
