"""Fault injection: a run killed (SIGKILL) again and again, at batches and in the middle of its saves, resumes to
the weights and history of an uninterrupted run, and no file in its folder is ever torn."""

import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import keras_resnet  # noqa: F401  (registers the custom layers for loading)

RUNNER = Path(__file__).resolve().parent / "fault_runner.py"
TRAIN = ["train", "--dataset", "digits", "--model", "resnet8", "--batch-size", "64", "--epochs", "3",
         "--steps-per-epoch", "4", "--deterministic", "--verbose", "0"]
KILLED = -9


def run(point, folder, argv=TRAIN):
    result = subprocess.run([sys.executable, str(RUNNER), point, "--", *argv, "--output-dir", str(folder)],
                            capture_output=True, text=True, timeout=300)
    return result


def assert_nothing_torn(folder):
    """Every file a run writes parses whole: JSON, CSV, .keras archives, .weights.h5 files."""
    for path in Path(folder).rglob("*"):
        if not path.is_file() or "logs" in path.parts or path.name.startswith(".tmp-") or path.name == ".lock":
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".csv":
            with open(path, newline="") as file:
                rows = list(csv.reader(file))
            assert rows and all(len(row) == len(rows[0]) for row in rows), f"torn {path}"
            assert sum(row == rows[0] for row in rows) == 1, f"two headers in {path}"
        elif path.suffix == ".keras":
            assert zipfile.is_zipfile(path), f"torn {path}"
            keras.saving.load_model(path, safe_mode=True)
        elif path.name.endswith(".weights.h5"):
            with h5py.File(path, "r"):
                pass


def weights(path):
    return [keras.ops.convert_to_numpy(w) for w in keras.saving.load_model(path, safe_mode=True).weights]


@pytest.mark.slow  # seven / three processes that train
def test_kills_at_batches_and_during_saves_resume_to_the_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    assert run("none", reference).returncode == 0
    folder = tmp_path / "killed"
    points = ["batch:6",                 # in epoch 2
              "replace:state.json:1",    # the backup of epoch 2 written, not yet committed
              "write:last.keras:1",      # half of a checkpoint written
              "replace:model.keras:1",   # the final save
              "replace:summary.json:1"]  # the model saved, the summary not yet
    for point in points:
        result = run(point, folder)
        assert result.returncode == KILLED, f"{point} did not kill the run: {result.stdout}{result.stderr}"
        assert_nothing_torn(folder)
        assert not (folder / "summary.json").exists()
    finished = run("none", folder)
    assert finished.returncode == 0, finished.stderr
    assert_nothing_torn(folder)
    assert not [path for path in folder.rglob(".tmp-*")], "temporary files left behind"
    for ours, theirs in zip(weights(folder / "model.keras"), weights(reference / "model.keras")):
        np.testing.assert_array_equal(ours, theirs)
    assert (folder / "history.csv").read_text() == (reference / "history.csv").read_text()
    before = (folder / "model.keras").read_bytes()
    rerun = run("none", folder)
    assert rerun.returncode == 0 and "test error" in rerun.stdout
    assert (folder / "model.keras").read_bytes() == before


@pytest.mark.slow
def test_many_random_kills(tmp_path):
    """Ten kills at random batches of a longer run, then the same weights as without them."""
    argv = [*TRAIN[:TRAIN.index("--epochs")], "--epochs", "6", *TRAIN[TRAIN.index("--epochs") + 2:]]
    reference = tmp_path / "reference"
    assert run("none", reference, argv).returncode == 0
    folder = tmp_path / "killed"
    for batch in np.random.default_rng(0).integers(1, 8, 10):
        result = run(f"batch:{batch}", folder, argv)
        assert_nothing_torn(folder)
        if result.returncode == 0:
            break
    assert run("none", folder, argv).returncode == 0
    for ours, theirs in zip(weights(folder / "model.keras"), weights(reference / "model.keras")):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.slow  # seven / three processes that train
def test_a_search_killed_in_its_trial_bookkeeping_resumes(tmp_path):
    """Killed while a trial writes its summary (the trial's result not yet with keras-tuner), then while the search
    writes its tables: the rerun completes every trial and leaves no torn file."""
    tune = ["tune", "--dataset", "digits", "--depths", "8", "--shortcut", "none", "A", "--epochs", "1",
            "--steps-per-epoch", "2", "--batch-size", "64", "--max-trials", "2"]
    for point in ("replace:summary.json:2", "replace:trials.csv:1"):
        result = run(point, tmp_path, tune)
        assert result.returncode == KILLED, f"{point} did not kill the search: {result.stderr[-2000:]}"
        assert_nothing_torn(tmp_path)
    assert run("none", tmp_path, tune).returncode == 0
    assert_nothing_torn(tmp_path)
    with open(tmp_path / "trials.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["shortcut"] for row in rows) == ["A", "none"]


@pytest.mark.slow  # three processes that train in float16 (slow on CPUs without XLA, which --deterministic excludes)
def test_a_killed_float16_run_resumes_with_its_loss_scale(tmp_path):
    """float16 trains through a LossScaleOptimizer: killed twice, the run resumes to the weights of an uninterrupted
    one, with the loss scale's state (scale, steps since it last changed) carried across the kills."""
    argv = [*TRAIN, "--precision", "float16"]
    assert run("none", tmp_path / "reference", argv).returncode == 0
    folder = tmp_path / "killed"
    for point in ("batch:6", "replace:state.json:1"):
        assert run(point, folder, argv).returncode == KILLED
    assert run("none", folder, argv).returncode == 0
    for ours, theirs in zip(weights(folder / "model.keras"), weights(tmp_path / "reference" / "model.keras")):
        np.testing.assert_array_equal(ours, theirs)
    states = []
    for run_folder in (folder, tmp_path / "reference"):
        optimizer = keras.saving.load_model(run_folder / "model.keras", safe_mode=True).optimizer
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        states.append({v.path: float(v.numpy()) for v in optimizer.variables if v.shape == ()})
    assert states[0] == states[1] and states[0]["loss_scale_optimizer/step_counter"] == 12  # 3 epochs of 4 steps
