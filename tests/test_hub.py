"""``hf://owner/name`` handles wherever a model file is read, from a Hugging Face cache that the tests fill offline.

``publish`` lays a repository out as ``huggingface_hub`` keeps its downloads (``models--owner--name/blobs/<hash>``,
``snapshots/<commit>/<file>`` linking to the blob, ``refs/<branch>`` holding the commit), and the hub library runs
with ``HF_HUB_OFFLINE``: nothing is downloaded, the library finds the snapshot as it would after a download.
"""

import dataclasses
import hashlib
import json
import os
import sys

import keras
import numpy as np
import pytest
from PIL import Image

huggingface_hub = pytest.importorskip("huggingface_hub")
hub_constants = pytest.importorskip("huggingface_hub.constants")

from keras_resnet import data  # noqa: E402
from keras_resnet import cli
from keras_resnet.inference import evaluate
from keras_resnet.weights import hub
from keras_resnet.inference import model_file
from keras_resnet.training import build_model  # noqa: E402

CLASS_NAMES = [f"digit-{i}" for i in range(10)]


def publish(cache, repo_id, files, revision="main"):
    """Puts ``files`` (``{path in repo: local file}``) into the hub cache ``cache`` as one commit of ``repo_id`` that
    ``revision`` names; returns the commit hash."""
    storage = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(f"{repo_id}{revision}{sorted(files.items())}".encode()).hexdigest()
    for name, source in files.items():
        with open(source, "rb") as file:
            content = file.read()
        blob = os.path.join(storage, "blobs", hashlib.sha256(content).hexdigest())
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        with open(blob, "wb") as file:
            file.write(content)
        link = os.path.join(storage, "snapshots", commit, *name.split("/"))
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(blob, os.path.dirname(link)), link)
    os.makedirs(os.path.join(storage, "refs"), exist_ok=True)
    with open(os.path.join(storage, "refs", revision), "w") as file:
        file.write(commit)
    return commit


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty hub cache, offline: the library reads its settings at import, so they are set on it too."""
    folder = str(tmp_path / "hub-cache")
    os.makedirs(folder)
    monkeypatch.setenv("HF_HUB_CACHE", folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", folder)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return folder


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    """Two models as training writes them (class names in their contract, preprocessing.json beside them), of other
    seeds: ``{"model.keras", "preprocessing.json", "other.keras"}``."""
    run = tmp_path_factory.mktemp("run")
    source = dataclasses.replace(data.load("digits"), class_names=CLASS_NAMES)
    for name, seed in (("model.keras", 0), ("other.keras", 1)):
        keras.utils.set_random_seed(seed)
        build_model("resnet8", source).save(run / name)
    (run / "preprocessing.json").write_text(json.dumps({"image_size": 32, "class_names": CLASS_NAMES,
                                                        "dataset": "digits"}))
    return {name: str(run / name) for name in ("model.keras", "preprocessing.json", "other.keras")}


def outputs(model, seed=0):
    images = np.random.default_rng(seed).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    return keras.ops.convert_to_numpy(model(images, training=False))


def test_a_handle_loads_the_model_of_its_snapshot_and_revision(cache, run_files):
    files = {"model.keras": run_files["model.keras"], "preprocessing.json": run_files["preprocessing.json"]}
    commit = publish(cache, "owner/resnet8-digits", files)
    publish(cache, "owner/resnet8-digits", {"model.keras": run_files["other.keras"]}, revision="v2")
    expected = outputs(keras.saving.load_model(run_files["model.keras"]))
    other = outputs(keras.saving.load_model(run_files["other.keras"]))

    model = model_file.load_model("hf://owner/resnet8-digits")
    np.testing.assert_array_equal(outputs(model), expected)
    assert model_file.class_names(model) == CLASS_NAMES
    assert model_file.run_metadata("hf://owner/resnet8-digits")["dataset"] == "digits"  # beside it in the repo
    np.testing.assert_array_equal(outputs(model_file.load_model(f"hf://owner/resnet8-digits@{commit}")), expected)
    np.testing.assert_array_equal(outputs(model_file.load_model("hf://owner/resnet8-digits@v2")), other)
    assert model_file.run_metadata("hf://owner/resnet8-digits@v2") == {}
    np.testing.assert_array_equal(outputs(evaluate.load_model("hf://owner/resnet8-digits")[0]), expected)

    # One .keras file of several, by its path in the repository.
    publish(cache, "owner/two-models", {"a/first.keras": run_files["model.keras"],
                                        "second.keras": run_files["other.keras"]})
    np.testing.assert_array_equal(outputs(model_file.load_model("hf://owner/two-models/second.keras")), other)
    np.testing.assert_array_equal(outputs(model_file.load_model("hf://owner/two-models/a/first.keras")), expected)


def test_keras_own_folder_layout_loads(cache, run_files, tmp_path):
    """What ``model.save("hf://owner/name")`` uploads: config.json, metadata.json, model.weights.h5."""
    saved = keras.saving.load_model(run_files["model.keras"])
    folder = tmp_path / "keras-layout"
    keras.saving.save_model(saved, str(folder), zipped=False)
    published = {name: str(folder / name) for name in os.listdir(folder) if os.path.isfile(folder / name)}
    publish(cache, "owner/keras-layout", {**published, "preprocessing.json": run_files["preprocessing.json"]})
    model = model_file.load_model("hf://owner/keras-layout")
    np.testing.assert_array_equal(outputs(model), outputs(saved))
    assert model_file.class_names(model) == CLASS_NAMES  # the contract travels in config.json
    assert model_file.run_metadata("hf://owner/keras-layout")["dataset"] == "digits"


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("images") / "digit.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
    return path


def test_predict_explain_and_export_take_a_handle(cache, run_files, image, tmp_path, capsys):
    publish(cache, "owner/resnet8-digits", {"model.keras": run_files["model.keras"],
                                            "preprocessing.json": run_files["preprocessing.json"]})
    reports = []
    for model in (run_files["model.keras"], "hf://owner/resnet8-digits"):
        assert cli.main(["predict", model, image, "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out)["predictions"][0]["predictions"])
    assert reports[0] == reports[1] and reports[0][0]["name"].startswith("digit-")
    assert cli.main(["explain", "hf://owner/resnet8-digits", image, "--top-k", "1", "--output-dir",
                     str(tmp_path / "maps")]) == 0
    assert f"({reports[0][0]['score']:.3f})" in capsys.readouterr().out
    assert len(os.listdir(tmp_path / "maps")) == 1

    served = str(tmp_path / "served")
    assert cli.main(["export", "hf://owner/resnet8-digits", "--to", "saved_model", "--output-dir", served]) == 0
    assert "SavedModel version 1" in capsys.readouterr().out
    assert os.path.isfile(os.path.join(served, "1", "saved_model.pb"))
    assert cli.main(["predict", served, image, "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)["predictions"][0]["predictions"]
    assert [p["name"] for p in exported] == [p["name"] for p in reports[0]]
    np.testing.assert_allclose([p["score"] for p in exported], [p["score"] for p in reports[0]], atol=1e-5)


def test_fine_tuning_weights_from_a_handle(cache, run_files, tmp_path):
    publish(cache, "owner/resnet8-digits", {"model.keras": run_files["model.keras"]})
    weights = "hf://owner/resnet8-digits"
    assert cli.main(["train", "--dataset", "digits", "--model", "resnet8", "--weights", weights, "--freeze", "all",
                     "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "32",
                     "--output-dir", str(tmp_path / "tuned"), "--verbose", "0"]) == 0
    source = keras.saving.load_model(run_files["model.keras"])
    tuned = keras.saving.load_model(tmp_path / "tuned" / "model.keras")
    # The input mean and the frozen features are the hub model's.
    for layer in ("mean_subtraction", "conv1_conv", "conv4_block1_2_bn"):
        for before, after in zip(source.get_layer(layer).weights, tuned.get_layer(layer).weights):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(after), keras.ops.convert_to_numpy(before))
    record = json.loads((tmp_path / "tuned" / "preprocessing.json").read_text())
    assert record["normalization_from"] == weights


def one_line_error(capsys, argv):
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_bad_handles_are_one_clear_line(cache, run_files, image, tmp_path, capsys, monkeypatch):
    assert "not in the Hugging Face cache" in one_line_error(capsys, ["predict", "hf://owner/missing", image])
    assert "HF_HUB_OFFLINE" in one_line_error(capsys, ["export", "hf://owner/missing", "--to", "saved_model",
                                                       "--output-dir", str(tmp_path / "out")])
    assert "not in the Hugging Face cache" in one_line_error(capsys, [
        "train", "--dataset", "digits", "--model", "resnet8", "--weights", "hf://owner/missing", "--epochs", "1",
        "--output-dir", str(tmp_path / "run"), "--verbose", "0"])
    assert "hf://owner/name" in one_line_error(capsys, ["predict", "hf://no-owner", image])
    assert "not a Hugging Face Hub handle" in one_line_error(capsys, ["predict", "hf://owner/..name", image])

    publish(cache, "owner/notes", {"README.md": run_files["preprocessing.json"]})
    assert "holds no Keras model" in one_line_error(capsys, ["predict", "hf://owner/notes", image])
    publish(cache, "owner/two-models", {"first.keras": run_files["model.keras"],
                                        "second.keras": run_files["other.keras"]})
    assert "hf://owner/two-models/first.keras" in one_line_error(capsys, ["predict", "hf://owner/two-models", image])
    assert "no 'third.keras'" in one_line_error(capsys, ["predict", "hf://owner/two-models/third.keras", image])
    assert "--weights goes with a registry name" in one_line_error(capsys, [
        "predict", "hf://owner/two-models/first.keras", "--weights", "imagenet", image])

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # the library not installed
    assert "pip install -e '.[hub]'" in one_line_error(capsys, ["predict", "hf://owner/two-models/first.keras", image])
    assert hub.resolve(run_files["model.keras"]) == run_files["model.keras"]  # local paths need no library


def test_the_cache_layout_is_the_library_s_own(cache, run_files):
    """The layout ``publish`` writes is what the library's cache scan recognises."""
    publish(cache, "owner/resnet8-digits", {"model.keras": run_files["model.keras"]})
    info = huggingface_hub.scan_cache_dir(cache)
    (repo,) = info.repos
    assert repo.repo_id == "owner/resnet8-digits" and set(repo.refs) == {"main"} and not info.warnings
    assert [file.file_name for revision in repo.revisions for file in revision.files] == ["model.keras"]
