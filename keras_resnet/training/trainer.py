"""``train(config)``: one run of a paper recipe under tf.distribute, resumable, logged to TensorBoard.

The run folder (``--output-dir``) is a small database that never loses a finished result and never mixes two runs::

    .lock, .lock.os    the holder (process id, command) and its OS file lock while a process uses the folder: a
                       second run is refused at once
    run.json           what defines the run (model, data, batch, learning rate, seed, ...): a rerun must match it
    backup/            weights and optimizer state of the last finished epoch (state.json names the file)
    checkpoints/       last.keras (every epoch) and best.keras (lowest test error over the whole run)
    logs/              TensorBoard: train/ and validation/ scalars, augmented images, HParams, histograms
    history.csv        one row of metrics per epoch
    plateau.json       the plateau schedule's counters after each epoch (ImageNet recipe)
    model.keras        the final model; its first layer subtracts the training mean (loads with safe_mode=True)
    preprocessing.json the mean, scale, input size, evaluation transform and class names the model was trained with
    summary.json       written last: test_accuracy, best_test_accuracy, epochs, images_per_second, ...

Every file is written atomically. Rerunning a finished run's command changes nothing and returns its summary;
rerunning it with more ``--epochs`` continues from the backup; rerunning an interrupted one resumes it.
"""

import datetime
import math
import os
import shutil
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_resnet import data as data_lib
from keras_resnet import files
from keras_resnet import contract as contract_lib
from keras_resnet import registry, weight_records
from keras_resnet.architectures import FAMILIES
from keras_resnet.builder import ResNet
from keras_resnet.network import ResNetModel
from keras_resnet.training import callbacks as callbacks_lib
from keras_resnet.training import distribute, finetune
from keras_resnet.training import precision as precision_lib
from keras_resnet.metrics import TopKError
from keras_resnet.training.schedule import (DATASET_RECIPE, RECIPES, cosine_schedule, scaled_learning_rate,
                                            step_schedule)

PIXEL_SCALE = 255.0  # the model sees (pixel - training mean) / 255
BACKUP = "backup"
# Files that make a folder a run folder (a new run refuses a non-empty folder without any of them).
WORKERS = "workers"  # the non-chief workers' own folders of a multi-worker run, inside the chief's
RUN_MARKERS = ("run.json", "summary.json", BACKUP, WORKERS)


class TrainingError(RuntimeError):
    """A run that could not finish; the message says what was kept and how to go on."""


def default_output_dir(model):
    return os.path.join("runs", f"{model}-{datetime.datetime.now():%Y%m%d-%H%M%S}")


def _check_output_dir(path):
    """Refuses an output dir that is a file, not writable, or a non-empty folder that holds no run.

    A folder holding only ``workers/`` is the chief's folder of a multi-worker run whose other workers started first.
    """
    files.check_writable_folder(path)
    if os.path.isdir(path) and os.listdir(path) and not any(
            os.path.exists(os.path.join(path, marker)) for marker in RUN_MARKERS + (files.LOCK_FILE,)):
        raise ValueError(f"The output dir {path!r} is not empty and holds no keras-resnet run: choose a new or "
                         "empty folder with --output-dir.")


def completed_epochs(run_dir):
    """Epochs finished by an earlier, interrupted run in ``run_dir`` (0 for a new run)."""
    state = callbacks_lib.backup_state(os.path.join(run_dir, BACKUP))
    return 0 if state is None else int(state["epoch"])


def make_deterministic():
    """Makes TensorFlow's results bitwise reproducible across processes on the same machine.

    ``tf.config.experimental.enable_op_determinism`` fixes the kernels, but ops that run concurrently still add
    floats in the order they finish: a residual network sums two gradients into every block input. One inter-op
    thread runs independent ops one after another (each op still uses every core). This must happen before
    TensorFlow starts executing; returns ``False`` (and warns) if it is too late in this process.
    """
    tf.config.experimental.enable_op_determinism()
    if tf.config.threading.get_inter_op_parallelism_threads() == 1:
        return True
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        warnings.warn("deterministic=True was asked after TensorFlow started: ops are deterministic, but results "
                      "may still differ across processes. Call keras_resnet.training.make_deterministic() first "
                      "(the keras-resnet command does).", stacklevel=3)
        return False
    return True


