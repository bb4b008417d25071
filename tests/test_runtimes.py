"""Exported models in their own runtimes (``export/runtimes.py``) and ``keras-resnet predict`` on them.

Two train-free models, each saved as ``.keras`` and exported to ONNX, OpenVINO, TFLite (float32) and a SavedModel:
a digits-sized model fed through a ``resize`` view (rounded to 8-bit pixels on both
sides: the runtimes see exactly the pixels Keras sees), and a model with ``torch`` normalisation (inside the
exported graphs) fed through a ``center_crop`` view (unrounded for Keras, rounded to uint8 for ONNX/OpenVINO).
"""

import dataclasses
import importlib.util
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

import keras_resnet
from conftest import randomize_batchnorm
from datasets import write_sample_photos
from keras_resnet import data
from keras_resnet import cli
from keras_resnet.inference import model_file
from keras_resnet.models.contract import contract_of
from keras_resnet.export import export_saved_model, export_tflite, portable, runtimes
from keras_resnet.training import build_model

CLASS_NAMES = [f"digit-{i}" for i in range(10)]
RUNTIME_MODULES = {"onnx": "onnxruntime", "openvino": "openvino"}
KINDS = ("onnx", "openvino", "tflite", "saved_model")


def export_all(model_path, folder):
    """The ``.keras`` model at ``model_path`` exported into ``folder`` as each of ``KINDS`` whose runtime is
    installed, each ONNX/OpenVINO/TFLite file with its card: ``{kind: path}``."""
    model = model_file.load_model(model_path)
    found, names = contract_of(model), model_file.class_names(model)
    paths = {}
    served = portable.serving_model(model, found)
    for kind, suffix in (("onnx", ".onnx"), ("openvino", ".xml")):
        if importlib.util.find_spec(RUNTIME_MODULES[kind]) is not None:
            paths[kind] = str(folder / f"model{suffix}")
            served.export(paths[kind], format=kind, verbose=False)
            portable.write_card(paths[kind], kind, found, names, model_path)
    report = export_tflite(model_path, str(folder / "tflite"), variants=["float32"], eval_images=2, repeats=1)
    paths["tflite"] = report["variants"]["float32"]["path"]
    portable.write_card(paths["tflite"], "tflite", found, names, model_path, input_dtype="float32",
                        outputs=["probabilities"])
    paths["saved_model"] = str(folder / "served")
    export_saved_model(model_path, paths["saved_model"], top_k=5)
    return paths


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    return write_sample_photos(str(tmp_path_factory.mktemp("photos")))[0]


@pytest.fixture(scope="module")
def resize_model(tmp_path_factory):
    """A digits-sized model (32x32, 10 classes) with ``tf`` normalisation, fed through a ``resize`` view."""
    folder = tmp_path_factory.mktemp("resize")
    model = keras_resnet.build("resnet8", classes=10, input_shape=(32, 32, 3))
    randomize_batchnorm(model, np.random.default_rng(1))
    model.contract = contract_of(model).with_normalization("tf").replace(class_names=tuple(CLASS_NAMES))
    model.save(folder / "model.keras")
    return str(folder / "model.keras"), export_all(str(folder / "model.keras"), folder)


@pytest.fixture(scope="module")
def crop_model(tmp_path_factory):
    """A model with ``torch`` normalisation outside it (so inside the exported graphs) and a ``center_crop`` view."""
    folder = tmp_path_factory.mktemp("crop")
    model = keras_resnet.build("resnet8", classes=10, input_shape=(32, 32, 3))
    randomize_batchnorm(model, np.random.default_rng(2))
    model.contract = contract_of(model).with_normalization("torch").with_method("center_crop").replace(
        class_names=tuple(CLASS_NAMES))
    model.save(folder / "model.keras")
    return str(folder / "model.keras"), export_all(str(folder / "model.keras"), folder)


