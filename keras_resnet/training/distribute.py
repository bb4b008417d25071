"""tf.distribute strategies for the recipes, and the global-batch rule.

``auto``: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` is set, else ``MirroredStrategy`` over every local GPU
(or every logical CPU device when there is no GPU), and on a machine with one device (one GPU, or the CPU unsplit)
TensorFlow's default strategy: what a plain ``model.fit`` runs under. A ``MirroredStrategy`` of one replica computes
the same steps with a distributed input iterator and per-replica reductions around them, for nothing.
"""

import inspect
import json
import os

import tensorflow as tf

from keras_resnet.support.choices import STRATEGIES

# The Keras versions whose TensorFlow trainer ``prepare_for_multi_worker`` patches as written (read in 3.10 to 3.15.1,
# run in 3.15.1); pyproject.toml requires the same. ``check_multi_worker_keras`` checks the parts the patch relies on.
PATCHED_KERAS = ">=3.10,<3.16"


def make_strategy(name="auto"):
    """The ``tf.distribute.Strategy`` called ``name`` (one of ``STRATEGIES``)."""
    if name not in STRATEGIES:
        raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "auto" and os.environ.get("TF_CONFIG"):
        name = "multiworker"
    if name == "multiworker":
        check_multi_worker_keras()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    devices = [device.name for device in tf.config.list_logical_devices("GPU")]
    devices = devices or [device.name for device in tf.config.list_logical_devices("CPU")]
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(devices[0])
    if name == "auto" and len(devices) == 1:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(devices)


def global_batch_size(strategy, batch_size=None, batch_per_replica=None, default=128):
    """The global batch: ``batch_per_replica * replicas`` if given, else ``batch_size`` (default the paper's).

    The global batch is split evenly over the replicas, so it must be a multiple of their number.
    """
    replicas = strategy.num_replicas_in_sync
    if batch_size is not None and batch_per_replica is not None:
        raise ValueError("Pass either --batch-size (global) or --batch-per-replica, not both.")
    batch = batch_per_replica * replicas if batch_per_replica else (batch_size or default)
    if batch < 1 or batch % replicas:
        raise ValueError(f"--batch-size {batch} is the global batch and must be a positive multiple of the "
                         f"{replicas} replicas: use {max(replicas, batch // replicas * replicas)} or pass "
                         "--batch-per-replica N (global batch = N x replicas).")
    return batch


def is_chief():
    """Whether this process writes the run's files (always, except non-chief workers under ``TF_CONFIG``)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    if not task:
        return True
    has_chief = "chief" in config.get("cluster", {})
    return task.get("type") == "chief" or (not has_chief and task.get("type") == "worker"
                                           and task.get("index", 0) == 0)


def worker_name():
    """``"chief"`` or ``"worker-<index>"`` from ``TF_CONFIG``."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return "chief" if is_chief() else f"{task.get('type', 'worker')}-{task.get('index', 0)}"


def _trainer_change():
    """What differs in Keras' TensorFlow trainer from what ``prepare_for_multi_worker`` patches, or ``None``."""
    try:
        from keras.src.backend.tensorflow import trainer as keras_trainer
    except ImportError:
        return "keras.src.backend.tensorflow.trainer is gone"
    reduce = getattr(keras_trainer, "reduce_per_replica", None)
    trainer = getattr(keras_trainer, "TensorFlowTrainer", None)
    for name, function, expected in (
            ("reduce_per_replica", getattr(reduce, "keras_original", reduce), ["values", "strategy", "reduction"]),
            ("TensorFlowTrainer._maybe_symbolic_build", getattr(trainer, "_maybe_symbolic_build", None),
             ["self", "iterator", "data_batch"])):
        if not callable(function):
            return f"{name} is gone"
        found = list(inspect.signature(function).parameters)
        if found != expected:
            return f"{name} takes ({', '.join(found)}), not ({', '.join(expected)})"
    build = getattr(trainer, "_symbolic_build", None)
    if not callable(build) or "data_batch" not in inspect.signature(build).parameters:
        return "TensorFlowTrainer._symbolic_build takes no data_batch"
    return None


def check_multi_worker_keras():
    """Refuses, in one line, a Keras whose TensorFlow trainer is not what ``prepare_for_multi_worker`` patches: the
    module ``keras.src.backend.tensorflow.trainer`` with ``reduce_per_replica(values, strategy, reduction)``, and
    ``TensorFlowTrainer._maybe_symbolic_build(iterator, data_batch)`` over ``_symbolic_build(data_batch=...)``."""
    import keras

    changed = _trainer_change()
    if changed:
        raise ValueError(f"Multi-worker training patches Keras' TensorFlow trainer (keras-team/keras#20585) and is "
                         f"tested with keras{PATCHED_KERAS}, but in Keras {keras.version()} {changed}: install "
                         f"'keras{PATCHED_KERAS}', or train on one machine (--strategy mirrored).")


def prepare_for_multi_worker(model, strategy):
    """Lets ``model.fit`` run under ``MultiWorkerMirroredStrategy`` with Keras 3 (keras-team/keras#20585).

    Two steps of Keras 3's TensorFlow trainer fail under collective all-reduce, and only there:

    - before training it builds the model from one batch that it first averages over replicas with
      ``strategy.reduce`` on the whole ``(images, labels)`` structure, which collective all-reduce cannot reduce;
      only the batch's shapes matter, so this model builds from the first local replica's batch;
    - it averages each step's scalar logs (loss, metrics) over replicas with ``axis=0``, which a scalar has not;
      scalars are averaged with ``axis=None`` here, everything else goes through Keras unchanged.

    Other strategies are left alone. Returns ``model``. Raises ``ValueError`` for a Keras whose trainer differs
    (``check_multi_worker_keras``).
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model
    check_multi_worker_keras()
    from keras.src.backend.tensorflow import trainer as keras_trainer

    def first_replica(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for *_, batches in iterator:  # (step, batches) up to Keras 3.10, (first, last step, batches) since
                data_batch = tf.nest.map_structure(first_replica, next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = symbolic_build
    keras_reduce = getattr(keras_trainer.reduce_per_replica, "keras_original", keras_trainer.reduce_per_replica)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tf.nest.map_structure(
                lambda value: strategy.reduce("MEAN", value, axis=None) if first_replica(value).shape.rank == 0
                else keras_reduce(value, strategy, reduction), values)
        return keras_reduce(values, strategy, reduction)

    reduce_per_replica.keras_original = keras_reduce
    keras_trainer.reduce_per_replica = reduce_per_replica
    return model
