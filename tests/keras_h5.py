"""Keras' legacy HDF5 weights format (``*.h5``, as keras.applications publishes its ImageNet weights), written with
h5py: the root attribute ``layer_names`` lists every layer in model order; one group per layer holds the attribute
``weight_names`` and one dataset per weight, trainable weights first (the order a layer's weights are loaded in)."""

import h5py
import keras
import numpy as np


def write_legacy_h5_weights(path, model):
    """Writes ``model``'s weights to ``path`` in the legacy format, named as Keras 2 named them
    (``conv1_conv/kernel:0``)."""
    with h5py.File(path, "w") as file:
        file.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        file.attrs["backend"] = b"tensorflow"
        file.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = file.create_group(layer.name)
            weights = layer.trainable_weights + layer.non_trainable_weights
            names = [f"{layer.name}/{weight.name}:0".encode() for weight in weights]
            group.attrs["weight_names"] = np.array(names, dtype="S") if names else np.zeros(0, dtype="S1")
            for name, weight in zip(names, weights):
                group.create_dataset(name.decode(), data=keras.ops.convert_to_numpy(weight))
    return path
