"""keras-tuner depth searches: trials are what they claim, searches resume, results are written, bad spaces fail."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest
from PIL import Image

from keras_resnet import cli
from keras_resnet.analysis.tuning import SearchSpace

QUICK = ["--dataset", "digits", "--depths", "8", "14", "20", "--shortcut", "none", "A", "--epochs", "1",
         "--steps-per-epoch", "2", "--batch-size", "64"]


def _rows(folder):
    with open(folder / "trials.csv") as file:
        return list(csv.DictReader(file))


@pytest.mark.slow  # trains several trials
def test_search_over_depth_and_shortcuts(tmp_path, capsys):
    assert cli.main(["tune", *QUICK, "--max-trials", "4", "--output-dir", str(tmp_path)]) == 0
    rows = _rows(tmp_path)
    assert len(rows) == 4 and len(json.loads((tmp_path / "trials.json").read_text())) == 4
    assert [float(r["val_error"]) for r in rows] == sorted(float(r["val_error"]) for r in rows)
    for row in rows:
        model = keras.saving.load_model(row["model_file"], safe_mode=True)
        convs = [layer for layer in model.layers
                 if isinstance(layer, keras.layers.Conv2D) and not layer.name.endswith("_0_conv")]
        assert len(convs) + 1 == int(row["depth"])  # weighted layers: 3x3 convs + the classifier
        trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
        assert trainable == int(row["params"])
        assert row["model"].startswith("plain" if row["shortcut"] == "none" else "resnet")
    assert Image.open(tmp_path / "depth.png").size == (600, 400)
    out = capsys.readouterr().out
    assert "Best:" in out and "val error" in out


def _trial_status(folder, trial):
    path = folder / "search" / f"trial_{trial}" / "trial.json"
    return json.loads(path.read_text())["status"] if path.exists() else None


@pytest.mark.slow  # trains several trials
def test_killed_search_resumes_at_the_next_trial(tmp_path):
    command = [sys.executable, "-m", "keras_resnet.cli", "tune", *QUICK, "--max-trials", "3",
               "--output-dir", str(tmp_path)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and _trial_status(tmp_path, 0) != "COMPLETED":
        time.sleep(0.05)
    assert process.poll() is None, "the search ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = {path: path.stat().st_mtime for path in (tmp_path / "runs").glob("*/summary.json")}
    assert finished, "the first trial should have finished"
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(_rows(tmp_path)) == 3
    assert all(_trial_status(tmp_path, trial) == "COMPLETED" for trial in range(3))
    for path, mtime in finished.items():
        assert path.stat().st_mtime == mtime  # finished trials were not trained again


@pytest.mark.parametrize("argv, message", [
    (["--depths", "8", "21"], r"depth must be 6n\+2 for CIFAR ResNets with basic blocks, got 21"),
    (["--depth-range", "30", "20"], r"min depth 30 > max depth 20"),
    (["--depth-range", "9", "13"], r"No CIFAR depth 6n\+2 lies in \[9, 13\]"),
    (["--shortcut", "D"], r"shortcut must be 'A', 'B' or 'C'"),
    (["--tuner", "grid"], r"invalid choice: 'grid' \(choose from '?random'?, '?hyperband'?, '?bayesian'?\)"),
    (["--max-trials", "0"], r"--max-trials must be a positive integer"),
])
def test_bad_search_space_fails_before_training(argv, message, tmp_path, capsys):
    try:
        code = cli.main(["tune", "--dataset", "digits", *argv, "--output-dir", str(tmp_path)])
    except SystemExit as exit:  # argparse refuses a value outside the choices
        code = exit.code
    assert code == 2
    assert __import__("re").search(message, capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


def test_empty_dimension():
    with pytest.raises(ValueError, match="The search space is empty: give at least one value for depths"):
        SearchSpace(depths=())
    assert SearchSpace.depth_range(8, 26) == (8, 14, 20, 26)


@pytest.mark.slow  # several rounds of trials; searching and resuming stay in the default suite
def test_hyperband_continues_promising_trials(tmp_path, capsys):
    argv = ["--dataset", "digits", "--depths", "8", "14", "--shortcut", "none", "A", "--tuner", "hyperband",
            "--epochs", "3", "--steps-per-epoch", "2", "--output-dir", str(tmp_path)]
    assert cli.main(["tune", *argv]) == 0
    out = capsys.readouterr().out
    assert "resuming after epoch 1" in out  # a second-round trial starts from its first-round weights
    assert len(_rows(tmp_path)) >= 4
