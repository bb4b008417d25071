"""Depth searches with keras-tuner: how does accuracy change with depth, with and without shortcuts? ([He16] Fig. 6)

``ResNetHyperModel`` searches the architecture (CIFAR depth, plain vs residual and the shortcut option,
pre-activation, widening factor) and the optimisation (learning rate, weight decay, batch size); each dimension is
given by the user as a list of values (one value: fixed). Every trial is a run of the training recipe
(``keras_resnet.training.Run``: same data pipeline, schedule, callbacks, TensorBoard HParams, checkpoints) in its own
folder ``DIR/runs/<trial>``, so an interrupted trial resumes too. A trial's configuration is resolved once
(``training.plan.resolve``): ``build`` compiles its model from that plan without touching any folder, and ``fit``
opens the trial's run folder, once, to train it.

Distributed search: keras-tuner's chief/worker mode runs one oracle (the chief) and many workers, each with its own
trials: set ``KERASTUNER_TUNER_ID`` (``chief``, ``tuner0``, ``tuner1``, ...), ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` on every process and run the same ``keras-resnet tune`` command on each.
"""

import collections
import csv
import dataclasses
import hashlib
import io
import json
import os
import shutil

import keras_tuner as kt
import tensorflow as tf

from keras_resnet import data as data_lib
from keras_resnet.support import choices
from keras_resnet.support import files
from keras_resnet.analysis.figures import save_figure
from keras_resnet.models.architectures import cifar_layout
from keras_resnet.applications.registry import build, cifar_spec
from keras_resnet.models.spec import normalize_shortcut
from keras_resnet.models.stats import model_stats
from keras_resnet.training.plan import resolve
from keras_resnet.training.trainer import Run, compiled_model
from keras_resnet.support.validation import check_positive_int

