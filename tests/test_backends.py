"""The modelling code is backend-agnostic Keras 3: the same networks, with the same weights, under JAX, without
TensorFlow (the source-level check of every module's imports is tests/test_layering.py)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import keras_resnet
from conftest import randomize_batchnorm

JAX_SCRIPT = """
import sys
import numpy as np
import keras, keras_resnet
assert keras.backend.backend() == "jax"
name, options, weights, images = sys.argv[1], eval(sys.argv[2]), sys.argv[3], np.load(sys.argv[4])
model = keras_resnet.build(name, weights=weights, **options)
np.save(sys.argv[5], keras.ops.convert_to_numpy(model(images, training=False)))
print("tensorflow imported:", "tensorflow" in sys.modules)  # before saving: keras' serializer imports it if installed
model.save(sys.argv[6])
keras.saving.load_model(sys.argv[6], safe_mode=True)
"""


@pytest.mark.parametrize("name, options", [("resnet20", {}), ("resnet29v2", {"block": "bottleneck", "shortcut": "B"}),
                                           ("resnet18", {"input_shape": (64, 64, 3), "shortcut": "A"}),
                                           ("resnet20", {"shortcut_pad": "both", "bn_epsilon": 1e-5})])
def test_same_outputs_under_jax(name, options, tmp_path, rng):
    pytest.importorskip("jax")
    model = keras_resnet.build(name, **options)
    randomize_batchnorm(model, rng)
    model.save_weights(tmp_path / "w.weights.h5")
    images = rng.normal(size=(2, *model.input.shape[1:])).astype("float32")
    np.save(tmp_path / "x.npy", images)
    expected = np.asarray(model(images, training=False))
    run = subprocess.run([sys.executable, "-c", JAX_SCRIPT, name, repr(options), str(tmp_path / "w.weights.h5"),
                          str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), str(tmp_path / "m.keras")],
                         env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "tensorflow imported: False" in run.stdout.splitlines(), \
        f"importing keras_resnet, building {name} with its weights and running it under JAX imported TensorFlow"
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5)
