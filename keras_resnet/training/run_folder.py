"""The run folder (``--output-dir``): a small database that never loses a finished result and never mixes two runs::

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

Every file is written atomically (``files.py``). ``RunFolder`` is one open folder: its lock, the check that a rerun is
the same run, its record, backup, history and final files. Whether a rerun is the same run is decided by pure
functions of the recorded and the current settings (``check_identity``, ``check_finished``), testable without
training: another network or other data is refused, an interrupted run may resume with other training settings
(``TRAINING``), and a finished one is returned as it is or continued with more epochs.
"""

import os
import shutil

from keras_resnet.support import files
from keras_resnet.training import callbacks as callbacks_lib

BACKUP = "backup"
WORKERS = "workers"  # the non-chief workers' own folders of a multi-worker run, inside the chief's
# Files that make a folder a run folder (a new run refuses a non-empty folder without any of them).
RUN_MARKERS = ("run.json", "summary.json", BACKUP, WORKERS)

# What defines a run's network and data: a rerun of the same folder must agree on all of these.
IDENTITY = ("model", "spec", "dataset", "classes", "train_images", "files", "image_size", "sync_bn", "weights",
            "freeze")
# How it is trained: an interrupted run may resume with other values (a lower --lr after a divergence, say).
TRAINING = ("global_batch_size", "steps_per_epoch", "learning_rate", "momentum", "weight_decay", "schedule", "warmup",
            "seed", "replicas", "precision", "jit_compile")


def check_output_dir(path):
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


def history_rows(run_dir):
    """The rows of ``run_dir/history.csv``, one per epoch (the last one written wins after a resume)."""
    return callbacks_lib.read_history(os.path.join(run_dir, "history.csv"))


def class_difference(before, now):
    """``classes`` of a run folder against this run's, in words: the class names added and removed, or the order."""
    added, removed = [name for name in now if name not in before], [name for name in before if name not in now]
    if not added and not removed:
        return f"classes: the same {len(now)} names in another order"

    def listed(what, names):
        shown = ", ".join(repr(name) for name in names[:5]) + (", ..." if len(names) > 5 else "")
        return [f"{len(names)} {what} ({shown})"] if names else []
    return "classes: " + "; ".join(listed("added", added) + listed("removed", removed))


def differences(before, now, keys):
    """The settings of ``keys`` that differ between ``before`` (``run.json``'s ``settings``) and ``now``, in words
    (``"width 1 -> 2"``); a key that ``before`` lacks (a folder of an older version) differs in nothing."""
    found = []
    for key in keys:
        if key not in before or before[key] == now[key]:
            continue
        if key == "spec" and "model" in keys and before.get("model") != now["model"]:
            continue  # another network: its name says it
        if key == "spec":  # the architecture options that differ
            found += [f"{field} {before[key].get(field)!r} -> {value!r}"
                      for field, value in now[key].items() if before[key].get(field) != value]
        elif key == "classes":  # another folder of images, say: which class names differ
            found.append(class_difference(before[key], now[key]))
        elif key == "files":  # said already when the classes or the number of images differ
            if all(before.get(data) == now[data] for data in ("classes", "train_images")):
                found.append("other image files: names or classes differ in the training or validation split; "
                             "files renamed or moved, or another split by --seed or --val-fraction")
        else:
            found.append(f"{key} {before[key]!r} -> {now[key]!r}")
    return found


def check_identity(recorded, current, folder):
    """Refuses, in one line naming ``folder``, a run whose network or data (``IDENTITY``) differ from those
    ``recorded`` in its ``run.json`` (``{}`` for a new folder)."""
    changed = differences(recorded, current, IDENTITY)
    if changed:
        raise ValueError(f"The run folder {folder!r} holds another run ({'; '.join(changed)}): rerun with the same "
                         "options to resume it, or choose another --output-dir.")


