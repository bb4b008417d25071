"""``keras-resnet evaluate``: top-1/top-5 on tiny JPEG trees written by the tests, against hand computations."""

import json
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from datasets import write_jpeg_tree
from test_finetune import write_mixed_tree
from torch_files import cifar_reference_state

import keras_resnet
from keras_resnet.models import contract as contract_lib
from keras_resnet import cli
from keras_resnet.inference import evaluate as evaluation
from keras_resnet.applications.convert import convert
from keras_resnet.data import augment

CLASSES = [f"n{index:02d}" for index in range(10)]
TORCH_MEAN, TORCH_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def _files(root):
    """``(path, folder index)`` of every validation image, as the folders are sorted."""
    return [(str(path), label) for label, name in enumerate(CLASSES)
            for path in sorted((root / "val" / name).iterdir())]


def _top_k(scores, labels, k):
    """Share of images whose label is among the ``k`` best scores: rank = classes scoring strictly higher."""
    ranks = [(row > row[label]).sum() for row, label in zip(scores, labels)]
    return float(np.mean([rank < k for rank in ranks]))


def _printed(out):
    return {int(k): float(value) for k, value in re.findall(r"^top-(\d)\s+([\d.]+) %", out, re.MULTILINE)}


@pytest.fixture
def tree(tmp_path):
    return write_jpeg_tree(tmp_path / "images", classes=CLASSES, per_class=2, sizes=((32, 32), (44, 36)), seed=3)


