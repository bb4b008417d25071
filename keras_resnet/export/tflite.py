"""TFLite / LiteRT export with a parity report.

Four conversions through the TensorFlow converter: ``float32``; ``float16`` (weights in half precision);
``dynamic_int8`` (int8 weights, float activations); ``int8`` (full-integer: int8 weights and activations, calibrated
on a representative dataset drawn from the model's own data pipeline; raw uint8 pixels in, float32 probabilities
out). The parity report compares each against the Keras model on evaluation images: size, top-1 agreement, largest
probability difference, accuracy, and batch-1 latency (median) in the LiteRT interpreter next to the Keras model's.

The converted model takes the model's inference contract's view as raw ``[0, 255]`` float32 pixels ``(1, H, W, 3)``:
the contract's normalisation is its first layer (``model_file.raw_pixel_model``), so models built with published
weights export as trained ones do.

Each file gets its card beside it (``<model>_<variant>.tflite.json``, ``portable.write_card``): the view a caller
applies before the graph, the input dtype (``float32``, ``uint8`` for int8), the one output ``probabilities``.

A folder collects exports: ``<model>_<variant>.tflite`` that exist are replaced only with ``overwrite``, and
``parity.json`` keeps the entries of the variants (and ONNX/OpenVINO files) an earlier export wrote there and this one
did not (each with the Keras ``reference`` it was measured against: ``parity.with_earlier_entries``).
"""

import os
import tempfile

import numpy as np
import tensorflow as tf

from keras_resnet.support import files
from keras_resnet.inference import model_file
from keras_resnet.support.choices import TFLITE_VARIANTS as VARIANTS
from keras_resnet.export.parity import (agreement, evaluation_images, keras_latency, parity_images, top1_accuracy,
                                        write_report)
from keras_resnet.export.portable import graph_words, write_card
from keras_resnet.support.timing import median_latency
from keras_resnet.support.validation import check_positive_int

# The input dtype of each variant's file: full-integer int8 takes uint8 pixels, the others float32 pixels.
TFLITE_INPUT = {"float32": "float32", "float16": "float32", "dynamic_int8": "float32", "int8": "uint8"}
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


def input_value(detail, images):
    """Raw pixels (any numeric dtype) -> the interpreter's input dtype (quantized with the input's scale and zero
    point)."""
    if detail["dtype"] in (np.uint8, np.int8):
        scale, zero = detail["quantization"]
        limits = np.iinfo(detail["dtype"])
        images = np.clip(np.round(images.astype("float32") / scale + zero), limits.min, limits.max)
    return images.astype(detail["dtype"])


def run(runner, images):
    """Probabilities ``(N, classes)`` of the TFLite model for float32 ``(N, H, W, 3)`` pixels, one at a time."""
    source, target = runner.get_input_details()[0], runner.get_output_details()[0]
    outputs = []
    for image in images:
        runner.set_tensor(source["index"], input_value(source, image[None]))
        runner.invoke()
        outputs.append(runner.get_tensor(target["index"])[0].astype("float32"))
    return np.stack(outputs)


def tflite_latency(runner, image, repeats=50):
    """Median batch-1 latency (seconds) of the interpreter on ``image`` ``(H, W, 3)``."""
    source = runner.get_input_details()[0]
    value = input_value(source, image[None])

    def call():
        runner.set_tensor(source["index"], value)
        runner.invoke()

    return median_latency(call, repeats)


def export_tflite(model_path, output_dir, variants=VARIANTS, dataset=None, data_dir=None, calibration_steps=100,
                  eval_images=200, repeats=50, overwrite=False, calibration_images=None):
    """Converts ``model_path`` to each of ``variants`` in ``output_dir`` and writes ``parity.json``.

    ``dataset`` (default: the one in the run's ``preprocessing.json``) gives the int8 calibration images (from its
    training pipeline, ``calibration_steps`` images) and the evaluation images (its test split). A ``.tflite`` file
    that exists is refused before any conversion unless ``overwrite``. ``calibration_images`` (float32 ``(N, H, W,
    3)`` raw pixels at the model's input) calibrate int8 instead of the dataset's (a benchmark of random weights
    calibrates on random images). Returns the report: one dict per variant
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
    with files.export_folder(output_dir):
        # Raw [0, 255] pixels of the contract's view in: the contract's normalisation goes into the graph.
        loaded = model_file.load_model(model_path)
        found, names = model_file.contract(loaded), model_file.class_names(loaded)
        model = model_file.raw_pixel_model(loaded, found)
        dataset = dataset or model_file.run_metadata(model_path).get("dataset")
        if "int8" in variants and dataset is None and calibration_images is None:
            raise ValueError(INT8_NEEDS_DATA)
        paths = {variant: os.path.join(output_dir, f"{model.name}_{variant}.tflite") for variant in variants}
        files.refuse_existing(paths.values(), overwrite)
        os.makedirs(output_dir, exist_ok=True)
        images, labels = parity_images(model, dataset, eval_images, data_dir)
        calibration = calibration_images
        if calibration is None and dataset is not None:
            calibration = evaluation_images(dataset, calibration_steps, data_dir, "train")[0]

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
                write_card(path, "tflite", found, names, model_path, input_dtype=TFLITE_INPUT[variant],
                           outputs=["probabilities"], in_graph=_in_graph(variant, found))
                runner = interpreter(content)
                probabilities = run(runner, images)
                seconds = tflite_latency(runner, images[0], repeats)
                report["variants"][variant] = {
                    "path": path, "size_mb": len(content) / 2 ** 20, **agreement(probabilities, reference, labels),
                    "latency_ms": 1000 * seconds, "speedup_vs_keras": keras_seconds / seconds,
                }
        return write_report(report, output_dir)


def _in_graph(variant, found):
    """What of the contract a ``variant`` file holds, in words (its card's ``in_graph``)."""
    pixels = ("uint8 pixels, quantised with the input's scale and zero point (about 1 and 0: the raw values)"
              if variant == "int8" else "float32 raw [0, 255] pixels")
    return graph_words(found, pixels) + "; probabilities only"
