"""Top-1 / top-5 accuracy of a classifier on labelled images, fed as its weights' publisher fed them.

TensorFlow-only (tf.data). This is how a user checks that published (converted) weights score what their record
claims: ``keras-resnet evaluate resnet50 --weights imagenet-v2 --data-dir ~/data/imagenet`` prints the measured
top-1 / top-5 beside the record's numbers.

- The model: a registry name with a weights tag (``weight_records``), or a ``.keras`` file (a converted checkpoint,
  a model built with published weights and saved, or a training run's ``model.keras``).
- The images: an ImageNet-style validation folder (``DATA_DIR/val/<class>/*.JPEG``, ``validation/`` too, or
  ``DATA_DIR/<class>/*.JPEG`` itself; the image types training reads) or a TFDS split. The ``i``-th class folder in
  sorted order is class ``i`` (the class index of ImageNet's synset folders), unless the model's run names its
  classes: then folders are matched by name. The folder that a training run split itself (no ``val/``) gives the
  validation images the run held out: its record (``preprocessing.json``, or ``run.json`` for runs from before it
  recorded the split) repeats the split while the files are those it split; otherwise every image is scored, with a
  note that the run's training images may be among them.
- The views: the model's inference contract (``contract.InferenceContract``: the weights record's resize and crop,
  the training run's view, or the paper's, [He16] Sec. 3.4), through the data pipeline's ``apply_eval_transform``;
  ``ten_crop``: the 10-crop test of [He16] Sec. 3.4, scores averaged over the views. Then the contract's
  normalisation.
"""

import dataclasses
import glob
import os

import keras
import numpy as np
import tensorflow as tf

from keras_resnet import data
from keras_resnet.support import files
from keras_resnet.weights import hub
from keras_resnet.inference import model_file
from keras_resnet.applications import registry
from keras_resnet.weights import records as weight_records
from keras_resnet.models.contract import contract_of
from keras_resnet.data import folder as folder_lib
from keras_resnet.data import imagenet
from keras_resnet.training.config import TrainConfig
from keras_resnet.support.validation import check_positive_int

TOP_K = (1, 5)


@dataclasses.dataclass
class Images:
    """Labelled images to evaluate on: ``dataset`` of ``(encoded bytes, int64 label)``, ``count`` of them."""

    dataset: tf.data.Dataset
    count: int
    class_names: list
    description: str
    note: str = ""


@dataclasses.dataclass
class Evaluation:
    """What ``evaluate`` measured: accuracies as fractions, ``{k: accuracy}`` for ``k`` in ``TOP_K``."""

    images: int
    accuracy: dict
    transform: dict
    preprocessing: str
    ten_crop: bool


def load_model(model, weights=None):
    """The Keras model to evaluate: ``model`` is a ``.keras`` file (or ``hf://owner/name``), or a registry name with
    ``weights`` (a tag of ``weight_records`` or a weights file). -> ``(keras.Model, run metadata dict)``."""
    model = os.fspath(model)
    if os.path.isdir(model):
        saved = glob.glob(os.path.join(glob.escape(model), "saved_model.pb")) or glob.glob(
            os.path.join(glob.escape(model), "*", "saved_model.pb"))
        what = "a SavedModel folder" if saved else "a folder"
        raise ValueError(f"{model!r} is {what}: evaluate reads a Keras model, to apply its run's transform and class "
                         "names; pass the .keras file it was exported from (e.g. runs/<run>/model.keras).")
    if model.endswith(".keras") or os.path.sep in model or os.path.exists(model) or hub.is_handle(model):
        if weights is not None:
            raise ValueError("A .keras file carries its weights: leave out --weights.")
        return model_file.load_model(model), model_file.run_metadata(model)
    spec = registry.spec(model)  # unknown names: a clear error with close matches
    if weights is None:
        tags = weight_records.tags(spec.name)
        raise ValueError(f"Evaluating {model!r} needs its weights: pass --weights "
                         f"{' or '.join(tags) if tags else '<weights file>'} (or a .keras file instead of a name).")
    return registry.build(model, weights=weights), {}


def run_split(model_path, metadata):
    """How the run that trained ``model_path`` split its image folder: ``{"seed", "val_fraction", "files",
    "classes"}`` (``val_fraction`` ``None``: not recorded), or ``None`` for runs that did not split a folder (their
    own ``val/``, another dataset, no run). From ``preprocessing.json`` (``metadata``), else ``run.json`` beside the
    model (or above ``checkpoints/``), which runs recorded before ``preprocessing.json`` did (without the fraction)."""
    if not os.path.isfile(os.fspath(model_path)) or metadata.get("dataset", "folder") != "folder":
        return None
    if "split" in metadata:
        split = metadata["split"]
        return None if split is None else {**split, "classes": metadata.get("class_names")}
    folder = os.path.dirname(os.path.abspath(model_path))
    for place in (folder, os.path.dirname(folder)) if os.path.basename(folder) == "checkpoints" else (folder,):
        settings = (files.read_json(os.path.join(place, "run.json")) or {}).get("settings", {})
        if settings.get("dataset") == "folder" and settings.get("files"):
            return {"seed": settings.get("seed", 0), "val_fraction": None, "files": settings["files"],
                    "classes": settings.get("classes")}
    return None


