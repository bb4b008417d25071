"""tf.distribute strategies for the recipes, and the global-batch rule.

``auto``: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` is set, else ``MirroredStrategy`` over every local GPU
(or every logical CPU device when there is no GPU: one, unless configured otherwise).
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "mirrored", "multiworker", "tpu", "one_device")


def make_strategy(name="auto"):
    """The ``tf.distribute.Strategy`` called ``name`` (one of ``STRATEGIES``)."""
    if name not in STRATEGIES:
        raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "auto":
        name = "multiworker" if os.environ.get("TF_CONFIG") else "mirrored"
    if name == "multiworker":
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
