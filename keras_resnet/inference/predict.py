"""Running a classifier on image files: top-k classes with their names and scores, undecodable files skipped.

``load_classifier(model)`` opens what ``keras-resnet predict`` takes as its model:

- a ``.keras`` file (training writes ``runs/<run>/model.keras``), or any classifier saved with ``model.save``, or an
  ``hf://owner/name`` handle of one on the Hugging Face Hub (``hub.py``): it is
  fed through its inference contract (``contract.InferenceContract``, stored in the model: the view, normalisation
  and class names; ``model_file.load_model`` resolves it);
- a SavedModel folder (``saved_model.pb``, or a TF Serving base folder of versions, the newest taken), called
  through its ``predict_jpeg`` signature, which decodes, resizes and preprocesses inside the graph;
- an exported ``.onnx``, OpenVINO ``.xml`` or ``.tflite`` file, run in its own runtime (``export.runtimes``): the
  view its card says (``<file>.json``) applied here, the normalisation in its graph, the class names from the card;
- a registry name with ``weights`` (``"resnet50"`` with ``"imagenet"`` or a weights file).

Images are decoded by ``tf.io.decode_image`` (JPEG, PNG, BMP, GIF; the first frame of an animation) and go through
the contract's view (``data.apply_eval_transform``: the shorter side resized and the centre cropped, or the image
resized to the input), as evaluation, export and serving apply it. ``predict_files`` runs the images in batches and
returns one result per image and one entry per file it could not decode.
"""

import csv
import dataclasses
import io
import json
import os
import re

import numpy as np
import tensorflow as tf

from keras_resnet import data
from keras_resnet.support import files
from keras_resnet.weights import hub
from keras_resnet.inference import model_file
from keras_resnet.applications import registry
from keras_resnet.support.choices import PREDICTION_REPORTS, TRANSFORMS
from keras_resnet.export import runtimes
from keras_resnet.support.validation import check_positive_int

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# Formats the SavedModel's predict_jpeg signature decodes itself; others are re-encoded as PNG (lossless).
SIGNATURE_FORMATS = (b"\xff\xd8\xff", b"\x89PNG")


@dataclasses.dataclass
class Result:
    """The top-k classes of one image, best first: ``[(class index, name, score)]``."""

    path: str
    top: list


@dataclasses.dataclass
class Skipped:
    """A file that was not an image (or could not be read), and why."""

    path: str
    reason: str


def channels_first(model):
    """Whether ``model`` takes ``(batch, 3, H, W)`` images."""
    shape = model.input.shape
    return shape[1] == 3 and shape[-1] != 3


class KerasClassifier:
    """A Keras classifier fed through its ``InferenceContract`` (view, normalisation) with its class names."""

    def __init__(self, model, names, contract):
        self.model = model
        self.names = names
        self.contract = contract
        self.transform = contract.transform
        self.size = int(self.transform["size"])
        self.description = (f"{model.name}: {len(names)} classes, input {self.size}x{self.size}, "
                            f"{self.transform['method']}, preprocessing {contract.normalization}")

    def prepare(self, image, encoded=None):
        """uint8 ``(H, W, 3)`` -> float32 ``(size, size, 3)`` in [0, 255] through the contract's view."""
        del encoded
        return data.apply_eval_transform(image, self.transform)

    def inputs(self, batch):
        """List of prepared images -> the model's input: normalised, in the model's data format."""
        images = tf.stack(batch)
        if self.contract.data_format == "channels_first":
            images = tf.transpose(images, (0, 3, 1, 2))
        return self.contract.preprocess_input(images)

    def predict(self, batch):
        """List of prepared images -> ``(batch, classes)`` scores."""
        return np.asarray(self.model(self.inputs(batch), training=False))

    def name(self, index):
        return self.names[index]


class SavedModelClassifier:
    """A SavedModel written by ``keras_resnet.export``: its ``predict_jpeg`` signature decodes, transforms and
    preprocesses the images in its graph."""

    def __init__(self, path):
        self._loaded, self.signature = runtimes.load_signature(path, "predict_jpeg")  # the signature needs _loaded
        self.labels = {}
        self.description = f"SavedModel {path}: decoding, evaluation transform and preprocessing in its graph"

    def prepare(self, image, encoded):
        """The bytes to send: the file itself when the signature decodes its format, else the image as PNG."""
        if encoded[:4].startswith(SIGNATURE_FORMATS):
            return encoded
        return tf.io.encode_png(image).numpy()

    def predict(self, batch):
        outputs = self.signature(image_bytes=tf.constant(batch))
        for classes, labels in zip(outputs["classes"].numpy(), outputs["labels"].numpy()):
            self.labels.update(zip(classes.tolist(), (label.decode() for label in labels)))
        return outputs["probabilities"].numpy()

    def name(self, index):
        """The exported label (known for the classes the signature ranked in its top-k), else the index."""
        return self.labels.get(index, str(index))


