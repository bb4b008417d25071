"""SavedModel for TF Serving and TFLite/LiteRT: same predictions as Keras through every signature and variant."""

import base64
import json
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_resnet
from keras_resnet import cli, data
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
    path = tmp_path_factory.mktemp("resnet50") / "resnet50.keras"
    keras_resnet.ResNet50(weights=None, input_shape=(64, 64, 3)).save(path)
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

    images = _images(4, size)
    expected = np.asarray(model(preprocess(images.astype("float32")), training=False))
    outputs = served.signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
    top = np.take_along_axis(expected, outputs["classes"].numpy(), axis=-1)  # ties allowed: compare the scores
    np.testing.assert_allclose(top, -np.sort(-expected, axis=-1)[:, :3], atol=1e-6)
    np.testing.assert_allclose(outputs["scores"].numpy(), top, atol=1e-5)
    if which == "resnet20":  # the run's class names travel into the graph
        assert outputs["labels"].numpy()[0, 0].decode() == str(np.argmax(expected[0]))

    decoded_in_python = np.stack([tf.io.decode_jpeg(tf.io.encode_jpeg(image)).numpy() for image in images])
    expected_jpeg = np.asarray(model(preprocess(decoded_in_python.astype("float32")), training=False))
    outputs = served.signatures["predict_jpeg"](image_bytes=_rest_payload(images))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected_jpeg, atol=1e-5)


def test_saved_model_cli_lists_the_signatures(digits_run, tmp_path):
    target, _ = export_saved_model(digits_run / "model.keras", tmp_path / "resnet20")
    cli_path = shutil.which("saved_model_cli", path=str(__import__("pathlib").Path(sys.executable).parent))
    shown = subprocess.run([cli_path or "saved_model_cli", "show", "--dir", target, "--all"], capture_output=True,
                           text=True, check=True).stdout
    default = shown[shown.index("signature_def['serving_default']"):]
    jpeg = shown[shown.index("signature_def['predict_jpeg']"):shown.index("signature_def['serving_default']")]
    assert "inputs['images']" in default and "DT_UINT8" in default and "shape: (-1, -1, -1, 3)" in default
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
        cli.main(["export", str(digits_run / "model.keras"), "--to", "onnx", "--output", str(tmp_path / "x")])
    assert "invalid choice: 'onnx'" in capsys.readouterr().err
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(digits_run / "model.keras", lone / "model.keras")  # without the run's preprocessing.json
    fails([str(lone / "model.keras"), "--to", "tflite", "--output", str(tmp_path / "t"), "--variants", "int8"],
          "int8 needs a representative dataset")
    assert data.DATASETS  # the message names --dataset, one of these
