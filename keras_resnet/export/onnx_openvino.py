"""ONNX and OpenVINO export through Keras' own exporters, with a parity report.

Both hold ``portable.serving_model``: raw uint8 RGB pixels ``images`` ``(batch, H, W, 3)`` at the model's input size
in, the contract's normalisation inside, ``probabilities`` float32 ``(batch, classes)`` and the top-k ``scores`` /
``classes`` out. Files: ``<output_dir>/<model>.onnx``, or ``<model>.xml`` + ``<model>.bin`` (OpenVINO's IR), each with
its card ``<artifact>.json`` (``portable.write_card``: the view a caller applies before the graph).

The parity report (``parity.json``, shared with the TFLite variants: ``parity.py``) runs the artifact in its runtime
(``runtimes.open_artifact``) on the evaluation images rounded to 8-bit pixels, as ``predict`` feeds it, and the Keras
model (its normalisation as a first layer) on the same pixels: so it compares the graphs, not two roundings.
"""

import os

import numpy as np

from keras_resnet.support import files
from keras_resnet.inference import model_file
from keras_resnet.support.choices import PREPROCESSING
from keras_resnet.export.parity import (PORTABLE_FORMATS, agreement, keras_latency, parity_images, top1_accuracy,
                                        write_report)
from keras_resnet.export.portable import card_path, serving_model, write_card
from keras_resnet.support.package_check import check_extra
from keras_resnet.support.validation import check_positive_int

SUFFIXES = {"onnx": (".onnx",), "openvino": (".xml", ".bin")}  # the files one export writes; the first is opened
BATCH = 32  # parity images per runtime call


def artifact_files(output_dir, name, export_format):
    """The files an export of model ``name`` as ``export_format`` writes in ``output_dir`` (the artifact first)."""
    return [os.path.join(output_dir, name + suffix) for suffix in SUFFIXES[export_format]]


def check_arguments(export_format, top_k=5, preprocessing="auto", labels_file=None, eval_images=200, repeats=50):
    """Refuses bad arguments of ``export_portable`` in one line (before any TensorFlow work)."""
    if export_format not in PORTABLE_FORMATS:
        raise ValueError(f"export format must be one of {', '.join(PORTABLE_FORMATS)}, got {export_format!r}")
    for what, value in (("top_k", top_k), ("eval_images", eval_images), ("repeats", repeats)):
        check_positive_int(value, f"--{what.replace('_', '-')}")
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"--preprocessing must be one of {', '.join(PREPROCESSING)}, got {preprocessing!r}")
    if labels_file is not None:
        files.existing(labels_file, "file", ValueError, f"--labels file not found: {os.fspath(labels_file)!r}")
    check_extra(export_format)


def export_portable(model_path, output_dir, export_format, top_k=5, preprocessing="auto", labels_file=None,
                    dataset=None, data_dir=None, eval_images=200, repeats=50, overwrite=False):
    """Exports ``model_path`` as ``export_format`` (``"onnx"`` or ``"openvino"``) into ``output_dir`` with its card,
    and adds its entry to the folder's ``parity.json``.

    ``preprocessing`` / ``labels_file``: the contract's normalisation and class names as for the SavedModel.
    ``dataset`` (default: the run's, from ``preprocessing.json``): ``eval_images`` of its test split for the parity
    report (random images without one); ``repeats``: batch-1 latency runs (median). An artifact that exists is
    refused before any export unless ``overwrite``. Returns ``(artifact path, card dict, report)``: the report as
    ``parity.json`` holds it (with entries of earlier exports to the folder, see ``parity.py``).
    """
    check_arguments(export_format, top_k, preprocessing, labels_file, eval_images, repeats)
    files.check_writable_folder(output_dir)
    with files.export_folder(output_dir):
        model = model_file.load_model(model_path)
        found = model_file.contract(model, preprocessing)
        names = model_file.class_names(model, labels_file)
        paths = artifact_files(output_dir, model.name, export_format)
        files.refuse_existing(paths, overwrite)
        os.makedirs(output_dir, exist_ok=True)
        write_artifact(serving_model(model, found, top_k), paths, export_format)
        card = write_card(paths[0], export_format, found, names, model_path, top_k=top_k)

        dataset = dataset or model_file.run_metadata(model_path).get("dataset")
        images, labels = parity_images(model, dataset, eval_images, data_dir)
        keras_row, entry = measure(model_file.raw_pixel_model(model, found), paths[0], images, labels, repeats)
        entry = {"path": paths[0], "card": os.path.basename(card_path(paths[0])),
                 "size_mb": sum(os.path.getsize(path) for path in paths) / 2 ** 20, **entry}
        report = {"model": os.fspath(model_path), "dataset": dataset, "eval_images": len(images), "keras": keras_row,
                  "variants": {export_format: entry}}
        return paths[0], card, write_report(report, output_dir)


def write_artifact(served, paths, export_format):
    """``served.export`` as ``export_format`` into ``paths`` (``artifact_files``), atomically: written under
    temporary names in the same folder, then renamed (OpenVINO: the ``.bin`` weights before the ``.xml`` that
    names the model, so a reader never finds a new ``.xml`` beside an old ``.bin``)."""
    with files.atomic_path(paths[0]) as temporary:
        written = [os.path.splitext(temporary)[0] + suffix for suffix in SUFFIXES[export_format]]
        try:
            served.export(temporary, format=export_format, verbose=False)
            for source, target in zip(written[1:], paths[1:]):
                os.replace(source, target)
        finally:
            for leftover in written[1:]:
                if os.path.exists(leftover):
                    os.remove(leftover)


def measure(keras_model, artifact, images, labels, repeats=50):
    """``(keras row, artifact row)`` of the parity report: the ``artifact`` (opened with ``runtimes.open_artifact``)
    against ``keras_model`` (raw pixels in), both on ``images`` rounded to uint8 as the card's view gives them
    (``runner.prepare``): accuracy, and for the artifact top-1 agreement and largest probability difference; median
    batch-1 latencies and the artifact's speed-up."""
    from keras_resnet.export.runtimes import open_artifact

    runner = open_artifact(artifact)
    pixels = np.clip(np.round(images), 0, 255).astype("uint8")
    as_float = pixels.astype("float32")
    reference = np.asarray(keras_model.predict(as_float, batch_size=64, verbose=0))
    probabilities = np.concatenate([runner(pixels[start:start + BATCH]) for start in range(0, len(pixels), BATCH)])
    keras_seconds = keras_latency(keras_model, as_float[0], repeats)
    seconds = runner.latency(pixels[0], repeats)
    return ({"latency_ms": 1000 * keras_seconds, "accuracy": top1_accuracy(reference, labels)},
            {**agreement(probabilities, reference, labels), "latency_ms": 1000 * seconds,
             "speedup_vs_keras": keras_seconds / seconds})
