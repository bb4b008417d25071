"""Every registered network, one generic test: built, run forward, saved and loaded with ``safe_mode=True``.

A network is tested by being registered (``keras_resnet.list_models()``). Each is built with a variable input size and
run at its smallest sensible size: CIFAR networks (10 classes) at 32x32, ImageNet networks (1000 classes) at 64x64.
The deepest ones are marked ``slow``.
"""

import keras
import numpy as np
import pytest

import keras_resnet
from conftest import randomize_batchnorm

# The networks of more than 100 layers: tested in the slow suite only (each takes from half a minute to several
# minutes to build, save and load on two cores); the default suite covers every block type, family and variant.
SLOW = {"plain110", "resnet110", "resnet110v2", "resnet164v2", "resnet1001v2", "plain1202", "resnet1202",
        "resnet1202v2", "plain101", "resnet101", "resnet101v2", "plain152", "resnet152", "resnet152v2", "plain200",
        "resnet200", "resnet200v2"}
SIZE = {10: 32, 1000: 64}  # classes -> input size: the CIFAR and the ImageNet families


def _params():
    return [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
            for name in keras_resnet.list_models()]


def test_the_slow_names_are_registered():
    assert SLOW <= set(keras_resnet.list_models())


@pytest.mark.parametrize("name", _params())
def test_registered_network_builds_runs_and_round_trips(name, tmp_path, rng):
    model = keras_resnet.build(name, input_shape=(None, None, 3))
    assert model.name == name
    size = SIZE[model.output.shape[-1]]
    randomize_batchnorm(model, rng)
    images = rng.uniform(0, 1, (2, size, size, 3)).astype("float32")
    outputs = keras.ops.convert_to_numpy(model(images, training=False))
    assert outputs.shape == (2, model.output.shape[-1])
    np.testing.assert_allclose(outputs.sum(axis=-1), 1.0, rtol=1e-5)  # softmax probabilities
    assert np.isfinite(outputs).all() and outputs.std() > 0

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert loaded.name == name and loaded.count_params() == model.count_params()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(images, training=False)), outputs)
