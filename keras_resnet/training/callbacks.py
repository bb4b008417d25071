"""Callbacks of the recipes: a guard against NaN/Inf losses, the run folder's resumable state (backup, checkpoints,
history, plateau schedule), TensorBoard images/hparams/gradients, throughput.

Every file is written atomically (``keras_resnet.support.files``). At the end of an epoch the callbacks run in the order the
recipe lists them, and ``RunBackup`` comes last: an epoch counts as done only once everything it wrote is on disk, so
a run killed at any instant resumes from a consistent state.
"""

import csv
import hashlib
import io
import math
import os
import shutil
import sys
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.support import files

BACKUP_STATE = "state.json"


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


def fit_verbosity(verbose):
    """``verbose`` for ``model.fit``: ``"auto"`` is the progress bar (1) on a terminal or in a notebook and one line
    per epoch (2) otherwise, in a log file say, where Keras would write every redraw of the bar."""
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() or "ipykernel" in sys.modules else 2


class ProgressLine(keras.callbacks.Callback):
    """Ends the line that Keras' progress bar leaves open when training stops with an error, so that the error
    starts a line of its own instead of continuing the bar's.

    With ``verbose=1`` the bar rewrites one line with ``\\r`` after each batch (to files too: Keras
    treats every POSIX stdout as a terminal) and ends it only after the epoch's last callback. Listed after the
    other callbacks, this one marks a batch or an epoch only once they have passed it without raising.
    """

    def __init__(self, verbose):
        super().__init__()
        self.shown, self.open = verbose == 1, False

    def on_train_batch_end(self, batch, logs=None):
        self.open = self.shown

    def on_epoch_end(self, epoch, logs=None):
        self.open = False  # the bar's own end of epoch follows and ends the line

    def close(self):
        """Ends the bar's line if training stopped in the middle of it."""
        if self.open:
            print(flush=True)
            self.open = False


def backup_state(backup_dir):
    """``{"epoch": completed epochs, "weights": file, "train_seconds": their training time}`` of the backup in
    ``backup_dir`` (no ``train_seconds`` in older ones), or ``None``.

    Reads this package's ``state.json`` and, for run folders written before it, Keras' ``BackupAndRestore`` files.
    """
    state = files.read_json(os.path.join(backup_dir, BACKUP_STATE))
    if state is None:
        legacy = files.read_json(os.path.join(backup_dir, "training_metadata.json"))
        if legacy is not None and os.path.exists(os.path.join(backup_dir, "latest.weights.h5")):
            state = {"epoch": int(legacy["epoch"]), "weights": "latest.weights.h5"}
    return state


def restore_backup(model, backup_dir):
    """Loads the backed-up weights and optimizer state into ``model`` (compiled, under its strategy's scope);
    returns the backup's ``backup_state`` (``None`` when there is no backup)."""
    state = backup_state(backup_dir)
    if state is None:
        return None
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(backup_dir, state["weights"]))
    return state


def state_digest(model):
    """SHA-256 of every value that a save of ``model`` holds: its variables and its optimizer's (learning rate,
    iterations, momenta). Two saves with the same digest hold the same state."""
    digest = hashlib.sha256()
    optimizer = model.optimizer.variables if getattr(model, "optimizer", None) is not None else []
    for variable in [*model.variables, *optimizer]:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    return digest.hexdigest()


# The whole-model file that a callback last saved of each model: ``model -> (epoch, path, state_digest)``.
_SAVED = weakref.WeakKeyDictionary()


def saved_this_epoch(model, epoch, digest=None):
    """The whole-model file that ``save_model_once`` wrote of ``model`` at the end of ``epoch`` and that holds its
    present state (``digest``: its ``state_digest``, computed if not given), or ``None``."""
    saved = _SAVED.get(model)
    if saved is None or saved[0] != epoch or not os.path.isfile(saved[1]):
        return None
    return saved[1] if saved[2] == (digest or state_digest(model)) else None


def save_model_once(model, path, epoch, digest=None):
    """Saves ``model`` whole (``.keras``) to ``path`` atomically; a model already saved whole at this epoch's end in
    the same state (``saved_this_epoch``: no callback changed it since) is copied from that file instead.
    ``digest``: the model's ``state_digest`` if the caller has it (computed otherwise).

    Keras' save walks every layer (about 0.8 s for ResNet-20 on 2 cores); a copy takes milliseconds, and the file
    holds the same config and values (only metadata.json's save date differs)."""
    digest = digest or state_digest(model)
    earlier = saved_this_epoch(model, epoch, digest)
    with files.atomic_path(path) as temporary:
        if earlier is not None:
            shutil.copyfile(earlier, temporary)
        else:
            model.save(temporary)
    _SAVED[model] = (epoch, os.fspath(path), digest)


