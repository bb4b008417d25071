"""What the ONNX, OpenVINO and TFLite exports share: the graph they hold and the card that goes beside it.

The graph (``serving_model``): raw uint8 RGB pixels ``images`` ``(batch, H, W, 3)`` at the model's input size in,
the model's inference contract's normalisation (and layout) inside, and three outputs as the SavedModel's
``serving_default`` gives them: ``probabilities`` float32 ``(batch, classes)``, ``scores`` float32 ``(batch, k)`` and
``classes`` int32 ``(batch, k)``, the top-k best first.

What such a fixed-size graph cannot hold is the contract's view: decoding an image file of any size, resizing it
(and cropping its centre), and rounding it to 8-bit pixels. The card (``<artifact>.json``, e.g. ``resnet20.onnx.json``,
``write_card``) says so and carries what a runtime's user applies before the graph: the view
(``data.apply_eval_transform``'s dict), the input's name, dtype and shape, the output names, the class names and the
whole contract. ``predict`` reads it (``read_card``).
"""

import os

import keras

from keras_resnet.support import files
from keras_resnet.inference import model_file
from keras_resnet.models.contract import InferenceContract, contract_of
from keras_resnet.models.layers import TopK

CARD_SUFFIX = ".json"
CARD_VERSION = 1
OUTPUTS = ("probabilities", "scores", "classes")


def serving_model(model, found=None, top_k=5):
    """``model`` as the exported graphs hold it (see the module): uint8 ``(batch, H, W, 3)`` -> ``{"probabilities",
    "scores", "classes"}``, normalised by its contract ``found`` (default: the model's) inside."""
    found = found or contract_of(model)
    height, width = model_file.input_size(model)
    _constants_in_graph(model)
    images = keras.Input((height, width, 3), dtype="uint8", name="images")
    pixels = keras.layers.Rescaling(1.0, name="to_float32")(images)  # uint8 -> float32, values unchanged
    probabilities = keras.layers.Activation("linear", dtype="float32", name="probabilities")(
        model_file.raw_pixel_model(model, found)(pixels))
    scores, classes = TopK(top_k, name="top_k")(probabilities)
    outputs = {"probabilities": probabilities, "scores": scores, "classes": classes}
    served = keras.Model(images, outputs, name=model.name)
    served(keras.ops.zeros((1, height, width, 3), "uint8"))  # Keras' exporters refuse a model never called
    return served


def _constants_in_graph(model):
    """Makes the fixed mean and variance of ``model``'s ``Normalization`` layers (a run's ``mean_subtraction``)
    numpy arrays, the same values, in place. A loaded layer holds them as eager tensors, which a traced function
    captures as inputs: the ONNX converter (tf2onnx) leaves them as graph inputs that ONNX Runtime then asks for
    ("Required inputs ... mean_subtraction/Sub/y:0 are missing"); numpy arrays become constants of the graph."""
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.Normalization) and layer.input_mean is not None and layer.built:
            layer.mean = keras.ops.convert_to_numpy(layer.mean)
            layer.variance = keras.ops.convert_to_numpy(layer.variance)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):  # a nested model
            yield from _all_layers(layer)


def card_path(artifact):
    """The card beside ``artifact``: ``<artifact>.json``."""
    return os.fspath(artifact) + CARD_SUFFIX


def write_card(artifact, export_format, found, class_names, source, input_dtype="uint8", top_k=5, outputs=OUTPUTS,
               in_graph=None):
    """Writes ``artifact``'s card (atomically) and returns it as a dict.

    Args:
        artifact: the exported file (``.onnx``, ``.xml``, ``.tflite``).
        export_format: ``"onnx"``, ``"openvino"`` or ``"tflite"``.
        found: the model's ``InferenceContract``.
        class_names: one name per class.
        source: the ``.keras`` file it was exported from.
        input_dtype: ``"uint8"`` or ``"float32"`` (raw ``[0, 255]`` pixels either way).
        top_k: ``k`` of the ``scores`` / ``classes`` outputs (ignored when ``outputs`` has only probabilities).
        outputs: the graph's output names, in the runtime's order.
        in_graph: what of the contract the graph holds, in words (default: the normalisation, for uint8 input).
    """
    height, width = found.input_size
    card = {
        "card_version": CARD_VERSION, "format": export_format, "artifact": os.path.basename(artifact),
        "source": os.fspath(source),
        "input": {"name": "images", "dtype": input_dtype, "shape": [None, height, width, 3],
                  "layout": "NHWC, RGB, raw [0, 255] pixels"},
        "outputs": list(outputs), "top_k": min(top_k, len(class_names)) if len(outputs) > 1 else None,
        "in_graph": in_graph or graph_words(found),
        "beside_graph": "view: decode the image file, " + _view_words(found) + ", round to uint8 (transform)",
        "transform": found.transform, "class_names": list(class_names), "contract": found.to_config(),
    }
    files.write_json(card_path(artifact), card)
    return card


def graph_words(found, pixels="uint8 pixels cast to float32"):
    """What an exported graph does to its ``pixels`` before the network's layers, in words (a card's
    ``in_graph``)."""
    if found.normalizes:
        return f"{pixels}, normalisation {found.normalization}, then the network"
    return (f"{pixels}, then the network (raw [0, 255] pixels: a model trained by keras-resnet subtracts its "
            "training-set mean in its first layer)")


def _view_words(found):
    if found.method == "center_crop":
        return (f"resize the shorter side to {found.resize} (antialiased {found.interpolation}), crop the central "
                f"{found.crop}x{found.crop}")
    height, width = found.input_size
    return f"resize the whole image to {height}x{width} (antialiased {found.interpolation})"


def read_card(artifact):
    """The card of ``artifact`` (a dict, ``contract`` as an ``InferenceContract``); one line naming the fix when it
    is missing or is not a card."""
    path = card_path(artifact)
    try:
        card = files.read_json(path)
    except ValueError as error:  # not JSON: name the card, not the parser's position alone
        raise ValueError(f"The card beside {os.fspath(artifact)!r} ({path}) is not valid JSON ({error}): keras-resnet "
                         "export writes it; export the .keras model again.") from None
    if not isinstance(card, dict) or "transform" not in card or "input" not in card:
        raise ValueError(f"{os.fspath(artifact)!r} has no card beside it ({path} is missing or not one): keras-resnet "
                         "export writes it; export the .keras model again, or keep the card with the file.")
    return {**card, "contract": InferenceContract.from_config(card["contract"])}
