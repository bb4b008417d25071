"""Broken exported files and a missing --labels file are refused in one line naming the file (found in a user trial
of the deployment commands: each of these printed a traceback or a parser message without the file's name).

Uses copies of the shipped digits ResNet-20's files; nothing is exported or trained here."""

import importlib.util
import json
import pathlib
import shutil

import pytest
from PIL import Image

from keras_resnet import cli
from keras_resnet.inference import predict
from keras_resnet.export import export_saved_model, runtimes

SHIPPED = pathlib.Path(__file__).resolve().parent.parent / "saved_models" / "resnet20-digits"
ARTIFACTS = {"onnx": ("portable", "resnet20.onnx", "onnxruntime"), "openvino": ("portable", "resnet20.xml", "openvino"),
             "tflite": ("tflite", "resnet20_float32.tflite", "tflite_runtime_or_tf")}


def copy_artifact(kind, folder):
    """A copy of the shipped ``kind`` file with its card (and the OpenVINO ``.bin``) in ``folder``: its path."""
    sub, name, module = ARTIFACTS[kind]
    if kind != "tflite" and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    source = SHIPPED / sub / name
    for path in (source, source.with_name(name + ".json"), source.with_suffix(".bin")):
        if path.exists():
            shutil.copy(path, folder / path.name)
    return folder / name


@pytest.mark.parametrize("kind", ["onnx", "openvino", "tflite"])
def test_a_file_that_is_not_its_format_is_refused_naming_it(kind, tmp_path):
    path = copy_artifact(kind, tmp_path)
    content = path.read_bytes()
    path.write_bytes(b"hello\n" if kind != "tflite" else content[: len(content) // 2])  # text / truncated
    expected = rf"{runtimes.RUNTIMES[kind]} cannot load .*{path.name}.*Export the \.keras model again"
    with pytest.raises(ValueError, match=expected):
        runtimes.open_artifact(path)


def test_a_card_that_is_not_json_is_refused_naming_it(tmp_path):
    path = copy_artifact("tflite", tmp_path)
    pathlib.Path(f"{path}.json").write_text("{garbage")
    with pytest.raises(ValueError, match=rf"card beside .*{path.name}.*{path.name}\.json\) is not valid JSON"):
        runtimes.open_artifact(path)


@pytest.mark.parametrize("model", ["model.keras", "1", "tflite/resnet20_float32.tflite"])
def test_predict_refuses_a_missing_labels_file_in_one_line(model, tmp_path, capsys):
    assert cli.main(["predict", str(SHIPPED / model), str(tmp_path), "--labels", str(tmp_path / "none.txt")]) == 2
    assert "--labels file not found" in capsys.readouterr().err


def test_predict_refuses_labels_for_a_saved_model(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join("abcdefghij"))
    with pytest.raises(ValueError, match="A SavedModel applies .* class names .* leave out .*--labels"):
        predict.load_classifier(str(SHIPPED / "1"), labels_file=str(labels))


def test_export_saved_model_refuses_a_missing_labels_file_before_writing(tmp_path):
    with pytest.raises(ValueError, match="--labels file not found"):
        export_saved_model(str(SHIPPED / "model.keras"), str(tmp_path / "out"), labels_file=str(tmp_path / "x.txt"))
    assert not (tmp_path / "out").exists()


def test_predict_refuses_a_card_with_another_number_of_class_names(tmp_path, capsys):
    path = copy_artifact("tflite", tmp_path)
    card = json.loads(pathlib.Path(f"{path}.json").read_text())
    pathlib.Path(f"{path}.json").write_text(json.dumps({**card, "class_names": card["class_names"][:5]}))
    Image.new("RGB", (32, 32)).save(tmp_path / "black.png")
    assert cli.main(["predict", str(path), str(tmp_path / "black.png"), "--top-k", "10"]) == 2
    assert "gives 10 classes but its card names 5" in capsys.readouterr().err
