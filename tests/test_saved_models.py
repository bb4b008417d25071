"""The shipped model (saved_models/resnet20-digits): it loads, its signatures answer, the REST client's requests give
the model's answers, the TFLite files run in LiteRT, the ONNX and OpenVINO files answer as the Keras model does,
``predict`` gives the same top-5 on every format, and its accuracy is the one saved_models/README.md states."""

import base64
import http.server
import importlib.util
import json
import pathlib
import re
import threading

import numpy as np
import pytest
import tensorflow as tf

from datasets import write_sample_photos
from keras_resnet import data
from keras_resnet.inference import model_file
from keras_resnet.export import runtimes, tflite

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "saved_models" / "resnet20-digits"
README = ROOT / "saved_models" / "README.md"


def _load_client():
    spec = importlib.util.spec_from_file_location("serving_client", ROOT / "saved_models" / "client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


client = _load_client()


@pytest.fixture(scope="module")
def served():
    return tf.saved_model.load(str(SHIPPED / "1"))


@pytest.fixture(scope="module")
def test_split():
    """The digits test split as uint8 ``(360, 32, 32, 3)`` images and their labels."""
    images, labels = zip(*data.eval_dataset(data.load("digits"), batch_size=360))
    return np.concatenate(images).astype("uint8"), np.concatenate(labels)


def _stated(pattern):
    match = re.search(pattern, README.read_text())
    assert match, f"saved_models/README.md no longer states {pattern!r}"
    return match.group(1)


def _serve_rest(served, body):
    """What TF Serving does with a REST predict body (row format): decode the instances as the signature's input,
    call the signature, answer one row of outputs per instance. Takes and returns JSON text."""
    request = json.loads(body)
    signature = served.signatures[request.get("signature_name", "serving_default")]
    (name, spec), = signature.structured_input_signature[1].items()
    instances = request["instances"]
    if spec.dtype == tf.string:
        value = tf.constant([base64.b64decode(instance["b64"]) for instance in instances])
    else:
        value = tf.constant(np.asarray(instances, dtype=spec.dtype.as_numpy_dtype))
    outputs = {key: tensor.numpy() for key, tensor in signature(**{name: value}).items()}
    rows = [{key: [v.decode() if isinstance(v, bytes) else v.item() for v in tensor[i]]
             for key, tensor in outputs.items()} for i in range(len(instances))]
    return json.dumps({"predictions": rows})


def _direct(served, images):
    return {key: tensor.numpy() for key, tensor in
            served.signatures["serving_default"](images=tf.constant(images)).items()}


def test_tf_serving_layout():
    assert (SHIPPED / "1" / "saved_model.pb").is_file() and (SHIPPED / "1" / "variables").is_dir()
    config = (SHIPPED / "models.config").read_text()
    assert "name: 'resnet20-digits'" in config and "base_path: '/models/resnet20-digits'" in config
    size = sum(path.stat().st_size for path in SHIPPED.rglob("*") if path.is_file())
    # model.keras without optimizer state, SavedModel, float32 + int8 TFLite, ONNX, OpenVINO: 6.5 MB, each weight
    # stored once per format.
    assert size < 7 * 2 ** 20, f"the shipped folder grew to {size / 2 ** 20:.1f} MB"


def test_serving_default_takes_uint8_images(served, test_split):
    signature = served.signatures["serving_default"]
    spec = signature.structured_input_signature[1]["images"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, None, None]  # 1, 3 or 4 channels
    images, _ = test_split
    outputs = _direct(served, images[:4])
    assert outputs["probabilities"].shape == (4, 10)
    np.testing.assert_allclose(outputs["probabilities"].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(outputs["classes"][:, 0], outputs["probabilities"].argmax(-1))
    assert [label.decode() for label in outputs["labels"][:, 0]] == [str(c) for c in outputs["classes"][:, 0]]
    bigger = _direct(served, tf.image.resize(images[:2], (64, 64), "nearest").numpy().astype("uint8"))
    np.testing.assert_array_equal(bigger["classes"][:, 0], outputs["classes"][:2, 0])  # any size, resized inside


def test_accuracy_is_the_one_the_readme_states(served, test_split):
    stated = _stated(r"\*\*Accuracy\*\* on the digits test split[^*]*\*\*([0-9.]+) %\*\*")
    images, labels = test_split
    predicted = _direct(served, images)["probabilities"].argmax(-1)
    assert f"{100 * np.mean(predicted == labels):.2f}" == stated


@pytest.mark.parametrize("encoding", ["png", "jpeg"])
def test_predict_jpeg_through_the_rest_client(served, test_split, encoding):
    images = test_split[0][:6]
    encode = tf.io.encode_png if encoding == "png" else tf.io.encode_jpeg
    files = [encode(image).numpy() for image in images]
    answers = client.top_k(json.loads(_serve_rest(served, json.dumps(client.jpeg_request(files)))), k=3)

    pixels = np.stack([tf.io.decode_image(file, channels=3).numpy() for file in files])  # what the server decodes
    expected = _direct(served, pixels)
    assert len(answers) == len(images)
    for answer, probabilities in zip(answers, expected["probabilities"]):
        best = np.argsort(-probabilities)[:3]
        assert [label for label, _ in answer] == [str(c) for c in best]
        np.testing.assert_allclose([score for _, score in answer], probabilities[best], atol=1e-5)


def test_serving_default_through_the_rest_client(served, test_split):
    images = test_split[0][6:10]
    body = json.dumps(client.pixels_request(list(images)))
    assert json.loads(body)["instances"][0][0][0] == images[0, 0, 0].tolist()  # nested lists of uint8
    answers = client.top_k(json.loads(_serve_rest(served, body)))
    expected = _direct(served, images)
    assert [[label for label, _ in answer] for answer in answers] == \
        [[label.decode() for label in row] for row in expected["labels"]]
    with pytest.raises(ValueError, match="uint8"):
        client.pixels_request([images[0].astype("float32")])


def test_client_command_against_a_rest_endpoint(served, test_split, capsys):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            assert self.path == "/v1/models/resnet20-digits:predict"
            answer = _serve_rest(served, self.rfile.read(int(self.headers["Content-Length"]))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1/models/resnet20-digits:predict"
        assert client.main([url, "--digits", "4", "--top-k", "2"]) == 0
    finally:
        server.shutdown()
    lines = capsys.readouterr().out.splitlines()
    expected = _direct(served, test_split[0][:4])["labels"][:, 0]
    assert len(lines) == 4
    for line, label, truth in zip(lines, expected, test_split[1][:4]):
        assert line.startswith("test digit") and f"(true label {truth}): {label.decode()} (" in line


def test_int8_tflite_runs_in_litert(served, test_split):
    report = json.loads((SHIPPED / "tflite" / "parity.json").read_text())
    runner = tflite.interpreter((SHIPPED / "tflite" / "resnet20_int8.tflite").read_bytes())
    assert runner.get_input_details()[0]["dtype"] == np.uint8  # raw pixels in
    images, labels = test_split
    probabilities = tflite.run(runner, images.astype("float32"))
    reference = _direct(served, images)["probabilities"]
    assert np.mean(probabilities.argmax(-1) == reference.argmax(-1)) >= 0.98
    accuracy = np.mean(probabilities.argmax(-1) == labels)
    assert report["eval_images"] == len(images)
    assert abs(accuracy - report["variants"]["int8"]["accuracy"]) <= 1 / len(images) + 1e-9


@pytest.mark.parametrize("artifact", ["portable/resnet20.onnx", "portable/resnet20.xml"])
def test_onnx_and_openvino_answer_as_the_keras_model(artifact, test_split):
    """Issue 25's parity: on the 360 held-out digits, top-1 agreement 100 % with the Keras file and every probability
    within 1e-4 of it, as the folder's parity.json records."""
    pytest.importorskip("onnxruntime" if artifact.endswith(".onnx") else "openvino")
    runner = runtimes.open_artifact(SHIPPED / artifact)
    images, labels = test_split
    pixels = np.stack([runner.prepare(image) for image in images])
    np.testing.assert_array_equal(pixels, images)  # the digits are 32x32 already: the view keeps them
    keras_model = model_file.raw_pixel_model(model_file.load_model(SHIPPED / "model.keras"))
    reference = np.asarray(keras_model(pixels.astype("float32")))
    probabilities = runner(pixels)
    assert np.mean(probabilities.argmax(-1) == reference.argmax(-1)) == 1.0
    assert np.abs(probabilities - reference).max() < 1e-4
    entry = json.loads((SHIPPED / "portable" / "parity.json").read_text())["variants"][runner.kind]
    assert entry["top1_agreement"] == 1.0 and entry["max_abs_prob_diff"] < 1e-4
    assert abs(entry["accuracy"] - np.mean(reference.argmax(-1) == labels)) < 1e-9


def test_predict_gives_the_same_top5_on_every_format(tmp_path, capsys):
    """``keras-resnet predict`` on a photograph: the SavedModel, the float32 TFLite file, the ONNX and the OpenVINO
    files print the top-5 (classes, names, scores to the printed precision) of the .keras file; the int8 file its
    top-1."""
    from keras_resnet import cli

    photo = write_sample_photos(tmp_path)[0]

    def top5(model):
        assert cli.main(["predict", str(model), str(photo), "--json"]) == 0
        (result,) = json.loads(capsys.readouterr().out)["predictions"]
        return result["predictions"]

    expected = top5(SHIPPED / "model.keras")
    assert len(expected) == 5
    formats = ["1", "tflite/resnet20_float32.tflite"]
    formats += ["portable/resnet20.onnx"] if importlib.util.find_spec("onnxruntime") else []
    formats += ["portable/resnet20.xml"] if importlib.util.find_spec("openvino") else []
    for artifact in formats:
        answer = top5(SHIPPED / artifact)
        assert [(e["class"], e["name"]) for e in answer] == [(e["class"], e["name"]) for e in expected], artifact
        np.testing.assert_allclose([e["score"] for e in answer], [e["score"] for e in expected], atol=5e-5)
    int8 = top5(SHIPPED / "tflite" / "resnet20_int8.tflite")
    assert (int8[0]["class"], int8[0]["name"]) == (expected[0]["class"], expected[0]["name"])
