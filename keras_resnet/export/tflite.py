"""TFLite / LiteRT export with a parity report.

Four conversions through the TensorFlow converter: ``float32``; ``float16`` (weights in half precision);
``dynamic_int8`` (int8 weights, float activations); ``int8`` (full-integer: int8 weights and activations, calibrated
on a representative dataset drawn from the model's own data pipeline; raw uint8 pixels in, float32 probabilities
out). The parity report compares each against the Keras model on evaluation images: size, top-1 agreement, largest
probability difference, accuracy, and batch-1 latency (median) in the LiteRT interpreter next to the Keras model's.

The converted model takes the model's inference contract's view as raw ``[0, 255]`` float32 pixels ``(1, H, W, 3)``:
the contract's normalisation is its first layer (``model_file.raw_pixel_model``), so models built with published
weights export as trained ones do.

A folder collects exports: ``<model>_<variant>.tflite`` that exist are replaced only with ``overwrite``, and
``parity.json`` keeps the entries of the variants an earlier export wrote there and this one did not (each with the
Keras ``reference`` it was measured against).
"""

import os
import tempfile

import numpy as np
import tensorflow as tf

from keras_resnet import files, model_file
from keras_resnet.choices import TFLITE_VARIANTS as VARIANTS
from keras_resnet.tables import format_percent, format_table
from keras_resnet.timing import median_latency
from keras_resnet.validation import check_positive_int

INT8_NEEDS_DATA = ("Full-integer int8 needs a representative dataset to calibrate on: pass --dataset (or keep the "
                   "run's preprocessing.json beside the model), or leave int8 out of --variants.")


def interpreter(model_content):
    """A LiteRT interpreter (``ai-edge-litert``), or TensorFlow's where LiteRT is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - depends on the installation
        Interpreter = tf.lite.Interpreter
    runner = Interpreter(model_content=model_content)
    runner.allocate_tensors()
    return runner


def convert(saved_model_dir, variant, representative_images=None):
    """TFLite flatbuffer bytes of the SavedModel in ``saved_model_dir`` as ``variant`` (one of ``VARIANTS``).

    ``representative_images``: float32 ``(N, H, W, 3)`` in [0, 255], needed for ``int8``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"TFLite variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant == "int8":
        if representative_images is None or len(representative_images) == 0:
            raise ValueError(INT8_NEEDS_DATA)

        def representative_dataset():
            for image in representative_images:
                yield [image[None].astype("float32")]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8  # raw pixels: the calibrated input scale is ~1
    return converter.convert()


def _input_value(detail, images):
    """Float pixels -> the interpreter's input dtype (quantized with the input's scale and zero point)."""
    if detail["dtype"] in (np.uint8, np.int8):
        scale, zero = detail["quantization"]
        limits = np.iinfo(detail["dtype"])
        images = np.clip(np.round(images / scale + zero), limits.min, limits.max)
    return images.astype(detail["dtype"])


def run(runner, images):
    """Probabilities ``(N, classes)`` of the TFLite model for float32 ``(N, H, W, 3)`` pixels, one at a time."""
    source, target = runner.get_input_details()[0], runner.get_output_details()[0]
    outputs = []
    for image in images:
        runner.set_tensor(source["index"], _input_value(source, image[None]))
        runner.invoke()
        outputs.append(runner.get_tensor(target["index"])[0].astype("float32"))
    return np.stack(outputs)


def tflite_latency(runner, image, repeats=50):
    """Median batch-1 latency (seconds) of the interpreter on ``image`` ``(H, W, 3)``."""
    source = runner.get_input_details()[0]
    value = _input_value(source, image[None])

    def call():
        runner.set_tensor(source["index"], value)
        runner.invoke()

    return median_latency(call, repeats)


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