def test_converted_weights_are_evaluated_with_their_records_transform(tree, tmp_path, rng, capsys):
    """A CIFAR reference checkpoint converted with its tag: images resized to 32x32, torchvision's normalisation."""
    model = convert(cifar_reference_state(20, rng), "resnet20", weights_tag="cifar10", classifier_activation=None)
    path = tmp_path / "resnet20-cifar10.keras"
    model.save(path)

    files = _files(tree)
    images = np.stack([tf.image.resize(tf.io.decode_jpeg(tf.io.read_file(p), channels=3), (32, 32)).numpy()
                       for p, _ in files])
    scores = np.asarray(model((images / 255.0 - TORCH_MEAN) / TORCH_STD, training=False))
    labels = [label for _, label in files]
    expected = {1: _top_k(scores, labels, 1), 5: _top_k(scores, labels, 5)}
    assert 0 < expected[1] < expected[5] < 1  # the numbers are not those of a model that ignores its inputs

    assert cli.main(["evaluate", str(path), "--data-dir", str(tree), "--batch-size", "7",
                     "--output-dir", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    assert _printed(out) == {k: round(100 * value, 2) for k, value in expected.items()}
    report = json.loads((tmp_path / "report" / "evaluation.json").read_text())
    assert report["accuracy"] == {f"top-{k}": value for k, value in expected.items()}
    assert report["claimed"] == {"top-1": pytest.approx(0.9173), "top-5": None} and report["weights"] == "cifar10"
    assert "(cifar10 weights) on 20 images" in out and "resized to 32x32, torch normalisation" in out
    assert re.search(r"^top-1\s+[\d.]+ %\s+91.73 %$", out, re.MULTILINE)  # beside the record's claim
    assert re.search(r"^top-5\s+[\d.]+ %\s+-\s*$", out, re.MULTILINE)  # the reference publishes no top-5

    report_file = tmp_path / "report" / "evaluation.json"
    report_file.write_text("{}")  # a report there already is kept, unless told to replace it
    assert cli.main(["evaluate", str(path), "--data-dir", str(tree), "--output-dir", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "evaluation.json exists: pass --overwrite to replace it" in err
    assert report_file.read_text() == "{}"
    assert cli.main(["evaluate", str(path), "--data-dir", str(tree), "--output-dir", str(tmp_path / "report"),
                     "--overwrite", "--quiet"]) == 0
    assert json.loads(report_file.read_text())["accuracy"] == report["accuracy"]


@pytest.mark.parametrize("ten_crop", [False, True])
def test_run_transform_ten_crop_and_class_names(tree, tmp_path, ten_crop):
    """A trained model with its run's contract: centre crop 32 of the shorter side at 40, classes matched by name."""
    model = keras_resnet.build("resnet8", classes=10, input_shape=(32, 32, 3), classifier_activation=None)
    run = tmp_path / "run"
    run.mkdir()
    names = CLASSES[::-1]  # the run's class order is not the folders' sorted order
    view = {"method": "center_crop", "resize": 40, "size": 32}
    model.contract = contract_lib.for_view(view, class_names=names)  # as training stores it
    model.save(run / "model.keras")
    (run / "preprocessing.json").write_text(json.dumps({"class_names": names, "eval_transform": view}))

    files = _files(tree)
    views = []
    for path, _ in files:  # the reference of the windowed views: resize the whole image, then crop
        resized = augment.resize_shorter_side(tf.io.decode_jpeg(tf.io.read_file(path), channels=3), 40)
        views.append(augment.ten_crops(resized, 32).numpy() if ten_crop else augment.center_crop(resized, 32).numpy())
    views = np.stack(views)
    scores = np.asarray(model(views.reshape(-1, 32, 32, 3), training=False))
    if ten_crop:
        scores = scores.reshape(len(files), 10, 10).mean(axis=1)
    labels = [names.index(CLASSES[label]) for _, label in files]

    loaded, _ = evaluation.load_model(run / "model.keras")
    result = evaluation.evaluate(loaded, evaluation.folder_images(tree), ten_crop=ten_crop, batch_size=3,
                                 progress=False)
    assert result.images == 20 and result.preprocessing == "none"
    assert result.accuracy == {1: _top_k(scores, labels, 1), 5: _top_k(scores, labels, 5)}


def test_registry_name_with_weights_file(tree, tmp_path, capsys):
    model = keras_resnet.build("resnet8", classes=10, input_shape=(32, 32, 3))
    model.save_weights(tmp_path / "resnet8.weights.h5")
    flat = tree / "val"  # a class-folder tree given directly
    assert cli.main(["evaluate", "resnet8", "--weights", str(tmp_path / "resnet8.weights.h5"),
                     "--data-dir", str(flat), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "resnet8 on 20 images" in out and set(_printed(out)) == {1, 5}


@pytest.mark.parametrize("arguments, message", [
    (["resnet20", "--data-dir", "{tree}"], "needs its weights: pass --weights cifar10"),
    (["resnet20", "--weights", "cifar10"], "Which images? Pass --data-dir"),
    (["resnt20", "--weights", "cifar10", "--data-dir", "{tree}"], "Unknown architecture 'resnt20'"),
    (["{model}", "--data-dir", "{tree}/missing"], "is not a folder"),
    (["{model}", "--data-dir", "{tree}/val/n00"], "No images in"),
    (["{model3}", "--data-dir", "{tree}"], "The images have 10 classes and the model 3"),
    (["{model}", "--weights", "cifar10", "--data-dir", "{tree}"], "carries its weights: leave out --weights"),
    (["{model}", "--tfds", "no_such_dataset_xyz", "--tfds-data-dir", "{tree}"], "not prepared in"),
    (["{tree}/val/n00/img0.keras", "--data-dir", "{tree}"], "Model file not found"),
    (["{exported}", "--data-dir", "{tree}"], "is a SavedModel folder: evaluate reads a Keras model"),
    (["{exported}/1", "--data-dir", "{tree}"], "is a SavedModel folder: evaluate reads a Keras model"),
    (["{tree}/val", "--data-dir", "{tree}"], "is a folder: evaluate reads a Keras model"),
])
def test_bad_input_is_one_line(tree, tmp_path, capsys, arguments, message):
    keras_resnet.build("resnet8", classes=10, input_shape=(32, 32, 3)).save(tmp_path / "m.keras")
    keras_resnet.build("resnet8", classes=3, input_shape=(32, 32, 3)).save(tmp_path / "m3.keras")
    (tmp_path / "exported" / "1").mkdir(parents=True)  # what predict reads as a SavedModel: refused here, by name
    (tmp_path / "exported" / "1" / "saved_model.pb").write_bytes(b"")
    values = {"tree": str(tree), "model": str(tmp_path / "m.keras"), "model3": str(tmp_path / "m3.keras"),
              "exported": str(tmp_path / "exported")}
    assert cli.main(["evaluate", *(arg.format(**values) for arg in arguments)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_unreadable_image_is_named(tree, tmp_path, capsys):
    keras_resnet.build("resnet8", classes=10, input_shape=(32, 32, 3)).save(tmp_path / "m.keras")
    (tree / "val" / "n03" / "broken.jpg").write_bytes(b"not an image")
    assert cli.main(["evaluate", str(tmp_path / "m.keras"), "--data-dir", str(tree), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "broken.jpg is not a JPEG, PNG, GIF or BMP image" in err and err.count("\n") == 1


def test_a_broken_link_is_named(tree, tmp_path, capsys):
    keras_resnet.build("resnet8", classes=10, input_shape=(32, 32, 3)).save(tmp_path / "m.keras")
    (tree / "val" / "n03" / "broken.jpg").symlink_to(tmp_path / "nonexistent.jpg")
    assert cli.main(["evaluate", str(tmp_path / "m.keras"), "--data-dir", str(tree), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "broken.jpg is a broken link" in err and err.count("\n") == 1


def test_a_runs_own_folder_is_scored_on_the_images_it_held_out(tmp_path, capsys):
    """A run that split its folder (no val/) records the split; evaluate on that folder scores the images it held
    out, as the run's own test did, of every format training reads (GIF, BMP). A run from before the record is
    split again from its run.json; once the folder's files changed, every image is scored, with a note."""
    pets = write_mixed_tree(tmp_path / "pets")  # 5 images a class: JPEG, PNG, BMP, GIF, JPEG
    run = tmp_path / "run"
    assert cli.main(["train", "--dataset", "folder", "--data-dir", pets, "--model", "resnet8", "--epochs", "1",
                     "--verbose", "0", "--output-dir", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    capsys.readouterr()
    evaluate = ["evaluate", str(run / "model.keras"), "--data-dir", pets, "--quiet"]
    assert cli.main([*evaluate, "--output-dir", str(tmp_path / "report")]) == 0
    captured = capsys.readouterr()
    assert f"on the 3 validation images that the run held out of {pets} (seed 0, --val-fraction 0.2" in captured.out
    assert _printed(captured.out)[1] == round(100 * summary["test_accuracy"], 2) and captured.err == ""
    assert json.loads((tmp_path / "report" / "evaluation.json").read_text())["images"] == 3

    record = json.loads((run / "preprocessing.json").read_text())
    assert record["split"]["seed"] == 0 and record["split"]["val_fraction"] == 0.2
    del record["split"]  # as runs wrote it before: run.json has the seed and the files' fingerprint
    (run / "preprocessing.json").write_text(json.dumps(record))
    assert cli.main(evaluate) == 0
    assert "on the 3 validation images that the run held out" in capsys.readouterr().out

    shutil.copy(tmp_path / "pets" / "dog" / "0.jpeg", tmp_path / "pets" / "dog" / "5.jpeg")  # the split changes
    assert cli.main(evaluate) == 0
    captured = capsys.readouterr()
    assert f"on 16 images of {pets} (3 classes)" in captured.out  # GIF and BMP too
    assert "does not hold the files that the model's run split" in captured.err and "training images" in captured.err
    assert "did not record its --val-fraction" in captured.err and captured.err.count("\n") == 1
