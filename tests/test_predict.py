"""``keras-resnet predict``: top-k classes of real photographs, from .keras files, SavedModels and registry names."""

import csv
import dataclasses
import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_resnet
from conftest import channels_first_twin, needs_channels_first
from datasets import write_sample_photos
from keras_resnet import data
from keras_resnet import cli
from keras_resnet.inference import model_file
from keras_resnet.inference import predict
from keras_resnet.models.contract import contract_of
from keras_resnet.training import build_model

CLASS_NAMES = [f"digit-{i}" for i in range(10)]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The two photographs that ship with scikit-learn as JPEGs, and a file that is not an image."""
    folder = tmp_path_factory.mktemp("photos")
    paths = write_sample_photos(str(folder))
    (folder / "notes.txt").write_text("not an image\n")
    return paths, str(folder / "notes.txt")


@pytest.fixture(scope="module")
def trained_like(tmp_path_factory):
    """A model as training writes it: mean subtraction in its first layer, its class names in its contract and in
    preprocessing.json beside it."""
    run = tmp_path_factory.mktemp("run")
    source = dataclasses.replace(data.load("digits"), class_names=CLASS_NAMES)
    model = build_model("resnet8", source)
    model.save(run / "model.keras")
    (run / "preprocessing.json").write_text(json.dumps({"mean": np.asarray(source.mean).tolist(),
                                                        "scale": 1 / 255, "image_size": 32,
                                                        "class_names": CLASS_NAMES, "dataset": "digits"}))
    return str(run / "model.keras")


def _expected_top(model, path, k=5):
    """The model's own top-k on the whole photograph resized to its 32x32 input."""
    image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
    resized = tf.round(tf.image.resize(image, (32, 32), antialias=True))  # a "resize" transform: 8-bit levels
    scores = np.asarray(model(resized[None], training=False))[0]
    order = np.argsort(-scores)[:k]
    return order, scores[order]


def test_two_photographs_and_a_text_file(photos, trained_like, capsys):
    images, text = photos
    assert cli.main(["predict", trained_like, *images, text]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(tuple(images))]
    assert len(rows) == 2
    assert all("digit-" in row for row in rows)  # names from preprocessing.json
    assert "Skipped 1 file that could not be read as an image" in out and f"  {text}: not a decodable image" in out


