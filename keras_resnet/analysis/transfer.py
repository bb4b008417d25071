"""What transfer buys: fine-tuning a pretrained network against training from scratch on k labelled images per class.

Real data, offline: the scikit-learn digits (``data.digits``, its stratified train/test split). A CIFAR ResNet is
pretrained on the digits 0-4; the digits 5-9 are the new task, with ``k`` training images per class (the same
``k`` images for every arm, drawn with the seed, smaller sets inside larger ones) and every test image of 5-9. Arms:

- ``scratch``: the network trained from random weights, the CIFAR recipe ([He16] Sec. 4.2), ``head_epochs +
  epochs`` epochs;
- ``head``: phase 1 of ``two_phase.two_phase``, the pretrained network frozen and a new classifier trained;
- ``fine_tuned``: phase 2, the whole network fine-tuned from there (the two-phase recipe, ``recipes/finetune.py``,
  with its default epochs and rate factor).

Every k-shot run uses batches of ``min(BATCH, 5k)`` images at a learning rate of ``LEARNING_RATE`` (phase 2 of the
fine-tuning: ``full_lr_factor`` of it), so the arms train for the same number of steps. ``recipe_sweep`` measures the
recipe's settings on the same task; its best setting is the recipe's default.
"""

import itertools
import os

import numpy as np

from keras_resnet.data import digits
from keras_resnet.data.source import from_arrays
from keras_resnet.training import TrainConfig
from keras_resnet.training.two_phase import FULL_EPOCHS, FULL_LR_FACTOR, HEAD_EPOCHS, two_phase
from keras_resnet.training.trainer import Run

PRETRAIN_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
ARMS = ("scratch", "head", "fine_tuned")
BATCH = 32
LEARNING_RATE = 0.05


def _arrays(source):
    """``(images uint8 (N, H, W, 3), labels (N,))`` of an in-memory source's train and test splits."""
    return [tuple(np.stack(column) for column in zip(*split.as_numpy_iterator())) for split in
            (source.train, source.test)]


def _subset(images, labels, classes):
    keep = np.isin(labels, classes)
    return images[keep], np.searchsorted(classes, labels[keep])