def run_spec(config):
    """The ``ArchSpec`` a ``TrainConfig`` trains: the registered ``config.model`` with the config's architecture
    options (``shortcut``, ``width``, ``bn_momentum``) where they are given; with a weights tag (``--weights
    cifar10``) or a ``.keras`` file (a converted checkpoint, an earlier run), the architecture of those weights."""
    options = {key: getattr(config, key) for key in ("shortcut", "width", "bn_momentum")
               if getattr(config, key) is not None}
    weights = getattr(config, "weights", None)
    record = weight_records.find(config.model, weights)
    if record is not None:
        return record.spec.replace(**options)
    return finetune.file_spec(weights, registry.spec(config.model).replace(**options)).replace(**options)


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


def history_rows(run_dir):
    """The rows of ``run_dir/history.csv``, one per epoch (the last one written wins after a resume)."""
    return callbacks_lib.read_history(os.path.join(run_dir, "history.csv"))


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


# What defines a run's network and data: a rerun of the same folder must agree on all of these.
IDENTITY = ("model", "spec", "dataset", "classes", "train_images", "files", "image_size", "sync_bn", "weights",
            "freeze")
# How it is trained: an interrupted run may resume with other values (a lower --lr after a divergence, say).
TRAINING = ("global_batch_size", "steps_per_epoch", "learning_rate", "momentum", "weight_decay", "schedule", "warmup",
            "seed", "replicas", "precision", "jit_compile")


def _class_difference(before, now):
    """``classes`` of a run folder against this run's, in words: the class names added and removed, or the order."""
    added, removed = [name for name in now if name not in before], [name for name in before if name not in now]
    if not added and not removed:
        return f"classes: the same {len(now)} names in another order"

    def listed(what, names):
        shown = ", ".join(repr(name) for name in names[:5]) + (", ..." if len(names) > 5 else "")
        return [f"{len(names)} {what} ({shown})"] if names else []
    return "classes: " + "; ".join(listed("added", added) + listed("removed", removed))