TUNERS = dict(zip(choices.TUNERS, (kt.RandomSearch, kt.Hyperband, kt.BayesianOptimization)))
OBJECTIVE = kt.Objective("val_top1_error", direction="min")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The values each dimension may take; a dimension with one value is fixed.

    Attributes:
        depths: CIFAR depths (6n+2).
        shortcuts: ``"none"`` (the plain twin), ``"A"``, ``"B"``, ``"C"``.
        preact: ``False`` and/or ``True`` (pre-activation blocks, [He16b]).
        widths: widening factors.
        learning_rates, weight_decays, batch_sizes: optimisation settings (``None``: the paper's).
    """

    depths: tuple = (20,)
    shortcuts: tuple = ("A",)
    preact: tuple = (False,)
    widths: tuple = (1,)
    learning_rates: tuple = (None,)
    weight_decays: tuple = (1e-4,)
    batch_sizes: tuple = (None,)

    def __post_init__(self):
        for field in dataclasses.fields(self):
            values = getattr(self, field.name)
            if not values:
                raise ValueError(f"The search space is empty: give at least one value for {field.name}.")
        for depth in self.depths:
            cifar_layout(depth)  # "depth must be 6n+2 ..."
        object.__setattr__(self, "shortcuts", tuple(normalize_shortcut(s) for s in self.shortcuts))
        for what, values in (("widths", self.widths), ("batch_sizes", self.batch_sizes)):
            if any(v is not None and (not isinstance(v, int) or v < 1) for v in values):
                raise ValueError(f"{what} must be positive integers, got {list(values)}")
        for what, values in (("learning_rates", self.learning_rates), ("weight_decays", self.weight_decays)):
            if any(v is not None and v < 0 for v in values):
                raise ValueError(f"{what} must not be negative, got {list(values)}")

    @staticmethod
    def depth_range(low, high):
        """Every CIFAR depth 6n+2 in ``[low, high]``."""
        if low > high:
            raise ValueError(f"The depth range is empty: min depth {low} > max depth {high}.")
        depths = tuple(d for d in range(low, high + 1) if d >= 8 and (d - 2) % 6 == 0)
        if not depths:
            raise ValueError(f"No CIFAR depth 6n+2 lies in [{low}, {high}] (e.g. 8, 14, 20, 26, 32).")
        return depths


def _choice(hp, name, values):
    values = list(values)
    return hp.Fixed(name, values[0]) if len(values) == 1 else hp.Choice(name, values)


def model_name(depth, shortcut, preact):
    """Registry name of a searched network: ``plain20``, ``resnet20``, ``resnet20v2``."""
    return cifar_spec(depth, shortcut=shortcut, preact=preact).name


class ResNetHyperModel(kt.HyperModel):
    """A keras-tuner HyperModel over ``SearchSpace``; every trial trains with the recipe of ``base``.

    Args:
        space: the ``SearchSpace``.
        base: the ``TrainConfig`` of every trial (dataset, epochs, ...); the searched fields are overridden.
        output_dir: trials run in ``output_dir/runs/<trial>``.
        strategy: the tuner's ``tf.distribute`` strategy (default: the current one).
    """

    def __init__(self, space, base, output_dir, strategy=None):
        super().__init__(name="resnet")
        self.space, self.base, self.output_dir, self.strategy = space, base, output_dir, strategy
        self.source = data_lib.load(base.dataset, base.data_dir, base.download, base.manual_dir, base.image_size)
        self._executions = collections.Counter()
        self._plans = {}

    def trial_config(self, hp):
        """The ``TrainConfig`` of the trial with hyperparameters ``hp``."""
        space = self.space
        depth = _choice(hp, "depth", space.depths)
        shortcut = _choice(hp, "shortcut", space.shortcuts)
        preact = _choice(hp, "preact", space.preact)
        values = {"model": model_name(depth, shortcut, preact), "width": _choice(hp, "width", space.widths),
                  "shortcut": None if shortcut == "none" else shortcut,
                  "weight_decay": _choice(hp, "weight_decay", space.weight_decays)}
        if space.learning_rates != (None,):
            values["learning_rate"] = _choice(hp, "learning_rate", space.learning_rates)
        if space.batch_sizes != (None,):
            values["batch_size"] = _choice(hp, "batch_size", space.batch_sizes)
        return dataclasses.replace(self.base, **values)

    def _run(self, hp, epochs=None):
        config = self.trial_config(hp)
        if epochs is not None:
            config = dataclasses.replace(config, epochs=epochs)
        values = json.dumps(hp.values, sort_keys=True, default=str)
        # The epochs are part of the key: Hyperband trains the same values for several budgets, each its own run.
        key = f"{config.model}-{config.shortcut or 'plain'}-w{config.width}-e{config.epochs}-" + \
            hashlib.sha1(values.encode()).hexdigest()[:8]
        return key, dataclasses.replace(config, output_dir=os.path.join(self.output_dir, "runs", key))

    def plan(self, config):
        """The ``RunPlan`` of a trial's ``TrainConfig``, resolved once: ``build`` compiles the trial's model from it
        and ``fit`` trains that model with it in the trial's run folder (its output dir aside, the same config)."""
        key = json.dumps({**dataclasses.asdict(config), "output_dir": None}, sort_keys=True, default=str)
        if key not in self._plans:
            self._plans[key] = resolve(config, strategy=self.strategy or tf.distribute.get_strategy(),
                                       source=self.source)
        return self._plans[key]

    def build(self, hp):
        """The trial's compiled model; no run folder is opened (keras-tuner also builds to explore the space)."""
        _, config = self._run(hp)
        return compiled_model(self.plan(config))

    def fit(self, hp, model, *args, callbacks=(), epochs=None, initial_epoch=0, **kwargs):
        """One trial: the recipe's fit of ``model`` (the tuner's callbacks added); returns the History.

        Hyperband passes ``epochs`` and, for a trial that continues an earlier one whose weights it has loaded into
        ``model``, ``initial_epoch``.
        """
        key, config = self._run(hp, epochs)
        self._executions[key] += 1
        if self._executions[key] > 1:  # executions_per_trial > 1: each execution its own run
            config = dataclasses.replace(config, output_dir=f"{config.output_dir}-{self._executions[key]}")
        with Run(config, plan=self.plan(config)) as run:  # the trial's one opening of its run folder
            history = run.fit(model, extra_callbacks=callbacks, initial_epoch=initial_epoch)
            summary = run.finish(model)  # a run finished earlier: its weights go into model, nothing is written
        if history is None or not history.history:
            return {OBJECTIVE.name: summary["best_test_error"]}
        return history


def make_tuner(name, hypermodel, output_dir, max_trials=10, executions_per_trial=1, epochs=None, overwrite=False,
               strategy=None, seed=0):
    """The keras-tuner tuner ``name`` (``random``, ``hyperband``, ``bayesian``) over ``hypermodel``."""
    if name not in TUNERS:
        raise ValueError(f"Unknown tuner {name!r}: choose one of {', '.join(TUNERS)}.")
    check_positive_int(max_trials, "--max-trials")
    if overwrite:  # a fresh search: the trials' run folders go with the tuner's state
        shutil.rmtree(os.path.join(output_dir, "runs"), ignore_errors=True)
    common = {"objective": OBJECTIVE, "directory": output_dir, "project_name": "search", "overwrite": overwrite,
              "executions_per_trial": executions_per_trial, "distribution_strategy": strategy, "seed": seed}
    if name == "hyperband":  # its budget is set by max_epochs and its reduction factor, not by a trial count
        return kt.Hyperband(hypermodel, max_epochs=epochs or 10, **common)
    return TUNERS[name](hypermodel, max_trials=max_trials, **common)


def trial_rows(tuner, hypermodel):
    """One row per finished trial, best first: depth, shortcut, preact, width, params, FLOPs, val error, time."""
    rows = []
    for trial in tuner.oracle.trials.values():
        if trial.score is None:
            continue
        config = hypermodel.trial_config(trial.hyperparameters)
        depth = int(trial.hyperparameters.get("depth"))
        network = build(config.model, shortcut=config.shortcut or "none", width=config.width,
                        classes=hypermodel.source.num_classes, input_shape=hypermodel.source.image_shape)
        stats = model_stats(network)
        _, run_config = hypermodel._run(trial.hyperparameters)
        summary = files.read_json(os.path.join(run_config.output_dir, "summary.json"), {})
        rows.append({"trial": trial.trial_id, "model": config.model, "depth": depth,
                     "shortcut": trial.hyperparameters.get("shortcut"), "preact": config.model.endswith("v2"),
                     "width": config.width, "learning_rate": config.learning_rate,
                     "weight_decay": config.weight_decay, "batch_size": config.batch_size,
                     "params": stats["trainable_params"], "flops": stats["flops"], "val_error": trial.score,
                     "seconds": summary.get("train_seconds"),
                     "model_file": os.path.join(run_config.output_dir, "model.keras")})
    return sorted(rows, key=lambda row: row["val_error"])


def write_results(rows, output_dir):
    """``trials.csv`` and ``trials.json`` (one row per trial) and ``depth.png`` (error against depth)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files.write_text(os.path.join(output_dir, "trials.csv"), text.getvalue())
    files.write_json(os.path.join(output_dir, "trials.json"), rows)
    return plot_error_by_depth(rows, os.path.join(output_dir, "depth.png"))


def plot_error_by_depth(rows, path):
    """Validation error against depth, plain (dashed) vs residual (solid) per shortcut option; best per depth."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    for shortcut in sorted({row["shortcut"] for row in rows}):
        best = {}
        for row in rows:
            if row["shortcut"] == shortcut:
                best[row["depth"]] = min(best.get(row["depth"], 1.0), row["val_error"])
        depths = sorted(best)
        axes.plot(depths, [100 * best[d] for d in depths], "--o" if shortcut == "none" else "-o",
                  label="plain" if shortcut == "none" else f"residual ({shortcut})")
    axes.set(xlabel="depth (layers)", ylabel="validation error (%)", title="error against depth")
    axes.grid(alpha=0.3)
    axes.legend()
    return save_figure(figure, path)
