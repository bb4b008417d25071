"""Every registered network, one generic test: built, run forward, saved and loaded with ``safe_mode=True``.

A network is tested by being registered (``keras_resnet.list_models()``). Each is built at its smallest sensible size
(CIFAR networks at 32x32, ImageNet networks at 64x64) and carries its registered ``ArchSpec`` through the round trip.
One network of each kind runs in the default suite, the others are marked ``slow``.
"""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.applications import registry
from conftest import randomize_batchnorm

# The default suite builds one network of each kind (CIFAR basic, ImageNet basic and bottleneck; plain, residual,
# pre-activation) at its smallest depth; every other registered name, a new one too, in the slow suite (CI's slow step).
DEFAULT = {"plain20", "resnet20", "resnet20v2", "plain18", "resnet18", "resnet18v2", "plain50", "resnet50",
           "resnet50v2"}
SIZE = {"cifar": 32, "imagenet": 64}


def _params():
    return [name if name in DEFAULT else pytest.param(name, marks=pytest.mark.slow)
            for name in keras_resnet.list_models()]


def test_the_default_names_are_registered():
    assert DEFAULT <= set(keras_resnet.list_models())


@pytest.mark.parametrize("name", _params())
def test_registered_network_builds_runs_and_round_trips(name, tmp_path, rng):
    spec = registry.spec(name)
    size = SIZE[spec.family]
    model = keras_resnet.build(name, input_shape=(size, size, 3))
    assert model.name == name and model.spec == spec
    # Residual nets: each BN of a branch divides by sqrt(blocks), so hundreds of blocks stay finite (as trained
    # statistics keep them); plain nets keep unit-scale statistics, which preserve their activations' scale.
    residual_blocks = sum(spec.blocks) if spec.shortcut != "none" else 1
    randomize_batchnorm(model, rng, variance_scale=residual_blocks)
    images = rng.uniform(0, 1, (2, size, size, 3)).astype("float32")
    outputs = keras.ops.convert_to_numpy(model(images, training=False))
    assert outputs.shape == (2, model.output.shape[-1])
    np.testing.assert_allclose(outputs.sum(axis=-1), 1.0, rtol=1e-5)  # softmax probabilities
    assert np.isfinite(outputs).all() and outputs.std() > 0

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert loaded.name == name and loaded.spec == spec and loaded.count_params() == model.count_params()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(images, training=False)), outputs)