def _open(paths, kind):
    if kind not in paths:
        pytest.skip(f"{RUNTIME_MODULES[kind]} is not installed: pip install -e '.[{kind}]'")
    return runtimes.open_artifact(paths[kind])


def _keras_probabilities(model_path, views):
    """The Keras model's probabilities on float32 ``views`` ``(N, H, W, 3)`` through its contract."""
    model = model_file.load_model(model_path)
    return np.asarray(model(contract_of(model).preprocess_input(views), training=False))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("which", ["resize_model", "crop_model"])
def test_each_runner_computes_the_keras_probabilities(which, kind, photo, request):
    model_path, paths = request.getfixturevalue(which)
    runner = _open(paths, kind)
    assert runner.kind == kind and runner.class_names == CLASS_NAMES
    image = tf.io.decode_jpeg(tf.io.read_file(photo), channels=3).numpy()
    mirrored = image[:, ::-1]  # a second, different image: a batch of two
    view = np.stack([np.asarray(data.apply_eval_transform(x, contract_of(model_file.load_model(model_path))
                                                          .transform)) for x in (image, mirrored)])
    batch = np.stack([runner.prepare(image), runner.prepare(mirrored)])
    if kind == "saved_model":  # any size in, the view inside its graph
        assert runner.input_size is None and batch.shape == (2, *image.shape)
    else:
        assert batch.dtype == runner.input_dtype and batch.shape == (2, 32, 32, 3)
        np.testing.assert_allclose(batch, view, atol=0.5)  # the card's view; uint8 inputs: rounded
        view = batch.astype("float32")  # what the runtime was given, through the Keras model's contract
    probabilities = runner(batch)
    assert probabilities.dtype == np.float32 and probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities, _keras_probabilities(model_path, view), atol=1e-5)
    assert not np.allclose(probabilities[0], probabilities[1], atol=1e-3)  # the images were told apart
    assert runner(batch[:1]).shape == (1, 10) and runner(batch).shape == (2, 10)  # the batch size changes
    assert runner.latency(batch[0], repeats=2) > 0


@pytest.mark.parametrize("kind", KINDS)
def test_prepare_takes_grey_and_rgba_images_as_rgb(kind, crop_model, photo):
    """Every runner's ``prepare`` (the exported files' as the SavedModel's) reads a grey image as its three equal
    channels and drops an alpha channel, as predict's decoder does; other shapes are refused in one line."""
    runner = _open(crop_model[1], kind)
    rgb = tf.io.decode_jpeg(tf.io.read_file(photo), channels=3).numpy()
    grey = rgb[..., 1]
    alpha = np.concatenate([rgb, np.full_like(rgb[..., :1], 7)], axis=-1)
    np.testing.assert_array_equal(runner.prepare(grey), runner.prepare(np.repeat(grey[..., None], 3, axis=-1)))
    np.testing.assert_array_equal(runner.prepare(grey[..., None]), runner.prepare(grey))
    np.testing.assert_array_equal(runner.prepare(alpha), runner.prepare(rgb))
    for shape in [(8, 8, 2), (1, 8, 8, 3)]:
        with pytest.raises(ValueError, match=r"takes .*\(height, width, 3\) images; got \(" + ", ".join(
                map(str, shape)) + r"\)\.$"):
            runner.prepare(np.zeros(shape, "uint8"))