def k_shot_indices(labels, k, seed=0):
    """Indices of ``k`` images of every class of ``labels``: the first ``k`` of a seeded permutation per class, so
    that the images of a smaller ``k`` are among those of a larger one."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        if len(members) < k:
            raise ValueError(f"k = {k} images per class, but class {label} has {len(members)} training images.")
        chosen += members[:k].tolist()
    return np.sort(np.asarray(chosen))


def _train(config, source):
    with Run(config, source=source) as run:
        if run.finished is None:
            model = run.build_model()
            run.fit(model)
            run.finish(model)
        return run.finished


class _Task:
    """The pretrained network (on the digits 0-4, trained once under ``output_dir/pretrain``) and the k-shot training
    sets of the new task (the digits 5-9), shared by ``run_transfer`` and ``recipe_sweep``."""

    def __init__(self, output_dir, model, pretrain_epochs, seed, verbose):
        (self.x_train, self.y_train), (self.x_test, self.y_test) = _arrays(digits.load(seed=seed))
        self.common = {"model": model, "dataset": "digits", "seed": seed, "verbose": verbose}
        self.pretrain = _train(TrainConfig(epochs=pretrain_epochs, batch_size=64,
                                           output_dir=os.path.join(output_dir, "pretrain"), **self.common),
                               self.source("digits0-4", PRETRAIN_CLASSES))
        self.weights = os.path.join(output_dir, "pretrain", "model.keras")
        self.seed = seed

    def source(self, name, classes, train_indices=None):
        images, labels = _subset(self.x_train, self.y_train, classes)
        if train_indices is not None:
            images, labels = images[train_indices], labels[train_indices]
        return from_arrays(name, (images, labels), _subset(self.x_test, self.y_test, classes),
                           [digits.CLASS_NAMES[c] for c in classes], flip=False)

    def few_shot_sets(self, shots):
        """``(k, source, rate options)`` for every ``k`` in ``shots`` (see ``few``)."""
        return [(k, *self.few(k)) for k in _check_shots(shots)]

    def few(self, k):
        """The new task with ``k`` training images per class, and the batch and learning rate of its runs."""
        labels = _subset(self.x_train, self.y_train, TARGET_CLASSES)[1]
        few = self.source(f"digits5-9-k{k}", TARGET_CLASSES, k_shot_indices(labels, k, self.seed))
        batch = min(BATCH, few.num_train)
        # TrainConfig's learning rate is the one at the recipe's batch of 128 (scaled with the batch).
        return few, {"batch_size": batch, "learning_rate": LEARNING_RATE * 128 / batch}

    def fine_tune(self, few, rate, output_dir, head_epochs, epochs, full_lr_factor):
        return two_phase(TrainConfig(epochs=epochs, weights=self.weights, output_dir=output_dir, **rate,
                                     **self.common), head_epochs, full_lr_factor, source=few)


def _check_shots(shots):
    shots = [int(k) for k in shots]
    if not shots or min(shots) < 1:
        raise ValueError(f"shots must be positive numbers of images per class, got {shots}")
    return shots


def run_transfer(output_dir, shots=(1, 5, 10, 50), model="resnet8", pretrain_epochs=15, head_epochs=HEAD_EPOCHS,
                 epochs=FULL_EPOCHS, full_lr_factor=FULL_LR_FACTOR, seed=0, verbose=0):
    """Pretrains ``model`` on the digits 0-4, then compares fine-tuning and training from scratch on the digits 5-9
    with ``k`` images per class for every ``k`` in ``shots``.

    Runs go to ``output_dir/pretrain`` and ``output_dir/k<k>/{scratch,finetune/head,finetune/full}`` (a rerun reuses
    finished runs).

    Returns:
        dict: ``model``, ``pretrain_accuracy`` (digits 0-4 test), ``test_images`` (digits 5-9 test), ``epochs``, and
        ``rows``: per ``k`` the test accuracy of every arm (``scratch``, ``head``, ``fine_tuned``).
    """
    _check_shots(shots)  # before the pretraining
    task = _Task(output_dir, model, pretrain_epochs, seed, verbose)
    rows = []
    for k, few, rate in task.few_shot_sets(shots):
        folder = os.path.join(output_dir, f"k{k}")
        scratch = _train(TrainConfig(epochs=head_epochs + epochs, output_dir=os.path.join(folder, "scratch"),
                                     **rate, **task.common), few)
        tuned = task.fine_tune(few, rate, os.path.join(folder, "finetune"), head_epochs, epochs, full_lr_factor)
        rows.append({"k": k, "train_images": few.num_train, "scratch": scratch["test_accuracy"],
                     "head": tuned["head"]["test_accuracy"], "fine_tuned": tuned["full"]["test_accuracy"]})
    pretrain, y_test = task.pretrain, task.y_test
    return {"model": model, "pretrain_classes": list(PRETRAIN_CLASSES), "target_classes": list(TARGET_CLASSES),
            "pretrain_accuracy": pretrain["test_accuracy"], "test_images": int(np.isin(y_test, TARGET_CLASSES).sum()),
            "epochs": {"pretrain": pretrain_epochs, "head": head_epochs, "full": epochs,
                       "scratch": head_epochs + epochs}, "full_lr_factor": full_lr_factor, "rows": rows}


def recipe_sweep(output_dir, shots=(10, 50), head_epochs=(5, 15), full_lr_factors=(0.1, 0.3, 1.0),
                 full_epochs=(10, 30), model="resnet8", pretrain_epochs=15, seed=0, verbose=0):
    """Measures the two-phase fine-tuning recipe's settings on the transfer task of ``run_transfer`` (same
    pretrained network, same k-shot sets): every combination of phase 1's epochs, phase 2's learning-rate factor and
    phase 2's epochs, for every ``k`` in ``shots``. The recipe's defaults (``two_phase.HEAD_EPOCHS``,
    ``FULL_LR_FACTOR``, ``FULL_EPOCHS``) are the best mean over ``shots`` (``benchmarks/finetune_recipe.py``).

    Runs go to ``output_dir/pretrain`` and ``output_dir/sweep/k<k>-h<head>-f<factor>-e<epochs>/`` (reused on a rerun).

    Returns:
        dict: ``rows``, one per setting and ``k``: ``k``, ``head_epochs``, ``full_lr_factor``, ``full_epochs``,
        ``head`` and ``fine_tuned`` (test accuracy after phase 1 and phase 2); ``pretrain_accuracy``.
    """
    _check_shots(shots)
    task, rows = _Task(output_dir, model, pretrain_epochs, seed, verbose), []
    for k, few, rate in task.few_shot_sets(shots):
        for head, factor, epochs in itertools.product(head_epochs, full_lr_factors, full_epochs):
            folder = os.path.join(output_dir, "sweep", f"k{k}-h{head}-f{factor:g}-e{epochs}")
            tuned = task.fine_tune(few, rate, folder, head, epochs, factor)
            rows.append({"k": k, "head_epochs": head, "full_lr_factor": factor, "full_epochs": epochs,
                         "head": tuned["head"]["test_accuracy"], "fine_tuned": tuned["full"]["test_accuracy"]})
    return {"model": model, "pretrain_accuracy": task.pretrain["test_accuracy"], "rows": rows}


def best_setting(results):
    """The setting of a ``recipe_sweep`` with the best fine-tuned test accuracy averaged over its ``k``:
    ``{"head_epochs", "full_lr_factor", "full_epochs", "mean_accuracy"}`` (ties: the cheaper setting, fewer epochs)."""
    by_setting = {}
    for row in results["rows"]:
        key = (row["head_epochs"], row["full_lr_factor"], row["full_epochs"])
        by_setting.setdefault(key, []).append(row["fine_tuned"])
    means = {key: float(np.mean(values)) for key, values in by_setting.items()}
    head, factor, epochs = max(means, key=lambda key: (means[key], -(key[0] + key[2])))
    return {"head_epochs": head, "full_lr_factor": factor, "full_epochs": epochs,
            "mean_accuracy": means[(head, factor, epochs)]}
