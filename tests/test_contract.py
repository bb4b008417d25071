"""The inference contract: one model file, one answer at every door.

Models (each ``model.keras`` copied alone to an empty folder): a digits ResNet-20 run, a folder run with named
classes at ``--image-size 48``, a ResNet-18 built for 10 classes at 64x64, models fed with each weights record's
preprocessing, and a ResNet-20 built with ``weights="cifar10"``. Doors: ``keras-resnet predict``, evaluate's view of
one image, explain's classes, the Python API, and (slow) the SavedModel's two signatures and TFLite float32. On one
non-square JPEG every door gives the same top-5 classes, names and probabilities.
"""

import dataclasses
import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import randomize_batchnorm
from datasets import write_jpeg_tree
from torch_files import cifar_reference_state, save_legacy

import keras_resnet
from keras_resnet import data
from keras_resnet import cli
from keras_resnet.inference import evaluate
from keras_resnet.inference import explain
from keras_resnet.inference import model_file
from keras_resnet.inference import predict
from keras_resnet.weights import records as weight_records
from keras_resnet.models import contract as contract_lib
from keras_resnet.weights import pretrained as weights_lib
from keras_resnet.models.contract import contract_of

TOP = 5
# The normalisations (and views) of the published weights, by one record each.
RECORDS = {"caffe": ("resnet50", "imagenet"), "tf": ("resnet50v2", "imagenet"), "torch": ("resnet18", "imagenet"),
           "torch-v2": ("resnet50", "imagenet-v2")}


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 90x140 JPEG with structure at every scale, so that the crop and the resize matter."""
    y, x = np.mgrid[0:90, 0:140]
    noise = np.random.default_rng(3).integers(0, 60, (90, 140, 3))
    image = np.stack([(x * 1.8) % 200, (y * 2.7) % 200, ((x + y) * 1.1) % 200], -1) + noise
    path = str(tmp_path_factory.mktemp("photo") / "photo.jpg")
    tf.io.write_file(path, tf.io.encode_jpeg(image.astype(np.uint8)))
    return path


def _random_model(name, **options):
    model = keras_resnet.build(name, **options)
    randomize_batchnorm(model, np.random.default_rng(0))
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``{name: path of a model.keras in its own folder}`` (see the module)."""
    tmp = tmp_path_factory.mktemp("models")
    paths = {}
    run = tmp / "digits"
    assert cli.main(["train", "--dataset", "digits", "--model", "resnet20", "--epochs", "1", "--batch-size", "64",
                     "--steps-per-epoch", "2", "--verbose", "0", "--output-dir", str(run)]) == 0
    paths["digits-resnet20"] = run / "model.keras"
    tree = write_jpeg_tree(str(tmp / "tree"), classes=[f"digit{i}" for i in range(10)], per_class=3)
    run = tmp / "folder"
    assert cli.main(["train", "--dataset", "folder", "--data-dir", os.path.join(tree, "train"), "--model", "resnet8",
                     "--image-size", "48", "--epochs", "1", "--batch-size", "8", "--verbose", "0", "--output-dir",
                     str(run)]) == 0
    paths["folder-named-48"] = run / "model.keras"
    built = _random_model("resnet18", classes=10, input_shape=(64, 64, 3))
    paths["resnet18-10-64"] = tmp / "resnet18.keras"
    built.save(paths["resnet18-10-64"])
    for key, (name, tag) in RECORDS.items():  # a small network fed as each record's weights are
        model = _random_model("resnet8", classes=10, input_shape=(40, 40, 3))
        model.contract = contract_lib.for_record(weight_records.find(name, tag), (40, 40)).replace(weights_tag=None)
        paths[f"fed-as-{key}"] = tmp / f"{key}.keras"
        model.save(paths[f"fed-as-{key}"])
    paths["cifar10-weights"] = _cifar10_model(tmp)
    return {name: str(path) for name, path in paths.items()}


def _cifar10_model(tmp):
    """``ResNet20(weights="cifar10")`` from a reference checkpoint the test writes (served from a local file)."""
    state = cifar_reference_state(20, np.random.default_rng(1))
    checkpoint = tmp / "resnet20.th"
    save_legacy(state, checkpoint, wrap=lambda sd: {"state_dict": sd})
    record = dataclasses.replace(weight_records.find("resnet20", "cifar10"), origin=checkpoint.as_uri(),
                                 file_name="resnet20.th", file_hash=None, sha256_prefix=None)
    previous, cache = weight_records.RECORDS[("resnet20", "cifar10")], weights_lib.CACHE_DIR
    weight_records.RECORDS[("resnet20", "cifar10")], weights_lib.CACHE_DIR = record, str(tmp / "cache")
    try:
        model = keras_resnet.ResNet20(weights="cifar10")
    finally:
        weight_records.RECORDS[("resnet20", "cifar10")], weights_lib.CACHE_DIR = previous, cache
    model.save(tmp / "resnet20-cifar10.keras")
    return tmp / "resnet20-cifar10.keras"