@pytest.mark.parametrize("kind", KINDS)
def test_prepare_refuses_other_dtypes_and_empty_images_in_one_line(kind, crop_model, photo):
    """``prepare`` takes uint8 pixels from every runner (the SavedModel's refused others; the exported files' read
    float pixels in [0, 1] as near-black ones and answered, and a boolean or empty image was a TensorFlow error)."""
    runner = _open(crop_model[1], kind)
    rgb = tf.io.decode_jpeg(tf.io.read_file(photo), channels=3).numpy()
    for image, message in [(rgb / 255, "takes uint8 images; got float64"),
                           (rgb.astype("float32"), "takes uint8 images; got float32"),
                           (rgb[..., 0] > 128, "takes uint8 images; got bool"),
                           (np.zeros((0, 0, 3), "uint8"), r"got an empty one \(0, 0, 3\)"),
                           (np.zeros((5, 0), "uint8"), r"got an empty one \(5, 0, 1\)")]:
        with pytest.raises(ValueError, match=message) as raised:
            runner.prepare(image)
        assert "\n" not in str(raised.value) and runner.label in str(raised.value)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_refused_in_one_line_before_the_runtime(kind, resize_model):
    runner = _open(resize_model[1], kind)
    name = {"saved_model": "served"}.get(kind, runner.label)
    shape = "(batch, height, width, 3)" if kind == "saved_model" else "(batch, 32, 32, 3)"
    good = np.zeros((2, 32, 32, 3), runner.input_dtype)
    other = "float32" if runner.input_dtype == "uint8" else "uint8"
    expected = f"takes {runner.input_dtype} images of shape {shape}; got "
    bad = {f"{other} (2, 32, 32, 3)": good.astype(other), "float64 (2, 32, 32, 3)": good.astype("float64"),
           f"{runner.input_dtype} (32, 32, 3)": good[0], f"{runner.input_dtype} (2, 32, 32, 4)": np.zeros(
               (2, 32, 32, 4), runner.input_dtype), "an empty batch (0, 32, 32, 3)": good[:0]}
    if kind != "saved_model":
        bad[f"{runner.input_dtype} (2, 28, 28, 3)"] = good[:, :28, :28]
    for got, images in bad.items():
        with pytest.raises(ValueError) as error:
            runner(images)
        message = str(error.value)
        assert name in message and expected + got in message and "\n" not in message, message
    with pytest.raises(ValueError, match=r"as a numpy array; got list"):
        runner(good.tolist())


def test_open_artifact_refuses_in_one_line(resize_model, tmp_path, monkeypatch):
    paths = resize_model[1]
    with pytest.raises(ValueError, match=r"is not an exported model: expected a \.onnx"):
        runtimes.open_artifact(shutil.copy(paths["tflite"], tmp_path / "model.bin"))
    with pytest.raises(ValueError, match=r"No such exported model"):
        runtimes.open_artifact(tmp_path / "missing.tflite")
    with pytest.raises(ValueError, match=r"has no card beside it .*export the \.keras model again"):
        runtimes.open_artifact(shutil.copy(paths["tflite"], tmp_path / "alone.tflite"))
    (tmp_path / "foreign.tflite.json").write_text(json.dumps({"format": "tflite"}))
    with pytest.raises(ValueError, match=r"has no card beside it"):
        runtimes.open_artifact(shutil.copy(paths["tflite"], tmp_path / "foreign.tflite"))
    shutil.copy(paths["tflite"], tmp_path / "other.tflite")
    card = json.loads(open(paths["tflite"] + ".json").read())
    (tmp_path / "other.tflite.json").write_text(json.dumps({**card, "format": "onnx"}))
    with pytest.raises(ValueError, match=r"is for a 'onnx' export, not 'tflite'"):
        runtimes.open_artifact(tmp_path / "other.tflite")
    with pytest.raises(ValueError, match=r"folder without saved_model.pb"):
        runtimes.open_artifact(tmp_path)
    for kind, extra in (("onnx", "onnx"), ("openvino", "openvino")):
        if kind in paths:
            monkeypatch.setitem(__import__("sys").modules, RUNTIME_MODULES[kind], None)  # import fails
            with pytest.raises(ValueError, match=rf"not installed: pip install -e \"\.\[{extra}\]\""):
                runtimes.open_artifact(paths[kind])
    if "openvino" in paths:
        shutil.copy(paths["openvino"], tmp_path / "lone.xml")
        shutil.copy(paths["openvino"] + ".json", tmp_path / "lone.xml.json")
        with pytest.raises(ValueError, match=r"needs its weights .*lone\.bin"):
            runtimes.open_artifact(tmp_path / "lone.xml")