class ArtifactClassifier:
    """An exported model in its runtime (an ``export.runtimes.Runner``): the card's view applied to each image, the
    class names from its card (or ``labels``)."""

    def __init__(self, runner, labels=None):
        self.runner = runner
        self.names = labels or runner.class_names
        height, width = runner.input_size
        view = runner.transform["method"]
        self.description = (f"{runner.kind} {runner.path}: {len(self.names)} classes, input {runner.input_dtype} "
                            f"{height}x{width}, {view} (from its card), normalisation in its graph")

    def prepare(self, image, encoded=None):
        """uint8 ``(H, W, 3)`` -> the runner's input ``(height, width, 3)`` through the card's view."""
        del encoded
        return self.runner.prepare(image)

    def predict(self, batch):
        """List of prepared images -> ``(batch, classes)`` probabilities."""
        probabilities = self.runner(np.stack(batch))
        if self.names is not None and probabilities.shape[-1] != len(self.names):  # an edited card or labels file
            raise ValueError(f"{self.runner.path!r} gives {probabilities.shape[-1]} classes but its card names "
                             f"{len(self.names)}: export the .keras model again, or keep the file with its own card.")
        return probabilities

    def name(self, index):
        return self.names[index]


def _artifact_classifier(path, labels_file):
    """``ArtifactClassifier`` of an exported file; ``labels_file`` replaces the card's names (same count)."""
    runner = runtimes.open_artifact(path)
    labels = None if labels_file is None else model_file.read_labels(labels_file, len(runner.class_names))
    return ArtifactClassifier(runner, labels)


