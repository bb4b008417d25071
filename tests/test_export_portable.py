"""ONNX and OpenVINO export (``keras-resnet export --to onnx / openvino``), the cards beside every exported file, and
the parity.json that all exports into one folder share."""

import json

import keras
import numpy as np
import pytest

from conftest import randomize_batchnorm
from keras_resnet import cli
from keras_resnet.export import export_tflite


def _needs(*modules):
    for module in modules:
        pytest.importorskip(module, reason=f"{module} is not installed (pip install -e '.[onnx,openvino]')")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A trained-free CIFAR ResNet-8 at 32x32 with 4 classes, non-trivial BN statistics and torch's normalisation
    in its contract (no run: parity on random images). Its classifier is scaled down so that its probabilities are
    not saturated: a shift of 0.4 pixel values moves them by about 3e-4, which the parity report must not see."""
    import keras_resnet
    from keras_resnet.models.contract import contract_of

    keras.utils.set_random_seed(1)
    model = keras_resnet.build("resnet8", classes=4, input_shape=(32, 32, 3))
    randomize_batchnorm(model, np.random.default_rng(1))
    model.contract = contract_of(model).with_normalization("torch")
    classifier = model.get_layer("predictions")
    classifier.kernel.assign(classifier.kernel * 0.1)
    path = tmp_path_factory.mktemp("model") / "resnet8.keras"
    model.save(path)
    return path


def _export(model_file, folder, to, *options):
    return cli.main(["export", str(model_file), "--to", to, "--output-dir", str(folder), "--eval-images", "24",
                     "--repeats", "2", *options])


def _pixels(count=6, seed=3):
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def _keras_outputs(model_file, pixels):
    model = keras.saving.load_model(model_file, safe_mode=True)
    return np.asarray(model(model.preprocess_input(pixels.astype("float32")), training=False))


def test_onnx_and_openvino_hold_the_graph_and_say_the_view(model_file, tmp_path, capsys):
    """Both files take uint8 pixels and give the Keras probabilities and top-k; each card says what the graph holds
    and the view to apply before it; parity.json has both entries after two exports to one folder."""
    _needs("onnxruntime", "onnx", "tf2onnx", "openvino")
    import onnxruntime
    import openvino

    assert _export(model_file, tmp_path, "onnx", "--top-k", "3") == 0
    printed = capsys.readouterr().out
    assert "in the graph: uint8 pixels cast to float32, normalisation torch, then the network" in printed
    assert _export(model_file, tmp_path, "openvino", "--top-k", "3") == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".lock", ".lock.os", "parity.json", "resnet8.bin", "resnet8.onnx", "resnet8.onnx.json", "resnet8.xml", "resnet8.xml.json"]

    pixels = _pixels()
    expected = _keras_outputs(model_file, pixels)
    top = -np.sort(-expected, axis=-1)[:, :3]
    session = onnxruntime.InferenceSession(str(tmp_path / "resnet8.onnx"))
    assert [source.name for source in session.get_inputs()] == ["images"]
    onnx_outputs = dict(zip([output.name for output in session.get_outputs()], session.run(None, {"images": pixels})))
    # float32: OpenVINO computes in bfloat16 by default on CPUs with AVX512-BF16 (1.7e-3 from Keras here)
    compiled = openvino.Core().compile_model(str(tmp_path / "resnet8.xml"), "CPU",
                                             {"INFERENCE_PRECISION_HINT": "f32"})
    answer = compiled(pixels)
    openvino_outputs = {name: answer[output] for output in compiled.outputs for name in output.get_names()}
    for outputs in (onnx_outputs, openvino_outputs):
        np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
        np.testing.assert_allclose(outputs["scores"], top, atol=1e-5)
        np.testing.assert_array_equal(outputs["classes"], np.argsort(-expected, axis=-1)[:, :3])

    for name, export_format in (("resnet8.onnx", "onnx"), ("resnet8.xml", "openvino")):
        card = json.loads((tmp_path / f"{name}.json").read_text())
        assert (card["format"], card["artifact"], card["top_k"]) == (export_format, name, 3)
        assert card["input"] == {"name": "images", "dtype": "uint8", "shape": [None, 32, 32, 3],
                                 "layout": "NHWC, RGB, raw [0, 255] pixels"}
        assert card["outputs"] == ["probabilities", "scores", "classes"]
        assert card["transform"] == {"method": "resize", "size": 32}
        assert card["beside_graph"].startswith("view: decode the image file, resize the whole image to 32x32")
        assert card["class_names"] == ["0", "1", "2", "3"]

    report = json.loads((tmp_path / "parity.json").read_text())
    assert list(report["variants"]) == ["onnx", "openvino"] and report["eval_images"] == 24
    assert "reference" in report["variants"]["onnx"] and "reference" not in report["variants"]["openvino"]
    for entry in report["variants"].values():
        assert entry["top1_agreement"] == 1.0 and entry["max_abs_prob_diff"] < 1e-5  # the graphs, same pixels
        assert entry["latency_ms"] > 0 and entry["speedup_vs_keras"] > 0 and entry["size_mb"] > 0
        assert entry["accuracy"] is None  # random images: no labels


def test_parity_on_digits_images_and_beside_tflite_variants(tmp_path, capsys):
    """A run's model (its first layer subtracts the training mean: a Normalization layer, whose loaded mean ONNX
    Runtime asked for as an input, "Required inputs ... mean_subtraction/Sub/y:0 are missing") on the digits test
    images: both accuracies are measured; a TFLite export into the folder first keeps its entry (and gets its card:
    float32 pixels in, probabilities out)."""
    _needs("onnxruntime", "onnx", "tf2onnx")
    from keras_resnet import data
    from keras_resnet.training.trainer import build_model

    path = tmp_path / "resnet8-digits.keras"
    build_model("resnet8", data.load("digits")).save(path)  # as a digits run's model.keras, untrained
    folder = tmp_path / "out"
    export_tflite(path, folder, ["float32"], dataset="digits", eval_images=8, repeats=1)
    card = json.loads((folder / "resnet8_float32.tflite.json").read_text())
    assert (card["format"], card["input"]["dtype"], card["outputs"], card["top_k"]) == (
        "tflite", "float32", ["probabilities"], None)
    assert "subtracts its training-set mean" in card["in_graph"]
    assert _export(path, folder, "onnx", "--dataset", "digits") == 0
    assert "tflite float32 *" in capsys.readouterr().out
    report = json.loads((folder / "parity.json").read_text())
    assert list(report["variants"]) == ["float32", "onnx"] and report["dataset"] == "digits"
    onnx = report["variants"]["onnx"]
    assert onnx["top1_agreement"] == 1.0 and onnx["max_abs_prob_diff"] < 1e-4
    assert onnx["accuracy"] == report["keras"]["accuracy"] and 0 <= onnx["accuracy"] <= 1


def test_an_existing_file_is_replaced_only_with_overwrite(model_file, tmp_path, capsys):
    _needs("onnxruntime", "onnx", "tf2onnx", "openvino")
    (tmp_path / "resnet8.onnx").write_bytes(b"kept")
    (tmp_path / "resnet8.bin").write_bytes(b"kept")  # half an OpenVINO export is an export too
    for to, name in (("onnx", "resnet8.onnx"), ("openvino", "resnet8.bin")):
        assert _export(model_file, tmp_path, to) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{name} exists: pass --overwrite to replace it" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == [".lock", ".lock.os", "resnet8.bin", "resnet8.onnx"]
    assert (tmp_path / "resnet8.onnx").read_bytes() == b"kept"

    assert _export(model_file, tmp_path, "onnx", "--overwrite") == 0
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "resnet8.onnx"))
    np.testing.assert_allclose(session.run(["probabilities"], {"images": _pixels()})[0],
                               _keras_outputs(model_file, _pixels()), atol=1e-5)
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".tmp-")]


def test_an_export_killed_mid_write_leaves_nothing_for_the_next(model_file, tmp_path, capsys):
    """An OpenVINO export killed between its temporary .bin and .xml leaves both under temporary names (the
    finished files are never half-written): the next export into the folder removes them."""
    _needs("openvino")
    stale = [tmp_path / ".tmp-resnet8.xml-k1ll3d.xml", tmp_path / ".tmp-resnet8.xml-k1ll3d.bin"]
    for path in stale:
        path.write_bytes(b"half")
    assert _export(model_file, tmp_path, "openvino") == 0
    capsys.readouterr()
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".tmp-")]
    assert (tmp_path / "resnet8.xml").is_file() and (tmp_path / "resnet8.bin").stat().st_size > 1000


@pytest.mark.parametrize("to, option, owner", [
    ("onnx", ["--variants", "int8"], "TFLite"), ("onnx", ["--calibration-steps", "8"], "TFLite"),
    ("openvino", ["--version", "2"], "SavedModel"), ("openvino", ["--precision", "bfloat16"], "SavedModel"),
])
def test_an_option_of_another_format_is_refused(to, option, owner, model_file, tmp_path, capsys):
    assert _export(model_file, tmp_path / "out", to, *option) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{option[0]} is a {owner} option: --to {to} does not take it" in err
    assert not (tmp_path / "out").exists()


def test_a_missing_extra_is_named_with_its_install_command(model_file, tmp_path, capsys, monkeypatch):
    from keras_resnet.support import choices

    # json is always importable: only the missing module is named, whether or not the openvino extra is installed
    monkeypatch.setitem(choices.EXPORT_EXTRAS, "openvino", ("json", "no_such_runtime_module"))
    assert _export(model_file, tmp_path / "out", "openvino") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--to openvino needs no_such_runtime_module, which is not installed: " \
                                    "pip install -e '.[openvino]'" in err
    assert not (tmp_path / "out").exists()


def test_every_missing_module_of_an_extra_is_named(monkeypatch):
    from keras_resnet.support import choices
    from keras_resnet.support.package_check import check_extra

    monkeypatch.setitem(choices.EXPORT_EXTRAS, "onnx", ("json", "no_such_a", "no_such_b"))
    with pytest.raises(ValueError, match=r"^--to onnx needs no_such_a, no_such_b, which are not installed: "
                                         r"pip install -e '\.\[onnx\]'$"):
        check_extra("onnx")
    monkeypatch.setitem(choices.EXPORT_EXTRAS, "onnx", ("json",))
    check_extra("onnx")