def folder_images(data_dir, split=None):
    """The images of an ImageNet-style validation folder: ``data_dir/val/<class>/`` (or ``validation/``), or
    ``data_dir/<class>/`` itself; with a run's ``split`` (``run_split``), the images it held out of ``data_dir``
    when that is the folder it split. -> ``Images`` (encoded bytes, each file checked to be an image when read)."""
    data_dir = files.existing(data_dir, "folder", ValueError, f"--data-dir {os.fspath(data_dir)!r} is not a folder: "
                              "pass a folder with val/<class>/*.JPEG or <class>/*.JPEG sub-folders.")
    held_out = None if split is None else _held_out(data_dir, split)
    if held_out is not None:
        return held_out
    folder = next((os.path.join(data_dir, name) for name in imagenet.VAL_FOLDERS
                   if os.path.isdir(os.path.join(data_dir, name))), data_dir)
    paths, labels, class_names = imagenet.list_tree(folder, extensions=folder_lib.EXTENSIONS)
    if not paths:
        raise ValueError(f"No images in {folder!r}: expected one sub-folder of {', '.join(folder_lib.EXTENSIONS)} "
                         "files per class (ImageNet's val/<synset>/*.JPEG layout).")
    images = Images(_read(paths, labels), len(paths), class_names,
                    f"{len(paths)} images of {folder} ({len(class_names)} classes)")
    if split is not None and folder == data_dir and set(class_names) == set(split.get("classes") or class_names):
        unknown = "" if split["val_fraction"] else ", and the run did not record its --val-fraction"
        images.note = (f"{data_dir} does not hold the files that the model's run split into training and validation "
                       f"images (they differ from its record{unknown}): scoring all {len(paths)} images, which "
                       "include the run's training images if it trained on this folder.")
    return images


def _read(paths, labels):
    return tf.data.Dataset.from_tensor_slices((paths, labels)).map(imagenet.read, num_parallel_calls=tf.data.AUTOTUNE)


def _held_out(data_dir, split):
    """``Images`` of the validation images a run held out of ``data_dir`` (``folder.validation_split``), or
    ``None`` when ``data_dir`` is not the folder as the run split it."""
    fraction = split["val_fraction"] or TrainConfig().val_fraction  # not recorded: the default, checked by the files
    found = folder_lib.validation_split(data_dir, {**split, "val_fraction": fraction})
    if found is None:
        return None
    paths, labels, class_names = found
    return Images(_read(paths, labels), len(paths), class_names,
                  f"the {len(paths)} validation images that the run held out of {data_dir} (seed {split['seed']}, "
                  f"--val-fraction {fraction:g}; {len(class_names)} classes)")


def tfds_images(name, split="validation", data_dir=None):
    """The images of a prepared TFDS split (``"imagenet2012"``, ``"validation"``), kept encoded. -> ``Images``."""
    import tensorflow_datasets as tfds

    where = data_dir or "the default TFDS data dir (~/tensorflow_datasets)"
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False,
                                     decoders={"image": tfds.decode.SkipDecoding()})
        count = builder.info.splits[split].num_examples
        class_names = list(builder.info.features["label"].names)
    except Exception as error:  # TFDS raises its own errors, AssertionError and KeyError for missing data
        raise ValueError(f"The TFDS split {name}:{split} is not prepared in {where} ({type(error).__name__}): "
                         f"prepare it first (tfds build {name}), or pass --data-dir with a folder of class "
                         "sub-folders instead.") from None
    return Images(dataset, count, class_names, f"{count} images of TFDS {name}:{split}")


def _labels_for(model, images):
    """``images.dataset`` with labels as the model's class indices (see the module docstring)."""
    classes = model.output.shape[-1]
    known = list(contract_of(model).class_names or [])
    if known and set(images.class_names) <= set(known) and images.class_names != known[:len(images.class_names)]:
        index = tf.constant([known.index(name) for name in images.class_names], tf.int64)
        return images.dataset.map(lambda image, label: (image, tf.gather(index, label)))
    if len(images.class_names) != classes:
        raise ValueError(f"The images have {len(images.class_names)} classes and the model {classes}: the i-th class "
                         "folder in sorted order is class i, so the folder needs one sub-folder per class of the "
                         "model (ImageNet: the 1000 synset folders of val/).")
    return images.dataset