def load_classifier(model, weights=None, labels_file=None, preprocessing="auto", transform="auto"):
    """The classifier behind ``model``: a ``.keras`` file, a SavedModel folder, an exported ``.onnx``, ``.xml`` or
    ``.tflite`` file, or a registry name (see the module).

    Args:
        model: path or registry name.
        weights: for a registry name, ``"imagenet"`` or a weights file (required: random weights predict noise).
        labels_file: text file with one class name per line (default: the model's contract or an exported model's
            card, or the ImageNet names for 1000-class models when keras has them cached).
        preprocessing: ``"auto"`` (the model's contract) or one of ``model_file.PREPROCESSING`` (Keras models
            only: exported models hold theirs).
        transform: ``"auto"`` (the model's contract), ``"center_crop"`` or ``"resize"`` (Keras models).
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
    path = os.fspath(model)
    if labels_file is not None:
        files.existing(labels_file, "file", ValueError, f"--labels file not found: {os.fspath(labels_file)!r}")
    if weights is not None and (os.path.exists(path) or hub.is_handle(path)):
        raise ValueError("--weights goes with a registry name (e.g. resnet50 --weights imagenet), not a model file "
                         "or SavedModel, which has its own.")
    if os.path.isdir(path):
        if transform != "auto" or preprocessing != "auto" or labels_file is not None:
            raise ValueError("A SavedModel applies the transform, preprocessing and class names it was exported "
                             "with: leave out --transform, --preprocessing and --labels, or pass the .keras file.")
        saved = runtimes.saved_model_dir(path)
        if saved is None:
            raise ValueError(f"{path!r} is a folder without saved_model.pb: pass a SavedModel folder (keras-resnet "
                             "export --to saved_model), a .keras file or a registry name.")
        return SavedModelClassifier(saved)
    if os.path.splitext(path)[1].lower() in runtimes.KINDS:
        if transform != "auto" or preprocessing != "auto":
            raise ValueError(f"{path!r} applies the view of its card and the normalisation in its graph: leave out "
                             "--transform and --preprocessing, or pass the .keras file.")
        return _artifact_classifier(path, labels_file)
    if os.path.isfile(path) or hub.is_handle(path):  # hf://owner/name: model_file reads it from the Hub's cache
        if os.path.isfile(path) and not path.lower().endswith(".keras"):
            raise ValueError(f"{path!r} is neither a Keras model file (.keras) nor an exported model (.onnx, "
                             "OpenVINO .xml, .tflite, or a SavedModel folder).")
        keras_model = model_file.load_model(path)
    else:
        try:
            registry.spec(path)
        except ValueError as error:
            raise ValueError(f"{path!r} is neither a model file, a SavedModel folder nor a registered network. "
                             f"{error}") from None
        if weights is None:
            raise ValueError(f"A registry name needs its weights: pass --weights imagenet or --weights PATH (e.g. "
                             f"keras-resnet predict {path} --weights imagenet IMAGE).")
        keras_model = registry.build(path, weights=weights)
    return KerasClassifier(keras_model, model_file.class_names(keras_model, labels_file),
                           model_file.contract(keras_model, preprocessing, transform))


def list_images(inputs):
    """Files to classify: files named as they are, folders walked for image extensions (sorted).

    Returns ``(paths, ignored)``: ``ignored`` counts the files in folders that are not images by name.
    """
    paths, ignored = [], 0
    for item in map(os.fspath, inputs):
        if os.path.isdir(item):
            for root, folders, names in os.walk(item):
                folders[:] = sorted(folder for folder in folders if not folder.startswith("."))
                for name in sorted(names):
                    if name.lower().endswith(IMAGE_EXTENSIONS):
                        paths.append(os.path.join(root, name))
                    elif not name.startswith("."):
                        ignored += 1
        elif os.path.exists(item):
            paths.append(item)
        else:
            raise ValueError(f"No such file or folder: {item!r}.")
    return paths, ignored


def decode(path):
    """``(uint8 (H, W, 3) image, file bytes)``; raises ``ValueError`` with the reason for what is not an image."""
    try:
        with open(path, "rb") as file:
            encoded = file.read()
    except OSError as error:
        raise ValueError(f"cannot read it ({error.strerror or error})") from None
    try:
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        message = re.sub(r"\{\{.*?\}\}|\[Op:\w+\]", "", error.message or "").strip().splitlines()
        raise ValueError(f"not a decodable image ({(message or [type(error).__name__])[0].rstrip('.')})") from None
    return image, encoded


def top_k(scores, k, name):
    """``(classes,)`` scores -> ``[(class, name(class), score)]`` for the ``k`` best, best first."""
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(index), name(int(index)), float(scores[index])) for index in order]


def predict_files(classifier, paths, k=5, batch_size=32, progress=False):
    """Classifies every file in ``paths`` in batches of ``batch_size``.

    Returns ``(results, skipped)``: a ``Result`` per decodable image (in order) and a ``Skipped`` per other file.
    ``progress`` shows a progress bar on stderr.
    """
    for value, what in ((k, "top_k"), (batch_size, "batch_size")):
        check_positive_int(value, what)
    from tqdm import tqdm

    results, skipped, batch, batch_paths = [], [], [], []

    def flush():
        for path, scores in zip(batch_paths, classifier.predict(batch)):
            results.append(Result(path, top_k(scores, k, classifier.name)))
        batch.clear()
        batch_paths.clear()

    for path in tqdm(paths, unit="image", disable=not progress, leave=False):
        try:
            image, encoded = decode(path)
        except ValueError as error:
            skipped.append(Skipped(path, str(error)))
            continue
        batch.append(classifier.prepare(image, encoded))
        batch_paths.append(path)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return results, skipped


def as_records(results):
    """One dict per image: ``{"image", "predictions": [{"class", "name", "score"}]}`` (for JSON)."""
    return [{"image": result.path, "predictions": [{"class": index, "name": name, "score": score}
                                                   for index, name, score in result.top]} for result in results]


def as_rows(results):
    """One row per (image, rank): ``image, rank, class, name, score`` (for CSV)."""
    return [{"image": result.path, "rank": rank, "class": index, "name": name, "score": score}
            for result in results for rank, (index, name, score) in enumerate(result.top, 1)]


def as_table_rows(results, k):
    """One row per image: ``image`` and ``top-1`` .. ``top-k`` cells ``"name (score)"``."""
    rows = []
    for result in results:
        row = {"image": result.path}
        for rank in range(1, k + 1):
            top = result.top[rank - 1] if rank <= len(result.top) else None
            row[f"top-{rank}"] = f"{top[1]} ({top[2]:.3f})" if top else ""
        rows.append(row)
    return rows


def to_json(results, skipped):
    """``{"predictions": as_records(results), "skipped": [{"image", "reason"}]}`` as JSON text."""
    return json.dumps({"predictions": as_records(results),
                       "skipped": [{"image": item.path, "reason": item.reason} for item in skipped]}, indent=2)


def to_csv(results):
    """``as_rows(results)`` as CSV text with a header line."""
    text = io.StringIO()
    writer = csv.DictWriter(text, ["image", "rank", "class", "name", "score"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(as_rows(results))
    return text.getvalue()


def write_reports(output_dir, results, skipped):
    """Writes ``predictions.json`` and ``predictions.csv`` into ``output_dir`` (atomically, replacing those there:
    the command refuses that without ``--overwrite``); returns their paths."""
    paths = [os.path.join(output_dir, name) for name in PREDICTION_REPORTS]
    files.write_text(paths[0], to_json(results, skipped) + "\n")
    files.write_text(paths[1], to_csv(results))
    return paths


def skipped_summary(skipped, ignored=0):
    """Lines that say which files were skipped and why (empty when none were)."""
    lines = []
    if skipped:
        lines.append(f"Skipped {len(skipped)} file{'s' if len(skipped) > 1 else ''} that could not be read as "
                     "an image:")
        lines += [f"  {item.path}: {item.reason}" for item in skipped]
    if ignored:
        lines.append(f"Ignored {ignored} file{'s' if ignored > 1 else ''} in the folders whose names are not "
                     f"images ({', '.join(IMAGE_EXTENSIONS)}).")
    return lines


__all__ = ["ArtifactClassifier", "IMAGE_EXTENSIONS", "KerasClassifier", "Result", "SavedModelClassifier", "Skipped",
           "TRANSFORMS", "as_records", "as_rows", "as_table_rows", "channels_first", "decode",
           "list_images", "load_classifier", "predict_files", "skipped_summary", "to_csv", "to_json", "top_k",
           "write_reports"]