def _predict(path, photo, capsys):
    assert cli.main(["predict", path, photo, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["predictions"][0]["predictions"]


# What predict prints from each artifact against the .keras file, per view: with a resize view every runtime sees
# the pixels Keras sees (within float error); with a center_crop view the uint8 graphs (ONNX, OpenVINO) get the
# view rounded to 8-bit pixels, which moved the crop model's scores by up to 5.1e-4 (measured; 2e-3 allowed).
TOLERANCE = {"resize_model": {kind: 1e-5 for kind in KINDS},
             "crop_model": {"onnx": 2e-3, "openvino": 2e-3, "tflite": 1e-5, "saved_model": 1e-5}}


@pytest.mark.parametrize("which", ["resize_model", "crop_model"])
def test_predict_on_each_artifact_prints_the_keras_top5(which, photo, capsys, request):
    model_path, paths = request.getfixturevalue(which)
    expected = _predict(model_path, photo, capsys)
    assert [p["name"] for p in expected] == [CLASS_NAMES[p["class"]] for p in expected] and len(expected) == 5
    for kind, path in paths.items():
        top = _predict(path, photo, capsys)
        assert [p["class"] for p in top] == [p["class"] for p in expected], kind
        assert [p["name"] for p in top] == [p["name"] for p in expected], kind
        np.testing.assert_allclose([p["score"] for p in top], [p["score"] for p in expected],
                                   atol=TOLERANCE[which][kind], err_msg=kind)
    for kind in set(paths) - {"saved_model"}:  # the table names the runtime and the card's view
        assert cli.main(["predict", paths[kind], photo]) == 0
        assert capsys.readouterr().out.startswith(f"{kind} {paths[kind]}: 10 classes")


def test_predict_refuses_a_foreign_file_a_missing_card_and_overrides(resize_model, photo, tmp_path, capsys):
    paths = resize_model[1]
    cases = [(shutil.copy(paths["tflite"], tmp_path / "model.pb"), [], "is neither a Keras model file (.keras) "
              "nor an exported model (.onnx, OpenVINO .xml, .tflite, or a SavedModel folder)"),
             (shutil.copy(paths["tflite"], tmp_path / "alone.tflite"), [], "has no card beside it"),
             (paths["tflite"], ["--transform", "resize"], "applies the view of its card"),
             (paths["tflite"], ["--preprocessing", "torch"], "leave out --transform and --preprocessing")]
    for path, options, message in cases:
        assert cli.main(["predict", str(path), photo, *options]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"class {i}\n" for i in range(10)))
    assert cli.main(["predict", paths["tflite"], photo, "--labels", str(labels), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"][0]["predictions"][0]["name"].startswith("class ")
    labels.write_text("a\nb\n")
    assert cli.main(["predict", paths["tflite"], photo, "--labels", str(labels)]) == 2
    assert "2 class names in" in capsys.readouterr().err


@pytest.mark.slow
def test_onnx_of_a_model_as_training_writes_it(tmp_path):
    """A run's model subtracts its mean in a Normalization layer, whose mean and variance Keras' ONNX exporter turned
    into graph inputs that ONNX Runtime then asked for (``portable.serving_model`` makes them constants)."""
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    source = dataclasses.replace(data.load("digits"), class_names=CLASS_NAMES)
    model = build_model("resnet8", source)  # mean subtraction in its first layer
    model.save(tmp_path / "model.keras")
    paths = export_all(str(tmp_path / "model.keras"), tmp_path)
    runner = runtimes.open_artifact(paths["onnx"])
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    np.testing.assert_allclose(runner(pixels), _keras_probabilities(str(tmp_path / "model.keras"),
                                                                     pixels.astype("float32")), atol=1e-5)
