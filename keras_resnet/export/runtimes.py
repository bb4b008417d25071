"""Running exported models in their own runtimes, behind one interface.

``open_artifact(path)`` opens what ``keras-resnet export`` writes and returns a ``Runner``:

- ``.onnx``: ONNX Runtime (CPU), the ``portable.serving_model`` graph (uint8 pixels in);
- ``.xml``: OpenVINO (compiled for ``"CPU"``; its ``.bin`` beside it), the same graph, in float32 (OpenVINO's CPU
  default is bfloat16 where the processor has it, e.g. AVX512-BF16: probabilities 5e-4 away from Keras' on a ResNet-8,
  against 3e-8 in float32; ``openvino_precision="bf16"`` asks for it);
- ``.tflite``: the LiteRT interpreter (``tflite.interpreter``): float32 raw ``[0, 255]`` pixels in (the ``int8``
  variant: uint8), probabilities out;
- a SavedModel folder (or a TF Serving base folder of versions, the newest taken): its ``serving_default``
  signature, uint8 images of any size in, the view inside the graph.

The first three read their card (``portable.read_card``) for the view their graph cannot hold, their input and
their class names. A runner's use::

    runner = open_artifact("resnet20.onnx")
    batch = np.stack([runner.prepare(image) for image in images])   # uint8 (h, w, 3) of any size each
    probabilities = runner(batch)                                    # float32 (N, classes)

``runner(images)`` checks its input before the runtime sees it (the runtimes refuse some bad inputs with long
messages and silently accept others: OpenVINO casts float32 to uint8): not a numpy array, another dtype, a rank other
than 4, another image size or an empty batch is a ``ValueError`` of one line naming what it takes.
"""

import os

import numpy as np

from keras_resnet.export import portable
from keras_resnet.support.timing import median_latency

KINDS = {".onnx": "onnx", ".xml": "openvino", ".tflite": "tflite"}
EXTRAS = {"onnx": ("onnxruntime", "onnx"), "openvino": ("openvino", "openvino")}
PROBABILITIES = "probabilities"
RUNTIMES = {"onnx": "ONNX Runtime", "openvino": "OpenVINO", "tflite": "The LiteRT interpreter"}


def missing_runtime(path, kind):
    """The one line for a runtime package that is not installed."""
    module, extra = EXTRAS[kind]
    return (f"{os.fspath(path)!r} runs in {module}, which is not installed: pip install -e \".[{extra}]\" "
            f"(or pip install {module}).")


def load(path, kind, loader):
    """``loader()``, its failure (a file that is not what its extension says: text, truncated) as one line naming
    the file instead of the runtime's traceback."""
    try:
        return loader()
    except Exception as error:  # each runtime raises its own types (InvalidProtobuf, RuntimeError, ValueError)
        lines = str(error).strip().splitlines() or [type(error).__name__]
        raise ValueError(f"{RUNTIMES[kind]} cannot load {path!r} ({lines[0][:200]}): is it the file keras-resnet "
                         "export wrote? Export the .keras model again.") from None


def saved_model_dir(path):
    """``path`` if it holds ``saved_model.pb``, the newest version of a TF Serving base folder, else ``None``."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = [name for name in os.listdir(path) if name.isdigit()
                and os.path.isfile(os.path.join(path, name, "saved_model.pb"))]
    return os.path.join(path, max(versions, key=int)) if versions else None


def load_signature(path, name):
    """``(the loaded SavedModel, its signature name)``; one line when the SavedModel in ``path`` has none."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    if name not in loaded.signatures:
        raise ValueError(f"The SavedModel in {path!r} has no {name} signature: export it with keras-resnet export "
                         "MODEL --to saved_model.")
    return loaded, loaded.signatures[name]