def test_json_and_csv_parse_and_match_the_model(photos, trained_like, capsys):
    images, text = photos
    assert cli.main(["predict", trained_like, *images, text, "--json", "--top-k", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [item["image"] for item in report["predictions"]] == images
    assert report["skipped"] == [{"image": text, "reason": report["skipped"][0]["reason"]}]
    model = keras.saving.load_model(trained_like, safe_mode=True)
    for item in report["predictions"]:
        order, scores = _expected_top(model, item["image"], 3)
        assert [p["class"] for p in item["predictions"]] == order.tolist()
        assert [p["name"] for p in item["predictions"]] == [CLASS_NAMES[i] for i in order]
        np.testing.assert_allclose([p["score"] for p in item["predictions"]], scores, rtol=1e-4)

    assert cli.main(["predict", trained_like, *images, "--csv", "--top-k", "3"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 6 and [row["rank"] for row in rows[:3]] == ["1", "2", "3"]
    assert [float(row["score"]) for row in rows[:3]] == pytest.approx(
        [p["score"] for p in report["predictions"][0]["predictions"]], rel=1e-6)

    # more classes asked for than the model has: all of them, and a note that says so (stderr: the JSON stays clean)
    assert cli.main(["predict", trained_like, images[0], "--json", "--top-k", "50"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["predictions"][0]["predictions"]) == len(CLASS_NAMES)
    assert captured.err == (f"keras-resnet predict: note: --top-k 50 is more than the model's {len(CLASS_NAMES)} "
                            f"classes: all {len(CLASS_NAMES)} are listed.\n")
    assert cli.main(["predict", trained_like, images[0], "--json", "--top-k", str(len(CLASS_NAMES))]) == 0
    assert capsys.readouterr().err == ""


def test_folders_batches_and_output_dir(photos, trained_like, tmp_path, capsys):
    images, _ = photos
    folder = str(tmp_path / "out")
    photo_folder = str(tmp_path.parent / images[0].split("/")[-2])
    assert cli.main(["predict", trained_like, photo_folder, "--batch-size", "1", "--output-dir", folder]) == 0
    captured = capsys.readouterr()
    assert "Ignored 1 file in the folders" in captured.out  # notes.txt is not an image by name
    assert "0/2" in captured.err  # the progress bar, on stderr (drawn at once, then every 0.1 s)
    written = json.loads(open(f"{folder}/predictions.json").read())
    assert sorted(item["image"] for item in written["predictions"]) == sorted(images)
    assert len(list(csv.DictReader(open(f"{folder}/predictions.csv")))) == 10

    # a second run into the same folder keeps the first one's reports, unless told to replace them
    before = {name: open(f"{folder}/{name}").read() for name in ("predictions.json", "predictions.csv")}
    assert cli.main(["predict", trained_like, images[0], "--output-dir", folder]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "predictions.json exists: pass --overwrite to replace it, or choose another " \
                                    "--output-dir" in err
    assert before == {name: open(f"{folder}/{name}").read() for name in before}
    assert cli.main(["predict", trained_like, images[0], "--output-dir", folder, "--overwrite"]) == 0
    capsys.readouterr()
    assert [item["image"] for item in json.loads(open(f"{folder}/predictions.json").read())["predictions"]] == [
        images[0]]

    classifier = predict.load_classifier(trained_like)
    one_batch, _ = predict.predict_files(classifier, sorted(images), batch_size=8)
    for batched, single in zip(one_batch, sorted(written["predictions"], key=lambda item: item["image"])):
        np.testing.assert_allclose([score for _, _, score in batched.top],
                                   [p["score"] for p in single["predictions"]], rtol=1e-4)


def test_registry_name_with_weights_file(photos, tmp_path, capsys):
    images, _ = photos
    model = keras_resnet.build("resnet8")
    weights = str(tmp_path / "resnet8.weights.h5")
    model.save_weights(weights)
    assert cli.main(["predict", "resnet8", "--weights", weights, images[0], "--json"]) == 0
    top = json.loads(capsys.readouterr().out)["predictions"][0]["predictions"]
    order, scores = _expected_top(model, images[0], k=10)
    np.testing.assert_allclose([p["score"] for p in top], scores[:5], rtol=1e-4, atol=1e-7)
    by_class = dict(zip(order.tolist(), scores))  # an untrained net ties many classes: compare scores, not order
    np.testing.assert_allclose([p["score"] for p in top], [by_class[p["class"]] for p in top], rtol=1e-4, atol=1e-7)

    assert cli.main(["predict", "resnet8", images[0]]) == 2
    assert "--weights imagenet" in capsys.readouterr().err


def test_saved_model_gives_the_keras_scores(photos, trained_like, tmp_path, capsys):
    from keras_resnet.export import export_saved_model

    export_saved_model(trained_like, str(tmp_path / "served"), top_k=10)
    images, _ = photos
    bitmap = str(tmp_path / "china.bmp")  # not a format predict_jpeg decodes: sent re-encoded as PNG
    Image.open(images[0]).save(bitmap)
    reports = []
    for model in (trained_like, str(tmp_path / "served")):
        assert cli.main(["predict", model, *images, bitmap, "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out)["predictions"])
    assert len(reports[1]) == 3
    for keras_item, served_item in zip(*reports):
        keras_top, served_top = keras_item["predictions"], served_item["predictions"]
        assert [p["class"] for p in served_top] == [p["class"] for p in keras_top]
        assert [p["name"] for p in served_top] == [p["name"] for p in keras_top]  # the labels exported with it
        np.testing.assert_allclose([p["score"] for p in served_top], [p["score"] for p in keras_top], atol=1e-5)
    assert cli.main(["predict", str(tmp_path / "served"), images[0], "--transform", "resize"]) == 2
    assert "A SavedModel applies the transform" in capsys.readouterr().err


def test_evaluation_transform_from_the_contract_or_the_command_line(tmp_path):
    resnet18 = keras_resnet.build("resnet18", input_shape=(64, 64, 3))
    assert contract_of(resnet18).transform == {"method": "center_crop", "resize": 73, "size": 64}
    assert contract_of(keras_resnet.build("resnet8")).transform["method"] == "resize"
    assert model_file.contract(resnet18, transform="resize").transform == {"method": "resize", "size": 64}
    # A file saved before contracts: the run's record beside it gives its view and names, once.
    old = keras.Model(resnet18.input, resnet18.output, name="resnet18")
    old.save(tmp_path / "model.keras")
    recorded = {"method": "resize", "size": 64}
    (tmp_path / "preprocessing.json").write_text(json.dumps({"eval_transform": recorded,
                                                             "class_names": [f"c{i}" for i in range(1000)]}))
    loaded = model_file.load_model(tmp_path / "model.keras")
    assert contract_of(loaded).transform == recorded and contract_of(loaded).class_names[1] == "c1"
    (tmp_path / "preprocessing.json").unlink()
    assert contract_of(loaded).transform == recorded  # derived once, attached to the model

    image = np.zeros((100, 300, 3), np.uint8)
    image[:, :100] = 255  # the left third lies outside the centre crop
    crop = np.asarray(predict.KerasClassifier(resnet18, ["a"] * 1000, contract_of(resnet18)).prepare(
        tf.constant(image)))
    assert crop.shape == (64, 64, 3) and crop.max() == 0
    resize = predict.KerasClassifier(resnet18, ["a"] * 1000, contract_of(resnet18).with_method("resize"))
    whole = np.asarray(resize.prepare(tf.constant(image)))
    assert whole.shape == (64, 64, 3) and whole[:, :16].min() > 250


def test_bad_input_is_one_clear_line(trained_like, photos, capsys):
    images, text = photos
    assert cli.main(["predict", trained_like, "missing.jpg"]) == 2
    assert "No such file or folder: 'missing.jpg'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["predict", trained_like, images[0], "--batch-size", "0"])
    assert "must be a positive integer, got 0" in capsys.readouterr().err
    assert cli.main(["predict", trained_like, images[0], "--output-dir", text]) == 2
    assert "is a file: pass a folder" in capsys.readouterr().err
    assert cli.main(["predict", trained_like, text]) == 2
    assert "None of the 1 files could be read as an image" in capsys.readouterr().err
    assert cli.main(["predict", "resnet8x", images[0]]) == 2
    assert "neither a model file" in capsys.readouterr().err


@needs_channels_first
def test_channels_first_model_gives_the_same_scores(photos, tmp_path):
    images, _ = photos
    model, transposed = channels_first_twin()
    tops = []
    for which, network in (("last", model), ("first", transposed)):
        network.save(tmp_path / f"{which}.keras")
        results, _ = predict.predict_files(predict.load_classifier(tmp_path / f"{which}.keras"), images, k=4)
        tops.append([sorted(score for _, _, score in result.top) for result in results])
    np.testing.assert_allclose(tops[0], tops[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("command, report, arguments", [
    ("predict", "predictions.json", ["photo.jpg"]), ("predict", "predictions.csv", ["photo.jpg"]),
    ("evaluate", "evaluation.json", ["--data-dir", "digits"])])
def test_a_folder_in_a_reports_place_is_refused_before_any_work(tmp_path, capsys, command, report, arguments):
    """A folder named like a report in --output-dir (overwrite or not): refused in one line at the check (the model
    is not even looked for); it was an IsADirectoryError traceback after the whole run."""
    (tmp_path / "out" / report).mkdir(parents=True)
    for overwrite in ([], ["--overwrite"]):
        assert cli.main([command, str(tmp_path / "missing.keras"), *arguments, "--output-dir", str(tmp_path / "out"),
                         *overwrite]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert f"{str(tmp_path / 'out' / report)!r} is a folder where a file is to be written: move it away" in err