def export_tflite(model_path, output_dir, variants=VARIANTS, dataset=None, data_dir=None, calibration_steps=100,
                  eval_images=200, repeats=50, overwrite=False):
    """Converts ``model_path`` to each of ``variants`` in ``output_dir`` and writes ``parity.json``.

    ``dataset`` (default: the one in the run's ``preprocessing.json``) gives the int8 calibration images (from its
    training pipeline, ``calibration_steps`` images) and the evaluation images (its test split). A ``.tflite`` file
    that exists is refused before any conversion unless ``overwrite``. Returns the report: one dict per variant
    (those of earlier exports to the folder included, see the module) plus the Keras reference.
    """
    variants = list(dict.fromkeys(variants))
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"TFLite variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    for what, value in (("calibration_steps", calibration_steps), ("eval_images", eval_images),
                        ("repeats", repeats)):
        check_positive_int(value, f"--{what.replace('_', '-')}")
    files.check_writable_folder(output_dir)
    # Raw [0, 255] pixels of the contract's view in: the contract's normalisation goes into the graph.
    model = model_file.raw_pixel_model(model_file.load_model(model_path))
    dataset = dataset or model_file.run_metadata(model_path).get("dataset")
    if "int8" in variants and dataset is None:
        raise ValueError(INT8_NEEDS_DATA)
    paths = {variant: os.path.join(output_dir, f"{model.name}_{variant}.tflite") for variant in variants}
    existing = [path for path in paths.values() if os.path.exists(path)]
    if existing and not overwrite:
        raise ValueError(f"{existing[0]} exists: pass --overwrite to replace it, or choose another --output-dir.")
    os.makedirs(output_dir, exist_ok=True)
    images, labels = parity_images(model, dataset, eval_images, data_dir)
    calibration = None if dataset is None else evaluation_images(dataset, calibration_steps, data_dir, "train")[0]

    reference = np.asarray(model.predict(images, batch_size=64, verbose=0))
    keras_seconds = keras_latency(model, images[0], repeats)
    report = {"model": os.fspath(model_path), "dataset": dataset, "eval_images": len(images),
              "keras": {"latency_ms": 1000 * keras_seconds,
                        "accuracy": top1_accuracy(reference, labels)}, "variants": {}}
    with tempfile.TemporaryDirectory() as saved:
        model.export(saved, format="tf_saved_model", verbose=False)
        for variant in variants:
            content = convert(saved, variant, calibration)
            path = paths[variant]
            files.write_bytes(path, content)
            runner = interpreter(content)
            probabilities = run(runner, images)
            seconds = tflite_latency(runner, images[0], repeats)
            report["variants"][variant] = {
                "path": path, "size_mb": len(content) / 2 ** 20, **agreement(probabilities, reference, labels),
                "latency_ms": 1000 * seconds, "speedup_vs_keras": keras_seconds / seconds,
            }
    report_path = os.path.join(output_dir, "parity.json")
    report = with_earlier_variants(report, files.read_json(report_path), output_dir)
    files.write_json(report_path, report)
    return report


def with_earlier_variants(report, earlier, output_dir):
    """``report`` plus the variants of ``earlier`` (the folder's previous ``parity.json``, or ``None``) that it did
    not rewrite and whose file is still in ``output_dir``, in ``VARIANTS`` order. Each kept entry holds the
    ``reference`` it was measured against (``model``, ``dataset``, ``eval_images``, ``keras``)."""
    variants = dict(report["variants"])
    reference = {key: (earlier or {}).get(key) for key in ("model", "dataset", "eval_images", "keras")}
    for variant, entry in ((earlier or {}).get("variants") or {}).items():
        path = os.path.join(output_dir, os.path.basename(entry.get("path", "")))
        if variant not in variants and variant in VARIANTS and os.path.isfile(path):
            variants[variant] = {**entry, "reference": entry.get("reference", reference)}
    return {**report, "variants": {variant: variants[variant] for variant in VARIANTS if variant in variants}}


def agreement(probabilities, reference, labels):
    """How a converted or reduced-precision model's ``probabilities`` ``(N, classes)`` answer against the float32
    ``reference``'s on the same images: ``top1_agreement``, ``max_abs_prob_diff`` and its ``accuracy``."""
    return {"top1_agreement": float(np.mean(probabilities.argmax(-1) == reference.argmax(-1))),
            "max_abs_prob_diff": float(np.abs(probabilities - reference).max()),
            "accuracy": top1_accuracy(probabilities, labels)}


def top1_accuracy(probabilities, labels):
    """The fraction of rows of ``probabilities`` whose best class is the label (``None`` without labels)."""
    return None if labels is None else float(np.mean(probabilities.argmax(-1) == labels))


def format_report(report):
    """The parity report as a table."""
    keras_row = report["keras"]
    rows = [{"variant": "keras (float32)", "size MB": "-", "top-1 agreement": "-", "max |dp|": "-",
             "accuracy": format_percent(keras_row["accuracy"]), "latency ms": f"{keras_row['latency_ms']:.3f}",
             "speed-up": "1.00x"}]
    earlier = [variant for variant, row in report["variants"].items() if "reference" in row]
    for variant, row in report["variants"].items():
        rows.append({"variant": variant + (" *" if variant in earlier else ""), "size MB": f"{row['size_mb']:.2f}",
                     "top-1 agreement": f"{100 * row['top1_agreement']:.1f} %",
                     "max |dp|": f"{row['max_abs_prob_diff']:.2e}", "accuracy": format_percent(row["accuracy"]),
                     "latency ms": f"{row['latency_ms']:.3f}", "speed-up": f"{row['speedup_vs_keras']:.2f}x"})
    columns = ["variant", "size MB", "top-1 agreement", "max |dp|", "accuracy", "latency ms", "speed-up"]
    return (format_table(rows, columns) + "\n\n" + f"{report['eval_images']} evaluation images"
            + (f" of {report['dataset']}" if report["dataset"] else " (random: no dataset)")
            + "; latency: median of batch-1 runs, LiteRT interpreter vs the Keras model in a tf.function."
            + ("\n* from an earlier export to this folder, against its own Keras reference (parity.json: reference)"
               if earlier else ""))

