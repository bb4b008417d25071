"""The input pipeline benchmark measures what it says: its decode bound decodes exactly the windows that our training
pipeline decodes, and one run reports every pipeline for every kind of JPEG asked for."""

import importlib
import importlib.util
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_resnet.data import augment, imagenet

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


@pytest.fixture
def input_pipeline(monkeypatch):
    monkeypatch.syspath_prepend(BENCHMARKS)
    return importlib.import_module("input_pipeline")


def test_the_decode_bound_decodes_the_windows_that_training_decodes(input_pipeline, tmp_path):
    """Image ``position`` of epoch ``e`` in ``data.train_dataset`` (seed 0) is the file that ``index_shuffle`` puts
    there, augmented with the seed ``[e, position]``: its window is ``train_window`` of that seed's split. The bound
    must decode those windows of those files in that order, or it bounds some other work."""
    written, _ = input_pipeline.write_jpegs(str(tmp_path), 16, "photo", 90, classes=4)
    paths, labels, _ = imagenet.list_tree(str(tmp_path / "train"))
    batches = iter(input_pipeline.decode_bound(paths, labels, epochs=2, count=written))
    got = np.concatenate([next(batches)[0].numpy() for _ in range(2 * written // input_pipeline.BATCH)])

    expected = []
    for epoch in range(2):
        for position in range(written):
            index = tf.random.experimental.index_shuffle(position, [epoch, 0], written - 1)
            shape = tf.image.extract_jpeg_shape(tf.io.read_file(paths[int(index)]))[:2]
            seeds = tf.random.experimental.stateless_split(tf.constant([epoch, position], tf.int64), 4)
            window = augment.train_window(shape, seeds, input_pipeline.SIZE).numpy()
            expected.append([window[2], window[3], 3])
    np.testing.assert_array_equal(got, np.array(expected))
    assert len({tuple(side) for side in expected}) > 4  # the scale augmentation varies the windows


@pytest.mark.slow  # writes two JPEG trees and times ten pipelines
def test_one_run_reports_every_pipeline_for_every_kind_of_jpeg(input_pipeline, capsys):
    assert input_pipeline.main(["--images", "32", "--rounds", "1", "--batches", "2", "--cifar-batches", "2",
                                "--content", "photo", "noise", "--models"]) == 0
    table = capsys.readouterr().out
    for content in ("photo", "noise"):
        for pipeline in input_pipeline.PIPELINES.values():
            assert sum(line.startswith(content) and pipeline in line for line in table.splitlines()) == 1, table
    assert "CIFAR pipeline" in table


@pytest.mark.parametrize("argv, message", [
    (["--quality", "0"], "--quality must be in 1-100, got 0"),
    (["--images", "8"], "--images must be at least one batch (32), got 8"),
    (["--models", "resnet999"], "Unknown architecture 'resnet999'"),  # before anything is measured
])
def test_bad_arguments_are_refused_in_one_line(input_pipeline, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        input_pipeline.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.endswith("(see 'input_pipeline.py --help')\n") and err.count("\n") == 1, err


@pytest.fixture
def recipe(monkeypatch):
    monkeypatch.syspath_prepend(BENCHMARKS)
    return importlib.import_module("recipe")


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "1"], "--epochs must be at least 2 (the first epoch of every fit traces and is not timed), got 1"),
    (["--images", "600"], "--images must be at least 5 batches (640: a fifth of them is the test set), got 600"),
    (["--rounds", "0"], "argument --rounds"),
    (["--datasets", "mnist"], "argument --datasets"),
])
def test_recipe_benchmark_refuses_bad_arguments_in_one_line(recipe, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        recipe.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.endswith("(see 'recipe.py --help')\n") and err.count("\n") == 1, err


@pytest.mark.slow  # six models traced, two whole runs: about a minute on 2 cores
def test_a_tiny_recipe_benchmark_prints_every_row(recipe, capsys, tmp_path):
    assert recipe.main(["--images", "80", "--batch-size", "16", "--steps", "2", "--epochs", "2", "--rounds", "1",
                        "--work-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name in recipe.DATASETS.values():
        for kind in ("fit", "stream", "run"):
            assert sum(line.startswith(name) and recipe.LABELS[kind] in line for line in lines) == 1, out
        parts = [line for line in lines if line.startswith(name) and "%" in line]
        for part in ("steps", "validation", "Checkpoint last.keras", "RunBackup", "HistoryCSV"):
            assert any(part in line for line in parts), out
        torch_rows = sum(line.startswith(name) and recipe.LABELS["torch"] in line for line in lines)
        assert torch_rows == (importlib.util.find_spec("torch") is not None), out
    if importlib.util.find_spec("torch") is None:
        assert "no PyTorch row: torch is not installed" in out
    assert os.listdir(tmp_path) == []  # the runs' folders are removed