class Run:
    """One training run of a ``TrainConfig``: the paper's recipe resolved for this data, machine and run folder.

    ``train(config)`` is ``Run(config)``, ``build_model()``, ``fit(model)``, ``finish(model)``, then ``close()``;
    keras-tuner trials (``keras_resnet.tuning``) use the same steps with the tuner's strategy, data and callbacks.
    The run folder is locked from construction to ``close()`` (or the end of the process).

    ``finished`` is the summary of a run that this folder already completed (``None`` otherwise): ``fit`` then
    trains nothing and ``finish`` writes nothing.

    Raises ``ValueError`` for bad options, a folder in use or holding another run, before any training starts.
    """

    def __init__(self, config, strategy=None, source=None):
        self.config = config
        self.recipe = RECIPES[DATASET_RECIPE.get(config.dataset, "cifar")]
        if config.dataset not in DATASET_RECIPE:
            data_lib.load(config.dataset)  # raises the clear unknown-dataset error
        self.spec = run_spec(config)  # bad names, depths and options fail here
        if config.deterministic:
            make_deterministic()
        self.output_dir = config.output_dir or default_output_dir(config.model)
        self.chief = distribute.is_chief()
        self.run_dir = self.output_dir if self.chief else os.path.join(self.output_dir, WORKERS,
                                                                        distribute.worker_name())
        _check_output_dir(self.run_dir)
        created = not os.path.exists(self.run_dir)
        self.lock = files.FolderLock(self.run_dir, "run folder")
        try:
            self._resolve(strategy, source)
        except BaseException:
            self.close()
            if created:  # a run that could not start leaves no empty folder behind
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    def _resolve(self, strategy, source):
        config = self.config
        keras.utils.set_random_seed(config.seed)
        self.strategy = strategy or distribute.make_strategy(config.strategy)
        self.precision = precision_lib.resolve(config.precision, config.jit_compile,
                                                deterministic=config.deterministic)
        self.batch = distribute.global_batch_size(self.strategy, config.batch_size, config.batch_per_replica,
                                                  default=self.recipe.batch_size)
        image_size = config.image_size or (FAMILIES[self.spec.family].input_size if config.dataset == "folder"
                                           else None)
        self.source = source or data_lib.load(config.dataset, config.data_dir, config.download, config.manual_dir,
                                              image_size, config.val_fraction, config.seed)
        if config.flip is not None:
            self.source.flip = config.flip
        if config.weights is not None:
            finetune.check_weights(config.weights, self.spec)
        # Pretrained features keep the input normalisation they were learned with (None: this data's mean).
        self.normalization = finetune.input_normalization(config.weights, self.spec, self.source.image_shape)
        replicas = self.strategy.num_replicas_in_sync
        if self.batch > self.source.num_train >= replicas:  # tiny datasets: one batch of every image
            fitted = self.source.num_train // replicas * replicas
            print(f"The batch of {self.batch} is larger than the {self.source.num_train} training images of "
                  f"{self.source.name}: training with batch {fitted}.", flush=True)
            self.batch = fitted
        steps = data_lib.steps_per_epoch(self.source, self.batch)
        self.steps = min(steps, config.steps_per_epoch or steps)
        self.epochs = config.epochs or math.ceil(self.recipe.iterations / self.steps)
        self.schedule = config.schedule or self.recipe.schedule
        self.learning_rate = scaled_learning_rate(self.recipe, config.learning_rate or self.recipe.learning_rate,
                                                  self.batch)
        self.warmup = config.warmup if config.warmup is not None else (
            DATASET_RECIPE.get(config.dataset) == "cifar" and self.spec.family == "cifar"
            and self.spec.depth >= self.recipe.warmup_min_depth)
        self.throughput = callbacks_lib.Throughput(self.batch)
        self.train_seconds = 0.0
        self.finished = self._check_identity()

    @property
    def identity(self):
        """The resolved settings of this run (``IDENTITY`` and ``TRAINING``), as written to ``run.json``."""
        config = self.config
        return {"model": config.model.lower(), "spec": self.spec.to_config(), "dataset": self.source.name,
                "classes": list(self.source.class_names), "train_images": self.source.num_train,
                "files": self.source.files, "image_size": self.source.image_size,
                "global_batch_size": self.batch, "steps_per_epoch": self.steps, "learning_rate": self.learning_rate,
                "momentum": config.momentum, "weight_decay": config.weight_decay, "schedule": self.schedule,
                "warmup": bool(self.warmup), "sync_bn": config.sync_bn, "seed": config.seed,
                "replicas": self.strategy.num_replicas_in_sync, "precision": self.precision.policy,
                "jit_compile": self.precision.jit_compile, "weights": config.weights, "freeze": config.freeze}

    def _check_identity(self):
        """The summary of the finished run in this folder (``None`` if none); refuses a folder of another run.

        An interrupted run may resume with other training settings (``TRAINING``), and a finished one may continue
        with more epochs (and other settings); ``run.json`` records every change. Rerun as it was, a finished run is
        returned as it is.
        """
        path = os.path.join(self.run_dir, "run.json")
        recorded = files.read_json(path) or {}
        settings = self.identity
        before = recorded.get("settings", {})

        def changed(keys):
            differences = []
            for key in keys:
                if key not in before or before[key] == settings[key]:
                    continue
                if key == "spec" and "model" in keys and before.get("model") != settings["model"]:
                    continue  # another network: its name says it
                if key == "spec":  # the architecture options that differ
                    differences += [f"{field} {before[key].get(field)!r} -> {value!r}"
                                    for field, value in settings[key].items() if before[key].get(field) != value]
                elif key == "classes":  # another folder of images, say: which class names differ
                    differences.append(_class_difference(before[key], settings[key]))
                elif key == "files":  # said already when the classes or the number of images differ
                    if all(before.get(data) == settings[data] for data in ("classes", "train_images")):
                        differences.append("other image files: names or classes differ in the training or "
                                           "validation split; files renamed or moved, or another split by --seed "
                                           "or --val-fraction")
                else:
                    differences.append(f"{key} {before[key]!r} -> {settings[key]!r}")
            return differences

        if changed(IDENTITY):
            raise ValueError(f"The run folder {self.run_dir!r} holds another run ({'; '.join(changed(IDENTITY))}): "
                             "rerun with the same options to resume it, or choose another --output-dir.")
        summary = files.read_json(os.path.join(self.run_dir, "summary.json"))
        if summary is not None and (self.epochs < summary["epochs"]
                                    or (self.epochs == summary["epochs"] and changed(TRAINING))):
            difference = "; ".join(changed(TRAINING)) or f"epochs {summary['epochs']} -> {self.epochs}"
            raise ValueError(f"The run folder {self.run_dir!r} holds a finished run ({difference}): rerun it with "
                             "the same options (more --epochs continue it), or choose another --output-dir.")
        if summary is not None and self.epochs == summary["epochs"]:
            return summary
        if changed(TRAINING):
            print(f"Resuming {self.run_dir} with other settings: {'; '.join(changed(TRAINING))}", flush=True)
        changes = recorded.get("changes", []) + ([{"after_epoch": completed_epochs(self.run_dir),
                                                   "changed": changed(TRAINING)}] if changed(TRAINING) else [])
        # Written when training starts (``fit``), once the model has been built and its state restored: an attempt
        # that fails before that leaves the folder's record as it was.
        self._record = (path, {"settings": settings, "epochs": self.epochs, "changes": changes})
        return None

    def close(self):
        """Releases the run folder's lock."""
        self.lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def hparams(self):
        """The TensorBoard HParams of the run: the spec's fields (``spec/...``) and the training settings."""
        identity = self.identity
        spec = {f"spec/{key}": str(value) if isinstance(value, list) else value
                for key, value in identity["spec"].items()}
        return {"model": identity["model"], "dataset": identity["dataset"], "batch_size": self.batch,
                "learning_rate": self.learning_rate, "epochs": self.epochs, "weight_decay": identity["weight_decay"],
                "schedule": self.schedule, "warmup": identity["warmup"], "sync_bn": identity["sync_bn"],
                "replicas": identity["replicas"], "precision": identity["precision"],
                "jit_compile": identity["jit_compile"], **spec}

    def build_model(self):
        """The network for this run (with ``--weights``: pretrained, a new classifier, ``--freeze``'s layers frozen),
        built and compiled (SGD with the recipe's schedule) under the strategy."""
        config = self.config
        with self.strategy.scope(), self.precision.scope():
            model = build_model(self.spec, self.source, config.weight_decay, config.sync_bn) \
                if config.weights is None else finetune.pretrained_model(
                    config.weights, self.spec, self.source, config.weight_decay, config.sync_bn,
                    build=lambda: build_model(self.spec, self.source, config.weight_decay, config.sync_bn,
                                              self.normalization))
            finetune.freeze(model, config.freeze)
            model.contract = source_contract(self.source)  # saved in model.keras: its view and class names
            lr = self.learning_rate
            if self.schedule == "step":
                lr = step_schedule(self.recipe, self.learning_rate, self.epochs * self.steps, self.warmup)
            elif self.schedule == "cosine":
                lr = cosine_schedule(self.learning_rate, self.epochs * self.steps, self.warmup)
            metrics = [TopKError(1)] + ([TopKError(5)] if self.source.num_classes >= 100 else [])
            model.compile(optimizer=self.precision.optimizer(keras.optimizers.SGD(lr, momentum=config.momentum)),
                          loss=keras.losses.SparseCategoricalCrossentropy(), metrics=metrics,
                          jit_compile=self.precision.jit_compile)
        return distribute.prepare_for_multi_worker(model, self.strategy)

    def callbacks(self, start_epoch):
        """Checkpoints, history, TensorBoard (with images and HParams), throughput, NaN guard, and last the
        backup, which marks an epoch as done once everything else of it is written."""
        run_dir, config, source = self.run_dir, self.config, self.source
        log_dir = os.path.join(run_dir, "logs")
        checkpoints = os.path.join(run_dir, "checkpoints")
        earlier = [float(row["val_top1_error"]) for row in history_rows(run_dir)
                   if int(row["epoch"]) < start_epoch and row.get("val_top1_error")]
        gradient_batch = next(iter(data_lib.train_dataset(source, min(self.batch, 32), 1, seed=config.seed,
                                                          steps=1))) if config.histograms else None
        callbacks = [
            callbacks_lib.NonFiniteLossGuard(),
            keras.callbacks.TensorBoard(log_dir, histogram_freq=1 if config.histograms else 0),
            callbacks_lib.TensorBoardExtras(log_dir, data_lib.augmented_examples(source, 16, config.seed),
                                            self.hparams, gradient_batch),
            self.throughput,
            callbacks_lib.HistoryCSV(os.path.join(run_dir, "history.csv"), start_epoch),
            callbacks_lib.Checkpoint(os.path.join(checkpoints, "last.keras")),
            callbacks_lib.Checkpoint(os.path.join(checkpoints, "best.keras"), monitor="val_top1_error",
                                     best=min(earlier, default=math.inf)),
        ]
        if self.schedule == "plateau":
            callbacks.append(callbacks_lib.ResumablePlateau(
                os.path.join(run_dir, "plateau.json"), start_epoch, monitor="val_top1_error", mode="min",
                factor=0.1, patience=self.recipe.plateau_patience, min_lr=self.learning_rate * 1e-3))
        return callbacks

    def fit(self, model, extra_callbacks=(), initial_epoch=0):
        """Trains ``model`` from where the run folder left off (or from ``initial_epoch``, for a model that comes
        with the weights of that epoch); returns the Keras History (``None`` if there is nothing left to train)."""
        if self.finished is not None:
            print(f"{self.output_dir} holds this finished run ({self.epochs} epochs): nothing to train.", flush=True)
            return None
        files.remove_stale_temporaries(self.run_dir)
        done = completed_epochs(self.run_dir)
        if done > initial_epoch:
            with self.strategy.scope():
                state = callbacks_lib.restore_backup(model, os.path.join(self.run_dir, BACKUP))
            # The committed epochs' time, over the earlier processes (a backup from before it was kept: none).
            self.train_seconds = float(state.get("train_seconds", 0.0))
        files.write_json(*self._record)
        start_epoch = max(done, initial_epoch)
        # Rows of epochs after the kept state (a run killed before its backup, or resumed with fewer --epochs)
        # describe weights that are gone.
        callbacks_lib.truncate_history(os.path.join(self.run_dir, "history.csv"), start_epoch)
        print(f"Training {self.config.model} on {self.source.name} ({self.source.num_train} images, "
              f"{self.source.num_classes} classes) with {self.strategy.num_replicas_in_sync} replica(s): global "
              f"batch {self.batch}, lr {self.learning_rate:g} ({self.schedule}{', warm-up' if self.warmup else ''}"
              f"), {self.epochs} epochs x {self.steps} steps, {self.precision.description}; run folder "
              f"{self.output_dir}"
              + (f"; resuming after epoch {start_epoch}" if start_epoch else ""), flush=True)
        if start_epoch >= self.epochs:
            return None
        train_data = data_lib.train_dataset(self.source, self.batch, self.epochs, start_epoch, self.config.seed,
                                            self.config.deterministic, steps=self.steps)
        backup = callbacks_lib.RunBackup(os.path.join(self.run_dir, BACKUP), self.train_seconds)
        verbose = callbacks_lib.fit_verbosity(self.config.verbose)
        line = callbacks_lib.ProgressLine(verbose)
        started = time.perf_counter()
        try:
            return model.fit(train_data, epochs=self.epochs, initial_epoch=start_epoch, steps_per_epoch=self.steps,
                             validation_data=data_lib.eval_dataset(self.source, self.batch),
                             callbacks=[*self.callbacks(start_epoch), *extra_callbacks, backup, line], shuffle=False,
                             verbose=verbose)
        except callbacks_lib.NonFiniteLossError as error:
            done = completed_epochs(self.run_dir)
            kept = (f"The last good state (end of epoch {done}) is kept in {os.path.join(self.run_dir, BACKUP)} "
                    f"and {os.path.join(self.run_dir, 'checkpoints')}" if done else "No epoch had finished, so "
                    "no weights were saved")
            overflow = (" In float16 this is an overflow that loss scaling did not absorb: train with --precision "
                        "bfloat16 or float32." if self.precision.loss_scaling else "")
            raise TrainingError(f"{error}{overflow} {kept}. Lower the learning rate (--lr) or turn on --warmup, then "
                                "rerun the same command with --output-dir to resume.") from error
        finally:
            line.close()
            self.train_seconds += time.perf_counter() - started

    def finish(self, model):
        """Evaluates ``model``, saves it with its preprocessing record and, last, the summary; returns the summary.

        For a run this folder had already finished, nothing is written: ``model`` gets the saved model's weights
        and the saved summary is returned.
        """
        if self.finished is not None:
            model.load_weights(os.path.join(self.run_dir, "model.keras"))
            return self.finished
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
            "precision": self.precision.policy, "jit_compile": self.precision.jit_compile,
        }
        if "top5_error" in results:
            summary["test_top5_error"] = results["top5_error"]
        if self.config.ten_crop:
            summary["ten_crop_test_error"] = evaluate_ten_crop(model, source, self.batch)
        if self.chief:
            with files.atomic_path(os.path.join(run_dir, "model.keras")) as temporary:
                model.save(temporary)
            files.write_json(os.path.join(run_dir, "preprocessing.json"),
                             preprocessing_record(source, self.normalization, self.config.weights))
            files.write_json(os.path.join(run_dir, "summary.json"), summary)
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
