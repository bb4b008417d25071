"""--deterministic: two processes train to bitwise-identical histories and weights at the paper's batch of 128.

Without it, TensorFlow runs independent ops concurrently and a residual network's gradient sums (two branches into
every block input) come out in arrival order; one inter-op thread fixes the order (see training.make_deterministic).
"""

import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_resnet  # noqa: F401  (registers the custom layers for loading)


def _train(folder, model):
    command = [sys.executable, "-m", "keras_resnet.cli", "train", "--dataset", "digits", "--model", model,
               "--epochs", "2", "--seed", "7", "--deterministic", "--verbose", "0", "--output-dir", str(folder)]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return folder


@pytest.mark.slow  # four trainings in processes of their own
@pytest.mark.parametrize("model", ["resnet20", "resnet56"])
def test_two_processes_give_identical_runs(model, tmp_path):
    first, second = _train(tmp_path / "a", model), _train(tmp_path / "b", model)
    assert (first / "history.csv").read_text() == (second / "history.csv").read_text()
    ours = keras.saving.load_model(first / "model.keras", safe_mode=True).weights
    theirs = keras.saving.load_model(second / "model.keras", safe_mode=True).weights
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
