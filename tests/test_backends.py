"""The modelling code is backend-agnostic Keras 3: the same networks, with the same weights, under JAX, without
TensorFlow (the source-level check of every module's imports is tests/test_layering.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_resnet
from conftest import randomize_batchnorm

JAX_SCRIPT = """
import json, sys
import numpy as np
import keras, keras_resnet
assert keras.backend.backend() == "jax"
for case in json.loads(sys.argv[1]):  # one process for every case: starting JAX is the slow part
    model = keras_resnet.build(case["name"], weights=case["weights"], **case["options"])
    np.save(case["outputs"], keras.ops.convert_to_numpy(model(np.load(case["images"]), training=False)))
print("tensorflow imported:", "tensorflow" in sys.modules)  # before saving: keras' serializer imports it if installed
model.save(sys.argv[2])
keras.saving.load_model(sys.argv[2], safe_mode=True)
"""
CASES = [("resnet20", {}), ("resnet29v2", {"block": "bottleneck", "shortcut": "B"}),
         ("resnet18", {"input_shape": (64, 64, 3), "shortcut": "A"}),
         ("resnet20", {"shortcut_pad": "both", "bn_epsilon": 1e-5})]


@pytest.mark.slow  # starts JAX in a process of its own
def test_same_outputs_under_jax_without_tensorflow(tmp_path, rng):
    """Each case's weights, saved here, give the same outputs under JAX; importing keras_resnet, building the
    networks with their weights and running them there imports no TensorFlow."""
    pytest.importorskip("jax")
    cases, expected = [], []
    for index, (name, options) in enumerate(CASES):
        model = keras_resnet.build(name, **options)
        randomize_batchnorm(model, rng)
        paths = {key: str(tmp_path / f"{index}-{file}") for key, file in
                 [("weights", "w.weights.h5"), ("images", "x.npy"), ("outputs", "y.npy")]}
        model.save_weights(paths["weights"])
        images = rng.normal(size=(2, *model.input.shape[1:])).astype("float32")
        np.save(paths["images"], images)
        expected.append(np.asarray(model(images, training=False)))
        cases.append({"name": name, "options": options, **paths})
    run = subprocess.run([sys.executable, "-c", JAX_SCRIPT, json.dumps(cases), str(tmp_path / "m.keras")],
                         env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "tensorflow imported: False" in run.stdout.splitlines(), \
        "importing keras_resnet, building networks with their weights and running them under JAX imported TensorFlow"
    for case, outputs in zip(cases, expected):
        np.testing.assert_allclose(np.load(case["outputs"]), outputs, atol=1e-5, err_msg=str(case))
