"""SavedModel for TF Serving and TFLite/LiteRT: same predictions as Keras through every signature and variant."""

import base64
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

# Every test here trains or exports a model; the shipped SavedModel's tests (test_saved_models.py) stay fast.
pytestmark = pytest.mark.slow

import keras_resnet
from keras_resnet import data
from keras_resnet import cli
from keras_resnet.weights import records as weight_records
from keras_resnet.models import contract as contract_lib
from keras_resnet.export import export_saved_model, export_tflite
from keras_resnet.training import TrainConfig, train


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A CIFAR ResNet-20 trained for a few epochs on the digits: model.keras + preprocessing.json."""
    run = tmp_path_factory.mktemp("run")
    train(TrainConfig(model="resnet20", dataset="digits", epochs=8, batch_size=64, output_dir=str(run), verbose=0))
    return run


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory):
    """A ResNet-50 fed as keras.applications' weights are (its contract: the record's view and caffe)."""
    path = tmp_path_factory.mktemp("resnet50") / "resnet50.keras"
    model = keras_resnet.ResNet50(weights=None, input_shape=(64, 64, 3))
    model.contract = contract_lib.for_record(weight_records.find("resnet50", "imagenet"), (64, 64))
    model.save(path)
    return path


def _images(count, size, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def _rest_payload(images):
    """What a TF Serving REST client sends to predict_jpeg, as the server decodes it."""
    body = json.dumps({"signature_name": "predict_jpeg", "instances": [
        {"b64": base64.b64encode(tf.io.encode_jpeg(image).numpy()).decode()} for image in images]})
    return tf.constant([base64.b64decode(instance["b64"]) for instance in json.loads(body)["instances"]])


@pytest.mark.parametrize("which", ["resnet20", "resnet50"])
def test_every_signature_gives_the_keras_probabilities(which, digits_run, resnet50_file, tmp_path):
    model_path = digits_run / "model.keras" if which == "resnet20" else resnet50_file
    target, info = export_saved_model(model_path, tmp_path / which, top_k=3)
    model = keras.saving.load_model(model_path, safe_mode=True)
    size = model.input.shape[1]
    preprocess = keras_resnet.preprocess_input if which == "resnet50" else (lambda x: x)
    assert info["preprocessing"] == ("caffe" if which == "resnet50" else "none")
    served = tf.saved_model.load(target)
    stored = tf.train.load_checkpoint(f"{target}/variables/variables")
    shapes = stored.get_variable_to_shape_map()
    stored_values = sum(int(np.prod(shape)) for name, shape in shapes.items() if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert stored_values == model.count_params()  # every weight once (keras.export alone stores each twice)

    images = _images(4, size)
    if which == "resnet50":  # pretrained ImageNet models are served with the resize-256/224 centre crop
        assert info["transform"] == {"method": "center_crop", "resize": 73, "size": 64}

    def evaluated(batch):
        return np.stack([data.apply_eval_transform(image, info["transform"]).numpy() for image in batch])

    expected = np.asarray(model(preprocess(evaluated(images)), training=False))
    outputs = served.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
    top = np.take_along_axis(expected, outputs["classes"].numpy(), axis=-1)  # ties allowed: compare the scores
    np.testing.assert_allclose(top, -np.sort(-expected, axis=-1)[:, :3], atol=1e-6)
    np.testing.assert_allclose(outputs["scores"].numpy(), top, atol=1e-5)
    if which == "resnet20":  # the run's class names travel into the graph
        assert outputs["labels"].numpy()[0, 0].decode() == str(np.argmax(expected[0]))

    decoded_in_python = np.stack([tf.io.decode_jpeg(tf.io.encode_jpeg(image)).numpy() for image in images])
    expected_jpeg = np.asarray(model(preprocess(evaluated(decoded_in_python)), training=False))
    outputs = served.signatures["predict_jpeg"](image_bytes=_rest_payload(images))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected_jpeg, atol=1e-5)


def test_saved_model_cli_lists_the_signatures(digits_run, tmp_path):
    target, _ = export_saved_model(digits_run / "model.keras", tmp_path / "resnet20")
    cli_path = shutil.which("saved_model_cli", path=str(__import__("pathlib").Path(sys.executable).parent))
    shown = subprocess.run([cli_path or "saved_model_cli", "show", "--dir", target, "--all"], capture_output=True,
                           text=True, check=True).stdout
    default = shown[shown.index("signature_def['serving_default']"):]
    jpeg = shown[shown.index("signature_def['predict_jpeg']"):shown.index("signature_def['serving_default']")]
    assert "inputs['images']" in default and "DT_UINT8" in default and "shape: (-1, -1, -1, -1)" in default
    assert "inputs['image_bytes']" in jpeg and "DT_STRING" in jpeg and "shape: (-1)" in jpeg
    for output in ("probabilities", "classes", "scores", "labels"):
        assert f"outputs['{output}']" in default and f"outputs['{output}']" in jpeg


def test_versions_are_added_never_overwritten(digits_run, tmp_path, capsys):
    base = tmp_path / "resnet20"
    first, _ = export_saved_model(digits_run / "model.keras", base)
    before = (base / "1" / "saved_model.pb").read_bytes()
    second, info = export_saved_model(digits_run / "model.keras", base)
    assert (first, second) == (str(base / "1"), str(base / "2")) and info["version"] == 2
    for version in ("1", "2"):
        assert (base / version / "saved_model.pb").is_file() and (base / version / "variables").is_dir()
    assert (base / "1" / "saved_model.pb").read_bytes() == before
    assert "base_path: '/models/resnet20'" in (base / "models.config").read_text()
    assert cli.main(["export", str(digits_run / "model.keras"), "--to", "saved_model", "--output", str(base),
                     "--version", "1"]) == 2
    assert "Version 1 already exists" in capsys.readouterr().err
    export_saved_model(digits_run / "model.keras", base, version=1, overwrite=True)


def test_non_image_bytes_get_a_clear_error_from_the_signature(digits_run, tmp_path):
    target, _ = export_saved_model(digits_run / "model.keras", tmp_path / "resnet20")
    served = tf.saved_model.load(target)
    with pytest.raises(tf.errors.InvalidArgumentError, match="predict_jpeg takes JPEG or PNG encoded images"):
        served.signatures["predict_jpeg"](image_bytes=tf.constant([b"GIF89a not a picture"]))
    ok = served.signatures["predict_jpeg"](image_bytes=tf.constant([tf.io.encode_png(_images(1, 40)[0]).numpy()]))
    assert ok["probabilities"].shape == (1, 10)  # PNG of another size works, and the server goes on


def test_four_tflite_conversions(digits_run, tmp_path):
    report = export_tflite(digits_run / "model.keras", tmp_path, eval_images=360, calibration_steps=100, repeats=3)
    assert set(report["variants"]) == {"float32", "float16", "dynamic_int8", "int8"}
    float32, int8 = report["variants"]["float32"], report["variants"]["int8"]
    assert float32["max_abs_prob_diff"] <= 1e-4 and float32["top1_agreement"] == 1.0
    assert int8["top1_agreement"] >= 0.98 and int8["size_mb"] < float32["size_mb"] / 3
    assert report["keras"]["accuracy"] > 0.9 and report["dataset"] == "digits"
    assert json.loads((tmp_path / "parity.json").read_text())["variants"]["int8"]["latency_ms"] > 0
    for variant in report["variants"]:
        assert (tmp_path / f"resnet20_{variant}.tflite").stat().st_size > 0


def test_bad_export_input(digits_run, tmp_path, capsys):
    def fails(argv, message):
        assert cli.main(["export", *argv]) == 2
        assert message in capsys.readouterr().err

    fails([str(tmp_path / "missing.keras"), "--to", "saved_model", "--output", str(tmp_path / "x")],
          "Model file not found")
    (tmp_path / "notes.keras").write_text("not a model")
    fails([str(tmp_path / "notes.keras"), "--to", "saved_model", "--output", str(tmp_path / "x")],
          "is not a Keras model file")
    with pytest.raises(SystemExit):
        cli.main(["export", str(digits_run / "model.keras"), "--to", "coreml", "--output", str(tmp_path / "x")])
    assert "invalid choice: 'coreml'" in capsys.readouterr().err
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(digits_run / "model.keras", lone / "model.keras")  # without the run's preprocessing.json
    fails([str(lone / "model.keras"), "--to", "tflite", "--output", str(tmp_path / "t"), "--variants", "int8"],
          "int8 needs a representative dataset")
    (tmp_path / "a-file").write_text("")
    fails([str(digits_run / "model.keras"), "--to", "saved_model", "--output", str(tmp_path / "a-file")],
          "is a file")
    fails([str(digits_run / "model.keras"), "--to", "tflite", "--output", str(tmp_path / "a-file" / "x")],
          "is not a writable folder")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", str(digits_run / "model.keras"), "--to", "saved_model", "--output", str(tmp_path / "v"),
                  "--version", "-1"])
    assert exit_info.value.code == 2 and "--version: must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_serving_default_takes_grey_rgba_and_empty_batches(digits_run, tmp_path):
    target, _ = export_saved_model(digits_run / "model.keras", tmp_path / "resnet20")
    serve = tf.saved_model.load(target).signatures["serving_default"]
    rgb = _images(2, 32)
    expected = serve(images=tf.constant(rgb))["probabilities"].numpy()
    rgba = np.concatenate([rgb, np.full((2, 32, 32, 1), 7, np.uint8)], axis=-1)
    np.testing.assert_allclose(serve(images=tf.constant(rgba))["probabilities"].numpy(), expected, atol=1e-6)
    grey = rgb[..., :1]
    np.testing.assert_allclose(serve(images=tf.constant(grey))["probabilities"].numpy(),
                               serve(images=tf.constant(np.repeat(grey, 3, -1)))["probabilities"].numpy(), atol=1e-6)
    assert serve(images=tf.zeros((0, 32, 32, 3), tf.uint8))["probabilities"].shape == (0, 10)
    with pytest.raises(tf.errors.InvalidArgumentError, match="1, 3 or 4 channels"):
        serve(images=tf.zeros((1, 32, 32, 2), tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty images"):
        serve(images=tf.zeros((1, 0, 0, 3), tf.uint8))


def test_served_jpeg_gets_the_evaluation_probabilities(tmp_path):
    """A model trained on an ImageNet-style JPEG tree: a non-square JPEG through predict_jpeg and through the
    evaluation pipeline (shorter side resized, central crop) gives the same probabilities."""
    from datasets import write_jpeg_tree

    tree = write_jpeg_tree(tmp_path / "tree", per_class=4, sizes=((48, 80), (90, 60)))
    run = tmp_path / "run"
    train(TrainConfig(model="resnet8", dataset="imagenet", data_dir=str(tree), image_size=32, epochs=1,
                      batch_size=4, output_dir=str(run), verbose=0))
    target, info = export_saved_model(run / "model.keras", tmp_path / "served")
    assert info["transform"]["method"] == "center_crop"
    source = data.load("imagenet", str(tree), image_size=32)
    images, _ = next(iter(data.eval_dataset(source, 12)))
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    expected = np.asarray(model(images, training=False))
    encoded = [example[0] for example in source.test.take(12)]
    served = tf.saved_model.load(target).signatures["predict_jpeg"](image_bytes=tf.stack(encoded))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)


def test_a_run_at_another_image_size_exports_and_is_studied(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", "--dataset", "digits", "--model", "resnet8", "--image-size", "48", "--epochs", "1",
                     "--batch-size", "64", "--steps-per-epoch", "2", "--verbose", "0", "--output-dir", str(run)]) == 0
    assert cli.main(["export", str(run / "model.keras"), "--to", "saved_model", "--output", str(tmp_path / "s")]) == 0
    served = tf.saved_model.load(str(tmp_path / "s" / "1")).signatures["serving_default"]
    assert served(images=tf.constant(_images(1, 48)))["probabilities"].shape == (1, 10)
    assert cli.main(["experiment", "lesion", str(run / "model.keras"), "--max-k", "1", "--draws", "1",
                     "--output-dir", str(tmp_path / "lesion")]) == 0, capsys.readouterr().err
    lesion = json.loads((tmp_path / "lesion" / "lesion.json").read_text())
    assert (lesion["model"], lesion["residual"]) == ("resnet8", True)
    assert [row["name"] for row in lesion["single"]][:1] == ["conv2_block1"]
    assert [row["k"] for row in lesion["deleted"]] == [1]


def test_bfloat16_saved_model_serves_the_mixed_precision_twin_with_a_parity_report(digits_run, tmp_path, capsys):
    assert cli.main(["export", str(digits_run / "model.keras"), "--to", "saved_model", "--precision", "bfloat16",
                     "--eval-images", "100", "--output-dir", str(tmp_path / "bf16")]) == 0
    assert "bfloat16 vs float32 on 100 images of digits: top-1 agreement" in capsys.readouterr().out
    parity = json.loads((tmp_path / "bf16" / "parity-1.json").read_text())
    assert parity["precision"] == "mixed_bfloat16" and parity["eval_images"] == 100
    assert parity["top1_agreement"] >= 0.97 and 0 < parity["max_abs_prob_diff"] < 0.1  # bf16: ~3 significant digits
    assert abs(parity["accuracy"] - parity["accuracy_float32"]) <= 0.03

    model = keras.saving.load_model(digits_run / "model.keras", safe_mode=True)
    images = _images(8, 32, seed=4)
    expected = np.asarray(model(images.astype("float32"), training=False))
    served = tf.saved_model.load(str(tmp_path / "bf16" / "1")).signatures["serving_default"]
    probabilities = served(images=tf.constant(images))["probabilities"]
    assert probabilities.dtype == tf.float32  # the classifier stays float32
    difference = np.abs(probabilities.numpy() - expected).max()
    assert 0 < difference < 0.1  # computed in bfloat16 (not the float32 graph), close to it
    with pytest.raises(ValueError, match="--precision must be one of float32, bfloat16"):
        export_saved_model(digits_run / "model.keras", tmp_path / "x", precision="float16")


@pytest.fixture(scope="module")
def resnet8_file(tmp_path_factory):
    """A random-weight CIFAR ResNet-8 (no run, no dataset: parity on random images)."""
    path = tmp_path_factory.mktemp("resnet8") / "resnet8.keras"
    keras_resnet.build("resnet8").save(path)
    return path


def test_a_tflite_folder_keeps_every_variant_and_replaces_files_only_with_overwrite(resnet8_file, tmp_path, capsys):
    """A second export (--variants float16) into the folder of a first (float32 dynamic_int8) left a parity.json that
    described float16 only, and replaced .tflite files of the same name without --overwrite."""
    def export(*variants, overwrite=()):
        return cli.main(["export", str(resnet8_file), "--to", "tflite", "--output-dir", str(tmp_path), "--variants",
                         *variants, "--eval-images", "2", "--repeats", "1", *overwrite])

    assert export("float32", "dynamic_int8") == 0
    first = json.loads((tmp_path / "parity.json").read_text())
    assert export("float16") == 0
    report = json.loads((tmp_path / "parity.json").read_text())
    assert list(report["variants"]) == ["float32", "float16", "dynamic_int8"]
    assert report["variants"]["float32"] == {**first["variants"]["float32"],
                                             "reference": {key: first[key] for key in
                                                           ("model", "dataset", "eval_images", "keras")}}
    assert "reference" not in report["variants"]["float16"]
    assert "float32 *" in capsys.readouterr().out  # the table marks the rows of the earlier export

    written = {path.name: path.read_bytes() for path in tmp_path.glob("*.tflite")}
    assert sorted(written) == [f"resnet8_{variant}.tflite" for variant in ("dynamic_int8", "float16", "float32")]
    (tmp_path / "resnet8_float16.tflite").write_bytes(b"kept")
    assert export("float32", "float16") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "resnet8_float32.tflite exists: pass --overwrite" in err
    assert (tmp_path / "resnet8_float16.tflite").read_bytes() == b"kept"
    assert json.loads((tmp_path / "parity.json").read_text()) == report
    assert export("float16", overwrite=["--overwrite"]) == 0
    assert (tmp_path / "resnet8_float16.tflite").read_bytes()[4:8] == b"TFL3"  # a flatbuffer again


@pytest.mark.parametrize("to", ["saved_model", "tflite"])
def test_an_export_folder_in_use_is_refused_and_a_killed_exports_leftovers_go(resnet8_file, tmp_path, capsys, to):
    """Exports into one folder share its parity.json (and a SavedModel's next version number): a second export while
    one runs is refused in one line naming the holder, and writes nothing. The temporaries a killed export left (a
    staged SavedModel version, a temporary .tflite) are removed by the next export, which holds the folder."""
    from keras_resnet.support import files

    argv = ["export", str(resnet8_file), "--to", to, "--output-dir", str(tmp_path), "--eval-images", "2"]
    argv += ["--variants", "float32", "--repeats", "1"] if to == "tflite" else []
    with files.FolderLock(tmp_path, "run folder"):
        assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"The export folder {str(tmp_path)!r} is in use by process {os.getpid()}" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == [".lock", ".lock.os"]

    staged = tmp_path / ".tmp-1-99999"  # a version staged by a killed export
    (staged / "variables").mkdir(parents=True)
    (staged / "saved_model.pb").write_bytes(b"half")
    (tmp_path / ".tmp-resnet8_float32.tflite-k1ll3d.tflite").write_bytes(b"half")
    beside = tmp_path / "runs" / ".tmp-model.keras-b3s1d3.keras"  # a tree the user keeps there: not the export's
    beside.parent.mkdir()
    beside.write_bytes(b"another writer's")
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".tmp-")]
    assert beside.read_bytes() == b"another writer's"
    assert (tmp_path / ("1" if to == "saved_model" else "resnet8_float32.tflite")).exists()