def _alone(path, tmp_path):
    """``path`` copied alone to an empty folder."""
    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(path, folder / "model.keras")
    return str(folder / "model.keras")


def _top(scores, names):
    order = np.argsort(-np.asarray(scores), kind="stable")[:TOP]
    return [(int(index), names[index], float(scores[index])) for index in order]


def predict_door(path, photo, capsys):
    capsys.readouterr()
    assert cli.main(["predict", path, photo, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["predictions"][0]["predictions"]
    return [(row["class"], row["name"], row["score"]) for row in found]


def python_door(path, photo, capsys):
    """The Python API: the model, its contract's view and ``model.preprocess_input``."""
    model = keras.saving.load_model(path)
    contract = contract_of(model)
    view = data.apply_eval_transform(tf.io.decode_image(tf.io.read_file(photo), channels=3), contract.transform)
    scores = model.predict(model.preprocess_input(view[None]), verbose=0)[0]
    return _top(scores, contract.names(model.output.shape[-1]))


def evaluate_door(path, photo, capsys):
    """Evaluate's view of one image: its scoring of the encoded file, as it reads a folder's."""
    model, _ = evaluate.load_model(path)
    images = tf.data.Dataset.from_tensor_slices(([tf.io.read_file(photo).numpy()], [0]))
    scores, _ = next(evaluate.scored_batches(model, images))
    return _top(scores[0], model_file.class_names(model))


def explain_door(path, photo, capsys):
    return explain.explain_image(predict.load_classifier(path), photo, TOP).top


def _assert_same(doors, reference):
    for door, found in doors.items():
        assert [(c, n) for c, n, _ in found] == [(c, n) for c, n, _ in reference], door
        np.testing.assert_allclose([s for _, _, s in found], [s for _, _, s in reference], atol=1e-4, err_msg=door)


MODELS = ["digits-resnet20", "folder-named-48", "resnet18-10-64", *(f"fed-as-{key}" for key in RECORDS),
          "cifar10-weights"]


@pytest.mark.parametrize("name", MODELS)
def test_every_door_gives_the_same_answer(models, photo, name, tmp_path, capsys):
    path = _alone(models[name], tmp_path)
    reference = predict_door(path, photo, capsys)
    doors = {door.__name__: door(path, photo, capsys) for door in (python_door, evaluate_door, explain_door)}
    _assert_same(doors, reference)
    if name == "folder-named-48":  # the names travel inside the model file
        assert all(label.startswith("digit") for _, label, _ in reference)
        assert contract_of(model_file.load_model(path)).input_size == (48, 48)


def saved_model_doors(path, photo, tmp_path):
    from keras_resnet.export import export_saved_model

    target, _ = export_saved_model(path, tmp_path / "served", top_k=TOP)
    signatures = tf.saved_model.load(target).signatures
    image = tf.io.decode_image(tf.io.read_file(photo), channels=3)
    answers = {"serving_default": signatures["serving_default"](images=image[None]),
               "predict_jpeg": signatures["predict_jpeg"](image_bytes=tf.io.read_file(photo)[None])}
    return {door: [(int(c), label.decode(), float(s)) for c, label, s in
                   zip(out["classes"].numpy()[0], out["labels"].numpy()[0], out["scores"].numpy()[0])]
            for door, out in answers.items()}


def tflite_door(path, photo, tmp_path):
    from keras_resnet.export import tflite

    report = tflite.export_tflite(path, tmp_path / "lite", variants=["float32"], eval_images=1, repeats=1)
    with open(report["variants"]["float32"]["path"], "rb") as file:
        runner = tflite.interpreter(file.read())
    model = model_file.load_model(path)
    contract = contract_of(model)
    view = data.apply_eval_transform(tf.io.decode_image(tf.io.read_file(photo), channels=3), contract.transform)
    return _top(tflite.run(runner, view.numpy()[None])[0], model_file.class_names(model))


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_exports_give_the_same_answer(models, photo, name, tmp_path, capsys):
    path = _alone(models[name], tmp_path)
    reference = predict_door(path, photo, capsys)
    doors = saved_model_doors(path, photo, tmp_path)
    doors["tflite_float32"] = tflite_door(path, photo, tmp_path)
    _assert_same(doors, reference)


@pytest.fixture
def published(tmp_path, monkeypatch):
    """Published weights served from files the test writes: ``publish(record, **build options)`` saves a
    randomised network of the record's architecture and points the loader at it."""
    def publish(record, **options):
        source = keras_resnet.ResNet(record.spec, weights=None, **options)
        randomize_batchnorm(source, np.random.default_rng(2))
        path = str(tmp_path / f"{record.name}-{record.tag}.weights.h5")
        source.save_weights(path)
        monkeypatch.setattr(weights_lib, "fetch_imagenet_weights", lambda name, include_top: path)
        monkeypatch.setattr(weights_lib, "converted_weights", lambda record, include_top: path)
    return publish


@pytest.mark.parametrize("name, tag", [("resnet50", "imagenet-v2"), pytest.param("resnet50", "imagenet",
                                                                                marks=pytest.mark.slow),
                                       pytest.param("resnet50v2", "imagenet", marks=pytest.mark.slow),
                                       ("resnet18", "imagenet"), ("resnet20", "cifar10")])
def test_preprocess_input_follows_the_weights(published, name, tag, rng):
    """``model.preprocess_input`` feeds a model built with any weights tag as ``include_preprocessing=True`` does."""
    record = weight_records.find(name, tag)
    options = ({"include_top": False, "pooling": "avg", "input_shape": (64, 64, 3)} if record.classes == 1000
               else {})
    published(record, **options)
    constructor = getattr(keras_resnet, keras_resnet.models.spec.constructor_name(name))
    model = constructor(weights=tag, **options)
    inside = constructor(weights=tag, include_preprocessing=True, **options)
    pixels = rng.uniform(0, 255, (2, *(options.get("input_shape") or (32, 32, 3)))).astype("float32")
    expected = np.asarray(inside(pixels, training=False))
    np.testing.assert_allclose(np.asarray(model(model.preprocess_input(pixels), training=False)), expected,
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(inside.preprocess_input(pixels)), pixels)  # it normalises itself
    by_tag = keras_resnet.preprocess_input(pixels, weights=tag, model=name)
    np.testing.assert_allclose(np.asarray(by_tag), np.asarray(model.preprocess_input(pixels)), atol=1e-5)
    if tag == "imagenet" and name != "resnet18":  # the constructor's function stays keras.applications'
        np.testing.assert_allclose(np.asarray(constructor.preprocess_input(pixels.copy())),
                                   np.asarray(model.preprocess_input(pixels)), atol=1e-4)


def test_preprocess_input_by_tag(rng):
    pixels = rng.uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    torch = (pixels / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(np.asarray(keras_resnet.preprocess_input(pixels, weights="imagenet-v2")), torch,
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(keras_resnet.preprocess_input(pixels.copy())),
                               keras.applications.resnet.preprocess_input(pixels.copy()), atol=1e-4)
    with pytest.raises(ValueError, match=r"'imagenet' weights of .* normalise differently: pass model=<name>"):
        keras_resnet.preprocess_input(pixels, weights="imagenet")
    with pytest.raises(ValueError, match=r"No published weights are tagged 'imagenet-v9'"):
        keras_resnet.preprocess_input(pixels, weights="imagenet-v9")


def test_contract_round_trips_through_the_model_file(tmp_path):
    model = keras_resnet.build("resnet8", classes=3, input_shape=(40, 40, 3))
    model.contract = contract_lib.for_view({"method": "center_crop", "resize": 46, "size": 40},
                                           class_names=["cat", "dog", "eel"])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert contract_of(loaded) == model.contract and contract_of(loaded).class_names == ("cat", "dog", "eel")
    assert contract_of(loaded).crop == 40 and contract_of(loaded).ratio == pytest.approx(46 / 40)
    config = contract_of(loaded).to_config()
    assert json.loads(json.dumps(config)) == config


# The functions docs/ARCHITECTURE.md names on the contract's path (module path within keras_resnet, as the doc
# writes it): the doc stays true while they exist.
DOCUMENTED_PATH = [
    ("models.contract", "for_record", "contract.for_record"),
    ("models.contract", "for_family", "contract.for_family"),
    ("models.contract", "contract_of", "contract.contract_of"),
    ("applications.builder", "ResNet", "builder.ResNet"),
    ("applications.convert", "convert", "convert.convert"),
    ("training.trainer", "source_contract", "trainer.source_contract"),
    ("training.trainer", "build_model", "trainer.build_model"),
    ("training.trainer", "Run.build_model", "Run.build_model"),
    ("inference.model_file", "load_model", "model_file.load_model"),
    ("inference.model_file", "raw_pixel_model", "model_file.raw_pixel_model"),
    ("inference.model_file", "contract", "model_file.contract"),
    ("inference.predict", "KerasClassifier", "predict.KerasClassifier"),
    ("inference.explain", "explain_image", "explain.explain_image"),
    ("inference.evaluate", "scored_batches", "evaluate.scored_batches"),
    ("data", "apply_eval_transform", "data.apply_eval_transform"),
    ("models.network", "ResNetModel.preprocess_input", "model.preprocess_input"),
    ("models.contract", "InferenceContract.preprocess_input", "InferenceContract.preprocess_input"),
]


def test_architecture_doc_shows_the_contracts_path():
    import functools
    import importlib
    import pathlib

    doc = (pathlib.Path(__file__).parent.parent / "docs" / "ARCHITECTURE.md").read_text()
    section = doc[doc.index("## The inference contract"):]
    for module, name, written in DOCUMENTED_PATH:
        assert f"`{written}" in section, written
        assert functools.reduce(getattr, name.split("."), importlib.import_module(f"keras_resnet.{module}"))
