"""A short digits run in a fresh process: ``python distributed_worker.py LOGICAL_CPUS OUTPUT_DIR BATCH [--sync-bn]``.

TensorFlow's devices are fixed at start-up, so replica counts are set here, before anything else runs. Under
``TF_CONFIG`` the run is one worker of a MultiWorkerMirroredStrategy cluster; otherwise it runs under
MirroredStrategy even on one device (``--strategy auto`` would take TensorFlow's default strategy there), so that one
replica and two are compared through the same machinery.
"""

import os
import sys

import tensorflow as tf

if __name__ == "__main__":
    cpus, output_dir, batch = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                               [tf.config.LogicalDeviceConfiguration()] * cpus)
    from keras_resnet.training import TrainConfig, train

    summary = train(TrainConfig(model="resnet8", dataset="digits", epochs=3, steps_per_epoch=4, batch_size=batch,
                                sync_bn="--sync-bn" in sys.argv, output_dir=output_dir, verbose=0,
                                deterministic=True, strategy="auto" if os.environ.get("TF_CONFIG") else "mirrored"))
    print("replicas", summary["replicas"])
