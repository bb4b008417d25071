"""The parity report every export shares: how an exported artifact answers against the Keras model.

``parity.json`` in an export folder holds, per artifact (``ENTRIES``: the TFLite variants, ``onnx``, ``openvino``),
its top-1 agreement with the Keras model, largest probability difference, accuracy, batch-1 latency and speed-up
against the Keras model, on the evaluation images of one run (``model``, ``dataset``, ``eval_images``, ``keras``).
Exports into one folder add up: an entry that an earlier export wrote there and this one did not is kept, with the
Keras ``reference`` it was measured against (``with_earlier_entries``).
"""

import os

import numpy as np
import tensorflow as tf

from keras_resnet.support import files
from keras_resnet.inference import model_file
from keras_resnet.support.choices import TFLITE_VARIANTS
from keras_resnet.support.tables import format_percent, format_table
from keras_resnet.support.timing import median_latency

PORTABLE_FORMATS = ("onnx", "openvino")
ENTRIES = TFLITE_VARIANTS + PORTABLE_FORMATS  # the order of parity.json's entries
REPORT_NAME = "parity.json"


def keras_latency(model, image, repeats=50):
    """Median batch-1 latency (seconds) of the Keras model, called through a compiled ``tf.function``."""
    predict = tf.function(lambda x: model(x, training=False))
    value = tf.constant(image[None])
    return median_latency(lambda: predict(value).numpy(), repeats)


def evaluation_images(dataset, count, data_dir=None, split="test"):
    """``(images float32 (N, H, W, 3) in [0, 255], labels (N,))`` from the model's data pipeline."""
    from keras_resnet import data

    source = data.load(dataset, data_dir)
    if split == "test":
        pipeline = data.eval_dataset(source, batch_size=min(count, 256))
    else:
        pipeline = data.train_dataset(source, batch_size=min(count, source.num_train), epochs=1)
    images, labels = [], []
    for batch_images, batch_labels in pipeline:
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
        if sum(len(b) for b in images) >= count:
            break
    return np.concatenate(images)[:count], np.concatenate(labels)[:count]


def parity_images(model, dataset, count, data_dir=None):
    """``(images, labels)`` for a parity report: ``count`` test images of ``dataset``, or without a dataset seeded
    random images at ``model``'s input size (``labels`` ``None``)."""
    if dataset is not None:
        return evaluation_images(dataset, count, data_dir)
    height, width = model_file.input_size(model)
    return np.random.default_rng(0).uniform(0, 255, (count, height, width, 3)).astype("float32"), None


def agreement(probabilities, reference, labels):
    """How a converted or reduced-precision model's ``probabilities`` ``(N, classes)`` answer against the float32
    ``reference``'s on the same images: ``top1_agreement``, ``max_abs_prob_diff`` and its ``accuracy``."""
    return {"top1_agreement": float(np.mean(probabilities.argmax(-1) == reference.argmax(-1))),
            "max_abs_prob_diff": float(np.abs(probabilities - reference).max()),
            "accuracy": top1_accuracy(probabilities, labels)}


def top1_accuracy(probabilities, labels):
    """The fraction of rows of ``probabilities`` whose best class is the label (``None`` without labels)."""
    return None if labels is None else float(np.mean(probabilities.argmax(-1) == labels))


def write_report(report, output_dir):
    """Writes ``report`` as ``output_dir``'s ``parity.json``, with the entries of the one there before that it did not
    rewrite (``with_earlier_entries``); returns what was written."""
    path = os.path.join(output_dir, REPORT_NAME)
    report = with_earlier_entries(report, files.read_json(path), output_dir)
    files.write_json(path, report)
    return report


def with_earlier_entries(report, earlier, output_dir):
    """``report`` plus the entries of ``earlier`` (the folder's previous ``parity.json``, or ``None``) that it did not
    rewrite and whose artifact is still in ``output_dir``, in ``ENTRIES`` order. Each kept entry holds the
    ``reference`` it was measured against (``model``, ``dataset``, ``eval_images``, ``keras``)."""
    entries = dict(report["variants"])
    reference = {key: (earlier or {}).get(key) for key in ("model", "dataset", "eval_images", "keras")}
    for name, entry in ((earlier or {}).get("variants") or {}).items():
        path = os.path.join(output_dir, os.path.basename(entry.get("path", "")))
        if name not in entries and name in ENTRIES and os.path.isfile(path):
            entries[name] = {**entry, "reference": entry.get("reference", reference)}
    return {**report, "variants": {name: entries[name] for name in ENTRIES if name in entries}}


def entry_label(name):
    """A row's name in the table: ``tflite float32``, ``onnx``, ``openvino``."""
    return f"tflite {name}" if name in TFLITE_VARIANTS else name


def format_report(report):
    """The parity report as a table."""
    keras_row = report["keras"]
    rows = [{"artifact": "keras (float32)", "size MB": "-", "top-1 agreement": "-", "max |dp|": "-",
             "accuracy": format_percent(keras_row["accuracy"]), "latency ms": f"{keras_row['latency_ms']:.3f}",
             "speed-up": "1.00x"}]
    earlier = [name for name, row in report["variants"].items() if "reference" in row]
    for name, row in report["variants"].items():
        rows.append({"artifact": entry_label(name) + (" *" if name in earlier else ""),
                     "size MB": f"{row['size_mb']:.2f}", "top-1 agreement": f"{100 * row['top1_agreement']:.1f} %",
                     "max |dp|": f"{row['max_abs_prob_diff']:.2e}", "accuracy": format_percent(row["accuracy"]),
                     "latency ms": f"{row['latency_ms']:.3f}", "speed-up": f"{row['speedup_vs_keras']:.2f}x"})
    columns = ["artifact", "size MB", "top-1 agreement", "max |dp|", "accuracy", "latency ms", "speed-up"]
    return (format_table(rows, columns) + "\n\n" + f"{report['eval_images']} evaluation images"
            + (f" of {report['dataset']}" if report["dataset"] else " (random: no dataset)")
            + "; latency: median of batch-1 runs, each runtime (LiteRT interpreter, ONNX Runtime, OpenVINO) vs the "
              "Keras model in a tf.function."
            + ("\n* from an earlier export to this folder, against its own Keras reference (parity.json: reference)"
               if earlier else ""))