def check_finished(summary, epochs, changed, folder):
    """Whether the finished run of ``summary`` (``summary.json``; ``None``: none) is this run of ``epochs`` epochs,
    to be returned as it is; ``changed`` are the training settings that differ (``differences(..., TRAINING)``).

    More epochs continue a finished run (``False``); fewer, or as many with other settings, are refused in one line.
    """
    if summary is None:
        return False
    if epochs < summary["epochs"] or (epochs == summary["epochs"] and changed):
        difference = "; ".join(changed) or f"epochs {summary['epochs']} -> {epochs}"
        raise ValueError(f"The run folder {folder!r} holds a finished run ({difference}): rerun it with the same "
                         "options (more --epochs continue it), or choose another --output-dir.")
    return epochs == summary["epochs"]


class RunFolder:
    """One run folder, locked from construction to ``close()`` (or the end of the process).

    ``open(settings, epochs)`` checks that the folder holds this run (or none); ``record()`` writes its ``run.json``
    when training starts; ``save`` writes the final model, its preprocessing record and, last, the summary.
    Raises ``ValueError`` for a folder that is a file, not writable, in use, or that holds something else.
    """

    def __init__(self, path):
        check_output_dir(path)
        self.path = path
        self.created = not os.path.exists(path)
        self.lock = files.FolderLock(path, "run folder")
        self._record = None

    def file(self, *names):
        """The path of ``names`` inside the folder."""
        return os.path.join(self.path, *names)

    def open(self, settings, epochs):
        """The summary of the run this folder finished with ``settings`` (``run.json``'s form) and ``epochs``, or
        ``None`` when there is training to do; refuses a folder of another run or a finished run it cannot continue.

        An interrupted run may resume with other training settings, and a finished one may continue with more
        epochs (and other settings); ``run.json`` records every change, once ``record()`` is called.
        """
        recorded = files.read_json(self.file("run.json")) or {}
        before = recorded.get("settings", {})
        check_identity(before, settings, self.path)
        changed = differences(before, settings, TRAINING)
        summary = files.read_json(self.file("summary.json"))
        if check_finished(summary, epochs, changed, self.path):
            return summary
        if changed:
            print(f"Resuming {self.path} with other settings: {'; '.join(changed)}", flush=True)
        changes = recorded.get("changes", []) + ([{"after_epoch": self.completed_epochs(), "changed": changed}]
                                                 if changed else [])
        self._record = {"settings": settings, "epochs": epochs, "changes": changes}
        return None

    def record(self):
        """Writes ``run.json`` as ``open`` resolved it. Called when training starts, once the model has been built
        and its state restored: an attempt that fails before that leaves the folder's record as it was."""
        files.write_json(self.file("run.json"), self._record)

    def completed_epochs(self):
        return completed_epochs(self.path)

    def history_rows(self):
        return history_rows(self.path)

    def truncate_history(self, epochs):
        """Keeps the rows of the first ``epochs`` epochs of ``history.csv``."""
        callbacks_lib.truncate_history(self.file("history.csv"), epochs)

    def remove_stale_temporaries(self):
        files.remove_stale_temporaries(self.path)

    def restore(self, model):
        """Loads the backup of the last finished epoch into ``model`` (under the caller's strategy scope); returns
        its state (``epoch``, ``train_seconds``, ...)."""
        return callbacks_lib.restore_backup(model, self.file(BACKUP))

    def save(self, model, preprocessing, summary):
        """``model.keras``, ``preprocessing.json`` and, last, ``summary.json`` (which marks the run finished)."""
        with files.atomic_path(self.file("model.keras")) as temporary:
            model.save(temporary)
        files.write_json(self.file("preprocessing.json"), preprocessing)
        files.write_json(self.file("summary.json"), summary)

    def close(self):
        """Releases the folder's lock."""
        self.lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def discard(self):
        """Releases the lock and, if this object created the folder, removes it: a run that could not start leaves
        no empty folder behind."""
        self.close()
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
