"""A training run's configuration resolved into one frozen value: ``resolve(config)`` -> ``RunPlan``.

A ``TrainConfig`` says what the user asked for, ``None`` meaning "the paper's"; the plan says what will run: the
paper's recipe for the dataset (``schedule.RECIPES``), the network's ``ArchSpec`` (with ``--weights``, that of the
weights), the distribution strategy and numeric precision, the data, the global batch fitted to the data and the
replicas, the steps, epochs, learning rate, schedule and warm-up, and the input normalisation of pretrained weights.
Everything a run folder records (``RunPlan.settings``) and everything the trainer builds and fits is read from it;
it opens no folder, so a search can build a trial's model from the plan before its run folder is opened.
"""

import dataclasses
import math
import warnings

import tensorflow as tf

from keras_resnet import data as data_lib
from keras_resnet.applications import registry
from keras_resnet.weights import records as weight_records
from keras_resnet.models.architectures import FAMILIES
from keras_resnet.training import distribute, finetune
from keras_resnet.training import precision as precision_lib
from keras_resnet.training.schedule import DATASET_RECIPE, RECIPES, scaled_learning_rate


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


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """One training run as it will run: a ``TrainConfig`` with every ``None`` ("the paper's") resolved.

    Attributes:
        config: the ``TrainConfig`` asked for.
        recipe: the paper's ``schedule.Recipe`` for the dataset.
        spec: the network's ``ArchSpec``.
        strategy, precision: the ``tf.distribute`` strategy and the ``precision.Precision`` to train under.
        source: the ``data.DataSource``.
        batch, steps, epochs: the global batch, steps per epoch and epochs.
        schedule, learning_rate, warmup: the learning-rate schedule, its (batch-scaled) base rate and warm-up.
        normalization: the input normalisation that pretrained weights keep (``finetune.normalization_of`` form),
            ``None`` for this data's mean.
    """

    config: object
    recipe: object
    spec: object
    strategy: object
    precision: object
    source: object
    batch: int
    steps: int
    epochs: int
    schedule: str
    learning_rate: float
    warmup: bool
    normalization: dict | None

    @property
    def settings(self):
        """What the run folder records in ``run.json`` (``run_folder.IDENTITY`` and ``TRAINING``)."""
        config, source = self.config, self.source
        return {"model": config.model.lower(), "spec": self.spec.to_config(), "dataset": source.name,
                "classes": list(source.class_names), "train_images": source.num_train, "files": source.files,
                "image_size": source.image_size, "global_batch_size": self.batch, "steps_per_epoch": self.steps,
                "learning_rate": self.learning_rate, "momentum": config.momentum,
                "weight_decay": config.weight_decay, "schedule": self.schedule, "warmup": bool(self.warmup),
                "sync_bn": config.sync_bn, "seed": config.seed, "replicas": self.strategy.num_replicas_in_sync,
                "precision": self.precision.policy, "jit_compile": self.precision.jit_compile,
                "weights": config.weights, "freeze": config.freeze}

    @property
    def hparams(self):
        """The TensorBoard HParams of the run: the spec's fields (``spec/...``) and the training settings."""
        settings = self.settings
        spec = {f"spec/{key}": str(value) if isinstance(value, list) else value
                for key, value in settings["spec"].items()}
        return {"model": settings["model"], "dataset": settings["dataset"], "batch_size": self.batch,
                "learning_rate": self.learning_rate, "epochs": self.epochs, "weight_decay": settings["weight_decay"],
                "schedule": self.schedule, "warmup": settings["warmup"], "sync_bn": settings["sync_bn"],
                "replicas": settings["replicas"], "precision": settings["precision"],
                "jit_compile": settings["jit_compile"], **spec}


def _fitted_batch(batch, source, replicas):
    """The global batch for ``source``: a batch larger than its training images (a tiny folder) becomes one batch
    of all of them, a multiple of the replicas."""
    if batch > source.num_train >= replicas:
        fitted = source.num_train // replicas * replicas
        print(f"The batch of {batch} is larger than the {source.num_train} training images of {source.name}: "
              f"training with batch {fitted}.", flush=True)
        return fitted
    return batch


def resolve(config, strategy=None, source=None):
    """The ``RunPlan`` of ``config`` (a ``TrainConfig``) on this machine: ``strategy`` and ``source`` default to
    ``config.strategy``'s and ``config.dataset``'s (a search passes its own).

    Makes TensorFlow deterministic with ``config.deterministic`` (the weights are seeded when the model is built:
    ``trainer.compiled_model``). Raises ``ValueError`` for bad names, options, data and weights, before anything is
    built or trained.
    """
    recipe = RECIPES[DATASET_RECIPE.get(config.dataset, "cifar")]
    if config.dataset not in DATASET_RECIPE:
        data_lib.load(config.dataset)  # raises the clear unknown-dataset error
    spec = run_spec(config)  # bad names, depths and options fail here
    if config.deterministic:
        make_deterministic()
    strategy = strategy or distribute.make_strategy(config.strategy)
    precision = precision_lib.resolve(config.precision, config.jit_compile, deterministic=config.deterministic)
    batch = distribute.global_batch_size(strategy, config.batch_size, config.batch_per_replica,
                                         default=recipe.batch_size)
    image_size = config.image_size or (FAMILIES[spec.family].input_size if config.dataset == "folder" else None)
    source = source or data_lib.load(config.dataset, config.data_dir, config.download, config.manual_dir, image_size,
                                     config.val_fraction, config.seed)
    if config.flip is not None:
        source.flip = config.flip
    if config.weights is not None:
        finetune.check_weights(config.weights, spec)
    # Pretrained features keep the input normalisation they were learned with (None: this data's mean).
    normalization = finetune.input_normalization(config.weights, spec, source.image_shape)
    batch = _fitted_batch(batch, source, strategy.num_replicas_in_sync)
    steps = data_lib.steps_per_epoch(source, batch)
    steps = min(steps, config.steps_per_epoch or steps)
    warmup = config.warmup if config.warmup is not None else (
        DATASET_RECIPE.get(config.dataset) == "cifar" and spec.family == "cifar"
        and spec.depth >= recipe.warmup_min_depth)
    return RunPlan(config=config, recipe=recipe, spec=spec, strategy=strategy, precision=precision, source=source,
                   batch=batch, steps=steps, epochs=config.epochs or math.ceil(recipe.iterations / steps),
                   schedule=config.schedule or recipe.schedule,
                   learning_rate=scaled_learning_rate(recipe, config.learning_rate or recipe.learning_rate, batch),
                   warmup=warmup, normalization=normalization)