class RunBackup(keras.callbacks.Callback):
    """Saves weights and optimizer state at every epoch's end, atomically: the weights go to a new file, then
    ``state.json`` names it in one rename, then older weight files are removed. Keep it last in the callbacks.

    The file is a copy of the epoch's whole-model checkpoint (``epoch-N.keras``, see ``save_model_once``) when one
    holds the same state, and ``epoch-N.weights.h5`` (``save_weights``) otherwise; ``model.load_weights`` reads both
    (weights and optimizer state alike).

    ``state.json`` also holds ``train_seconds``, the training time of the epochs it holds over every process of the
    run: ``earlier_seconds`` (those that an earlier process committed) and this process's time since training began.
    """

    def __init__(self, backup_dir, earlier_seconds=0.0):
        super().__init__()
        self.backup_dir = backup_dir
        self.earlier_seconds = earlier_seconds
        self._started = time.perf_counter()

    def on_train_begin(self, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        digest = state_digest(self.model)  # hashing every variable: once for the check and the copy
        if saved_this_epoch(self.model, epoch, digest) is not None:
            name = f"epoch-{epoch + 1:05d}.keras"
            save_model_once(self.model, os.path.join(self.backup_dir, name), epoch, digest)
        else:
            name = f"epoch-{epoch + 1:05d}.weights.h5"
            with files.atomic_path(os.path.join(self.backup_dir, name)) as temporary:
                self.model.save_weights(temporary)
        seconds = self.earlier_seconds + time.perf_counter() - self._started
        files.write_json(os.path.join(self.backup_dir, BACKUP_STATE),
                         {"epoch": epoch + 1, "weights": name, "train_seconds": seconds})
        for entry in os.scandir(self.backup_dir):
            if entry.name.endswith((".weights.h5", ".keras")) and entry.name != name:
                os.remove(entry.path)


class Checkpoint(keras.callbacks.Callback):
    """Saves the whole model (``.keras``) atomically at every epoch's end, or, with ``monitor``, when the monitored
    value improves on the best so far (``best``: the best of earlier, resumed epochs). A model that another
    checkpoint saved at this epoch's end in the same state is copied from that file (``save_model_once``)."""

    def __init__(self, path, monitor=None, best=math.inf):
        super().__init__()
        self.path, self.monitor, self.best = path, monitor, best

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor is not None:
            value = (logs or {}).get(self.monitor)
            if value is None or not value < self.best:
                return
            self.best = float(value)
        save_model_once(self.model, self.path, epoch)


class HistoryCSV(keras.callbacks.Callback):
    """``history.csv``: one row of logs per epoch, the whole file rewritten atomically at each epoch's end.

    Rows of epochs before ``start_epoch`` (an interrupted run's) are kept; later ones are trained again and replaced.
    """

    def __init__(self, path, start_epoch=0):
        super().__init__()
        self.path = path
        self.rows = [row for row in read_history(path) if int(row["epoch"]) < start_epoch]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch}
        row.update({key: _scalar(value) for key, value in sorted((logs or {}).items())})
        self.rows.append(row)
        write_history(self.path, self.rows)


def read_history(path):
    """The rows (dicts of strings) of a ``history.csv``, one per epoch, in order."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as file:
        rows = {int(row["epoch"]): row for row in csv.DictReader(file)}
    return [rows[epoch] for epoch in sorted(rows)]


def write_history(path, rows):
    """Writes ``rows`` (dicts, one per epoch) as ``history.csv``, atomically; the columns of every row."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files.write_text(path, text.getvalue())


def truncate_history(path, epochs):
    """Keeps the rows of the first ``epochs`` epochs of ``path`` (``history.csv``), the epochs whose weights a
    resumed run holds; rewrites the file (atomically) only when it has later rows, removes it when none is kept."""
    rows = read_history(path)
    kept = [row for row in rows if int(row["epoch"]) < epochs]
    if kept and len(kept) < len(rows):
        write_history(path, kept)
    elif rows and not kept:
        os.remove(path)


def _scalar(value):
    return float(keras.ops.convert_to_numpy(value)) if not isinstance(value, (int, float)) else value


class ResumablePlateau(keras.callbacks.ReduceLROnPlateau):
    """``ReduceLROnPlateau`` whose counters (best value, epochs waited, cooldown) survive a resume.

    The learning rate itself is optimizer state and comes back with the backup; the counters after every epoch are
    kept in ``state_path`` and the run resumed at epoch ``k`` takes those recorded after epoch ``k``.
    """

    STATE = ("best", "wait", "cooldown_counter")

    def __init__(self, state_path, start_epoch=0, **kwargs):
        super().__init__(**kwargs)
        self.state_path, self.start_epoch = state_path, start_epoch

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        saved = (files.read_json(self.state_path) or {}).get(str(self.start_epoch))
        if saved:
            for name in self.STATE:
                setattr(self, name, saved[name])

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        states = {key: value for key, value in (files.read_json(self.state_path) or {}).items()
                  if int(key) <= epoch}
        states[str(epoch + 1)] = {name: float(getattr(self, name)) for name in self.STATE}
        files.write_json(self.state_path, states)


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
    dashboard entry of the run, and (on request) gradient histograms on a fixed training batch at each epoch's end.

    The gradients are those of a training step (BN on batch statistics) computed with ``stateless_call``: the
    model's state (BN moving statistics) is never changed, and no test data is involved.
    """

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
        variables = self.model.trainable_variables
        trainable = [tf.convert_to_tensor(variable.value) for variable in variables]
        frozen = [tf.convert_to_tensor(variable.value) for variable in self.model.non_trainable_variables]
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            scores, _, losses = self.model.stateless_call(trainable, frozen, images, training=True,
                                                          return_losses=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, scores))
            loss += tf.add_n(losses or [tf.constant(0.0)])
        gradients = tape.gradient(loss, trainable)
        with tf.summary.create_file_writer(f"{self.log_dir}/train").as_default():
            for variable, gradient in zip(variables, gradients):
                if gradient is not None:
                    tf.summary.histogram(f"gradients/{variable.path}", gradient, step=epoch)
