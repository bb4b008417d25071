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


BENCHMARK_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import throughput_jax as bench  # sets KERAS_BACKEND=jax itself
import keras, keras_resnet
results = {}
for precision in ("float32", "bfloat16"):
    model = bench.build(lambda: keras_resnet.build("resnet8", input_shape=(16, 16, 3), classes=4), precision)
    stepper = bench.Stepper(model, batch_size=16)
    moving = [np.array(v, dtype="float32") for v in stepper.state[1]]
    losses = [float(stepper.train()) for _ in range(40)]
    changed = max(float(np.abs(np.array(a, dtype="float32") - b).max()) for a, b in zip(stepper.state[1], moving))
    predictions = np.argmax(np.asarray(stepper.infer(), dtype="float32"), axis=-1)
    results[precision] = {"first": losses[0], "last": losses[-1], "moving_changed": changed,
                          "compute_dtype": model.layers[2].compute_dtype,
                          "train_accuracy": float(np.mean(predictions == np.asarray(stepper.y)))}
results["tensorflow imported"] = "tensorflow" in sys.modules
print(json.dumps(results))
"""


@pytest.mark.slow  # starts JAX in a process of its own
def test_the_jax_benchmark_steps_are_real_training_steps():
    """``benchmarks/throughput_jax.py`` times jit-compiled steps under JAX without TensorFlow; they must train: on its
    fixed random batch the loss falls to memorisation, batch-norm statistics move, and the bfloat16 policy computes
    in bfloat16, otherwise its images/s would time something other than training."""
    pytest.importorskip("jax")
    benchmarks = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
    run = subprocess.run([sys.executable, "-c", BENCHMARK_SCRIPT, benchmarks],
                         env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert results.pop("tensorflow imported") is False
    for precision, result in results.items():
        assert result["last"] < 0.5 * result["first"], (precision, result)
        assert result["moving_changed"] > 1e-3, (precision, result)
        assert result["train_accuracy"] >= 0.9, (precision, result)
    assert results["float32"]["compute_dtype"] == "float32"
    assert results["bfloat16"]["compute_dtype"] == "bfloat16"