def open_artifact(path, openvino_precision="f32"):
    """The ``Runner`` of the exported model at ``path`` (see the module); one-line ``ValueError`` for a missing
    file, another extension, a missing or foreign card or a runtime that is not installed. ``openvino_precision``:
    OpenVINO's ``INFERENCE_PRECISION_HINT`` on the CPU (``"f32"``, ``"bf16"``, ``"f16"``)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        saved = saved_model_dir(path)
        if saved is None:
            raise ValueError(f"{path!r} is a folder without saved_model.pb: pass a SavedModel folder (keras-resnet "
                             "export --to saved_model) or an exported .onnx, .xml or .tflite file.")
        return SavedModelRunner(saved)
    kind = KINDS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise ValueError(f"{path!r} is not an exported model: expected a .onnx (ONNX), .xml (OpenVINO) or .tflite "
                         "file, or a SavedModel folder.")
    if not os.path.isfile(path):
        raise ValueError(f"No such exported model: {path!r}.")
    card = portable.read_card(path)
    if card.get("format") != kind:
        raise ValueError(f"The card beside {path!r} ({portable.card_path(path)}) is for a {card.get('format')!r} "
                         f"export, not {kind!r}: keep each artifact with its own card.")
    if kind == "openvino":
        return OpenVinoRunner(path, card, openvino_precision)
    return {"onnx": OnnxRunner, "tflite": TFLiteRunner}[kind](path, card)


class Runner:
    """One exported model in its runtime (see the module). Subclasses set ``kind`` and implement ``_run``."""

    kind = None

    def __init__(self, path, card):
        self.path = os.fspath(path)
        self.card = card
        self.input_dtype = card["input"]["dtype"]
        shape = card["input"]["shape"]
        self.input_size = None if shape[1] is None else (int(shape[1]), int(shape[2]))
        self.transform = card["transform"]
        self.class_names = list(card["class_names"]) if card.get("class_names") else None

    @property
    def label(self):
        """How messages name the artifact: its file name (a SavedModel: its folder)."""
        return self.path if os.path.isdir(self.path) else os.path.basename(self.path)

    def expects(self):
        height, width = self.input_size
        return f"{self.input_dtype} images of shape (batch, {height}, {width}, 3)"

    def prepare(self, image):
        """uint8 ``(h, w, 3)`` image of any size (or grey ``(h, w)``, ``(h, w, 1)``, RGBA; another dtype is refused)
        -> ``(H, W, 3)`` of ``input_dtype``: the card's view (``data.apply_eval_transform``), rounded to 8-bit pixels
        for a uint8 input."""
        from keras_resnet import data

        view = np.asarray(data.apply_eval_transform(_rgb(image, self.label), self.transform))
        if self.input_dtype == "uint8":
            return np.clip(np.round(view), 0, 255).astype("uint8")
        return view.astype(self.input_dtype)

    def check(self, images):
        """Refuses (``ValueError``, one line) what is not a non-empty batch of ``expects()``."""
        if not isinstance(images, np.ndarray):
            raise ValueError(f"{self.label} takes {self.expects()} as a numpy array; got {type(images).__name__}.")
        size_ok = (images.ndim == 4 and images.shape[-1] == 3
                   and (self.input_size is None or tuple(images.shape[1:3]) == tuple(self.input_size)))
        if images.dtype != np.dtype(self.input_dtype) or not size_ok:
            raise ValueError(f"{self.label} takes {self.expects()}; got {images.dtype} {tuple(images.shape)}.")
        if images.shape[0] == 0 or 0 in images.shape[1:3]:
            raise ValueError(f"{self.label} takes {self.expects()}; got an empty batch {tuple(images.shape)}.")

    def __call__(self, images):
        """``(N, H, W, 3)`` of ``input_dtype`` -> probabilities float32 ``(N, classes)``."""
        self.check(images)
        return np.asarray(self._run(images), dtype="float32")

    def latency(self, image, repeats=50):
        """Median seconds of one batch-1 call on ``image`` (a prepared ``(H, W, 3)``; ``timing.median_latency``)."""
        batch = np.asarray(image)[None]
        self.check(batch)
        return median_latency(lambda: self._run(batch), repeats)

    def _run(self, images):
        raise NotImplementedError


class OnnxRunner(Runner):
    """An ``.onnx`` file in ONNX Runtime (CPU)."""

    kind = "onnx"

    def __init__(self, path, card):
        super().__init__(path, card)
        try:
            import onnxruntime
        except ImportError:
            raise ValueError(missing_runtime(path, self.kind)) from None
        self.session = load(self.path, self.kind, lambda: onnxruntime.InferenceSession(
            self.path, providers=["CPUExecutionProvider"]))
        self.input_name = self.session.get_inputs()[0].name

    def _run(self, images):
        return self.session.run([PROBABILITIES], {self.input_name: images})[0]


class OpenVinoRunner(Runner):
    """An OpenVINO ``.xml`` (with its ``.bin``) compiled for the CPU at ``precision`` (default float32)."""

    kind = "openvino"

    def __init__(self, path, card, precision="f32"):
        super().__init__(path, card)
        weights = os.path.splitext(self.path)[0] + ".bin"
        if not os.path.isfile(weights):
            raise ValueError(f"{self.path!r} needs its weights {weights!r} beside it: keep the .xml and .bin that "
                             "keras-resnet export wrote together.")
        try:
            import openvino
        except ImportError:
            raise ValueError(missing_runtime(path, self.kind)) from None
        self.compiled = load(self.path, self.kind, lambda: openvino.Core().compile_model(
            self.path, "CPU", {"INFERENCE_PRECISION_HINT": precision}))
        self.output = next(output for output in self.compiled.outputs if PROBABILITIES in output.get_names())

    def _run(self, images):
        return self.compiled(images)[self.output]


class TFLiteRunner(Runner):
    """A ``.tflite`` file in the LiteRT interpreter, the input resized to each batch (one image per invoke where
    the interpreter cannot resize it)."""

    kind = "tflite"

    def __init__(self, path, card):
        super().__init__(path, card)
        from keras_resnet.export.tflite import input_value, interpreter

        self.quantised = input_value  # raw pixels -> the input's dtype (tflite.py imports TensorFlow: not at the top)

        with open(self.path, "rb") as file:
            content = file.read()
        self.interpreter = load(self.path, self.kind, lambda: interpreter(content))
        self.source = self.interpreter.get_input_details()[0]
        self.target = self.interpreter.get_output_details()[0]
        self.batch = 1
        self.resizable = self.source["shape_signature"][0] == -1

    def _invoke(self, images):
        if len(images) != self.batch:
            self.interpreter.resize_tensor_input(self.source["index"], [len(images), *images.shape[1:]])
            self.interpreter.allocate_tensors()
            self.batch = len(images)
        self.interpreter.set_tensor(self.source["index"], self.quantised(self.source, images))
        self.interpreter.invoke()
        output = self.interpreter.get_tensor(self.target["index"])
        if self.target["dtype"] in (np.uint8, np.int8):  # a quantised output: back to probabilities
            scale, zero = self.target["quantization"]
            output = (output.astype("float32") - zero) * scale
        return output

    def _run(self, images):
        if self.resizable:
            return self._invoke(images)
        return np.concatenate([self._invoke(image[None]) for image in images])


class SavedModelRunner(Runner):
    """A SavedModel's ``serving_default`` signature: uint8 RGB images of any size in (one size per batch), the
    view and the normalisation in its graph; its card is derived from the signature."""

    kind = "saved_model"

    def __init__(self, path):
        self._loaded, self.signature = load_signature(path, "serving_default")  # the signature needs _loaded alive
        outputs = self.signature.structured_outputs
        if PROBABILITIES not in outputs:
            raise ValueError(f"The SavedModel in {path!r} has no probabilities output: export it with "
                             "keras-resnet export MODEL --to saved_model.")
        classes = outputs[PROBABILITIES].shape[-1]
        card = {"format": "saved_model", "artifact": path, "transform": None,
                "input": {"name": "images", "dtype": "uint8", "shape": [None, None, None, 3],
                          "layout": "NHWC, RGB, raw [0, 255] pixels, any size"},
                "outputs": sorted(outputs), "in_graph": "the view (resize, crop) and the normalisation",
                "beside_graph": "decoding the image file", "class_names": self._labels(classes)}
        super().__init__(path, card)

    def _labels(self, classes):
        """The class names the signature ranks its top-k with (a captured string constant), else ``None``."""
        for value in self.signature.captured_inputs:
            if value.dtype.name == "string" and value.shape.rank == 1 and value.shape[0] == classes:
                return [name.decode() for name in value.numpy()]
        return None

    def expects(self):
        return "uint8 images of shape (batch, height, width, 3)"

    def prepare(self, image):
        """uint8 ``(h, w, 3)`` (or grey ``(h, w)``, ``(h, w, 1)``, RGBA) -> uint8 RGB ``(h, w, 3)``: the graph
        applies the view."""
        return _rgb(image, self.label)

    def _run(self, images):
        return self.signature(images=images)[PROBABILITIES].numpy()


def _rgb(image, label):
    """An ``(h, w, 3)`` RGB image from a uint8 grey ``(h, w)`` or ``(h, w, 1)``, RGB or RGBA one (alpha dropped);
    anything else is refused in one line naming ``label`` (another dtype too: float pixels in [0, 1] would be read
    as near-black ones, booleans and empty images fail in TensorFlow's resize)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{label} takes uint8 images; got {image.dtype}.")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{label} takes (height, width, 3) images; got {tuple(image.shape)}.")
    if 0 in image.shape[:2]:
        raise ValueError(f"{label} takes (height, width, 3) images; got an empty one {tuple(image.shape)}.")
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]


__all__ = ["KINDS", "OnnxRunner", "OpenVinoRunner", "Runner", "SavedModelRunner", "TFLiteRunner", "load_signature",
           "open_artifact", "saved_model_dir"]