def describe_transform(transform, preprocessing):
    """``"shorter side 232, centre crop 224, torch normalisation"``: the views and normalisation, in words."""
    if transform["method"] == "center_crop":
        views = f"shorter side {transform['resize']}, centre crop {transform['size']}"
    else:
        views = f"resized to {transform['size']}x{transform['size']}"
    return f"{views}, {'no' if preprocessing == 'none' else preprocessing} normalisation"


def scored_batches(model, dataset, ten_crop=False, batch_size=64):
    """``(scores float64 (B, classes), labels (B,))`` per batch of ``dataset`` (``(encoded image, label)``), each
    image seen through the model's contract: its view (or the 10 views, scores averaged) and normalisation."""
    contract = contract_of(model)
    transform, size, classes = contract.transform, contract.transform["size"], model.output.shape[-1]
    view = data.apply_ten_crop_transform if ten_crop else data.apply_eval_transform
    batches = dataset.map(lambda image, label: (view(image, transform), label), num_parallel_calls=tf.data.AUTOTUNE)
    for views, labels in batches.batch(batch_size).prefetch(tf.data.AUTOTUNE):
        labels = labels.numpy()
        if ten_crop:
            views = tf.reshape(views, (-1, size, size, 3))
        if contract.data_format == "channels_first":
            views = tf.transpose(views, (0, 3, 1, 2))
        scores = np.asarray(model(contract.preprocess_input(views), training=False), np.float64)
        yield (scores.reshape(len(labels), 10, classes).mean(axis=1) if ten_crop else scores), labels


def evaluate(model, images, ten_crop=False, batch_size=64, progress=True):
    """Top-k accuracies of ``model`` on ``images`` through its inference contract (``scored_batches``).

    Args:
        model: a Keras classifier ``(batch, H, W, 3) -> (batch, classes)`` scores.
        images: ``Images`` (``folder_images``, ``tfds_images``).
        ten_crop: average the scores of the 10 views of [He16] Sec. 3.4 instead of one centre view.
        batch_size: images per batch (a 10-crop batch holds ``10 * batch_size`` views).
        progress: show a ``keras.utils.Progbar``.

    Returns:
        ``Evaluation``: accuracies for ``k`` in ``TOP_K`` (top-5 is top-``classes`` for fewer classes).
    """
    check_positive_int(batch_size, "batch_size")
    contract = contract_of(model)
    ks = [min(k, model.output.shape[-1]) for k in TOP_K]
    correct, seen = np.zeros(len(ks), np.int64), 0
    names = [f"top-{k}" for k in TOP_K]
    bar = keras.utils.Progbar(images.count, unit_name="image", stateful_metrics=names) if progress else None
    with data.naming_unreadable_images():
        for scores, labels in scored_batches(model, _labels_for(model, images), ten_crop, batch_size):
            ranked = np.argsort(-scores, axis=1, kind="stable")[:, :max(ks)]
            hits = ranked == labels[:, None]
            correct += [int(hits[:, :k].any(axis=1).sum()) for k in ks]
            seen += len(labels)
            if bar is not None:
                bar.update(seen, values=[(name, hits / seen) for name, hits in zip(names, correct)],
                           finalize=seen >= images.count)
    if bar is not None and seen < images.count:
        bar.update(seen, finalize=True)
    if seen == 0:
        raise ValueError(f"No images to evaluate in {images.description}.")
    return Evaluation(seen, {k: correct[i] / seen for i, k in enumerate(TOP_K)}, contract.transform,
                      contract.normalization, ten_crop)


def claimed(model):
    """``(record, {k: claimed accuracy in percent or None})`` of the published weights ``model`` holds, or
    ``(None, {})``."""
    record = model_file.weights_record(model)
    if record is None:
        return None, {}
    return record, {1: record.top1, 5: record.top5}


def report_rows(evaluation, claims):
    """Table rows ``{"metric", "measured", "claimed"}`` of ``evaluate``'s accuracies beside the claimed ones."""
    rows = []
    for k in TOP_K:
        claim = claims.get(k)
        rows.append({"metric": f"top-{k}", "measured": f"{100 * evaluation.accuracy[k]:.2f} %",
                     "claimed": f"{claim:.2f} %" if claim is not None else "-"})
    return rows


__all__ = ["Evaluation", "Images", "TOP_K", "claimed", "describe_transform", "evaluate", "folder_images",
           "load_model", "report_rows", "run_split", "scored_batches", "tfds_images"]
