"""Inference in every runtime our exports reach, on one machine, in one run: latency, throughput and parity.

    python benchmarks/runtimes.py                      # the shipped digits ResNet-20 and a ResNet-50; ~10 minutes
    python benchmarks/runtimes.py --models digits --rounds 1 --repeats 5        # a quick look

For the digits ResNet-20 (``--digits-model``, default the shipped ``saved_models/resnet20-digits/model.keras``; its
360 held-out test images) and an ImageNet ResNet-50 at 224 px (random weights: speed does not depend on them; 32
random images), every export is written into a temporary folder by the library's own exporters (``keras-resnet
export``) and opened as ``predict`` opens it (``runtimes.open_artifact``):

- "keras": the Keras model (normalisation as its first layer) called through a ``tf.function``, float32 pixels in;
- "saved_model": the SavedModel's ``serving_default`` (uint8 images; the view and normalisation inside its graph);
- "tflite float32", "tflite int8": the LiteRT interpreter (int8: full-integer, calibrated on the training images,
  random ones for the random ResNet-50);
- "onnx": ONNX Runtime (CPU); "openvino": OpenVINO (CPU) in float32, and "openvino bf16" with its bfloat16 hint
  where the CPU has bfloat16 units (OpenVINO's own default there).

Alternating rounds time each runtime's batch-1 latency (median of ``--repeats`` calls) and batch-32 throughput
(median of ``--repeats`` calls on one batch of 32), keeping each one's best round; ratios are to "keras" in the same
run. Parity: top-1 agreement with Keras and the largest probability difference, on the same 8-bit pixels (the view
each card asks for). A runtime that is not installed (the ``onnx`` and ``openvino`` extras) is left out and named.
"""

import importlib.util
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_resnet  # noqa: E402
from keras_resnet.inference import model_file  # noqa: E402
from keras_resnet.export import export_portable, export_saved_model, export_tflite  # noqa: E402
from keras_resnet.export.parity import agreement, parity_images  # noqa: E402
from keras_resnet.export.runtimes import open_artifact  # noqa: E402
from keras_resnet.support.tables import format_table  # noqa: E402
from keras_resnet.support.timing import median_latency  # noqa: E402
from keras_resnet.support.validation import positive_int  # noqa: E402
from timing import argument_parser, cpu_cores  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "saved_models", "resnet20-digits", "model.keras")
BATCH = 32
EXTRAS = {"onnx": "onnxruntime", "openvino": "openvino"}


class KerasRunner:
    """The reference: the Keras model taking raw float32 pixels, through a ``tf.function``."""

    kind, input_dtype = "keras", "float32"

    def __init__(self, model):
        self.call = tf.function(lambda images: model(images, training=False))

    def _run(self, images):
        return self.call(tf.constant(images, tf.float32)).numpy()

    def __call__(self, images):
        return self._run(images)


def has_bf16():
    """Whether the CPU has bfloat16 units (``avx512_bf16`` or AMX), where OpenVINO computes in bfloat16 by
    default."""
    try:
        with open("/proc/cpuinfo") as file:
            flags = file.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def write_exports(model_path, folder, dataset, calibration, missing):
    """Every export of ``model_path`` into ``folder`` -> ``name -> runner``, the Keras reference first."""
    loaded = model_file.load_model(model_path)
    runners = {"keras": KerasRunner(model_file.raw_pixel_model(loaded))}
    quick = {"eval_images": BATCH, "repeats": 1}
    saved, _ = export_saved_model(model_path, os.path.join(folder, "saved_model"), version=1)
    runners["saved_model"] = open_artifact(saved)
    report = export_tflite(model_path, folder, ["float32", "int8"], dataset=dataset, calibration_images=calibration,
                           **quick)
    for variant in ("float32", "int8"):
        runners[f"tflite {variant}"] = open_artifact(report["variants"][variant]["path"])
    for export_format, module in EXTRAS.items():
        if importlib.util.find_spec(module) is None:
            missing.append(f"{export_format} ({module} not installed: pip install -e \".[{export_format}]\")")
            continue
        path, _, _ = export_portable(model_path, folder, export_format, dataset=dataset, **quick)
        runners[export_format] = open_artifact(path)
        if export_format == "openvino" and has_bf16():
            runners["openvino bf16"] = open_artifact(path, openvino_precision="bf16")
    return runners


def inputs(runner, pixels):
    """``pixels`` (uint8 views) as ``runner`` takes them."""
    return pixels.astype(runner.input_dtype)


def parity(runners, pixels):
    """``name -> (top-1 agreement, largest probability difference)`` against "keras" on ``pixels``."""
    def answers(runner):
        return np.concatenate([runner(inputs(runner, pixels[start:start + BATCH]))
                               for start in range(0, len(pixels), BATCH)])
    reference = answers(runners["keras"])
    return {name: agreement(answers(runner), reference, None) for name, runner in runners.items()}


def speeds(runners, pixels, rounds, repeats):
    """``name -> (batch-1 seconds, batch-32 images/s)``, the best of ``rounds`` alternating rounds."""
    single = {name: inputs(runner, pixels[:1]) for name, runner in runners.items()}
    batch = {name: inputs(runner, np.resize(pixels, (BATCH, *pixels.shape[1:]))) for name, runner in runners.items()}
    best = {name: (float("inf"), 0.0) for name in runners}
    for _ in range(rounds):
        for name, runner in runners.items():
            runner._run(batch[name])  # warm-up: tracing, allocation for the batch size
            seconds = median_latency(lambda: runner._run(single[name]), repeats)
            throughput = BATCH / median_latency(lambda: runner._run(batch[name]), max(3, repeats // 5))
            best[name] = (min(best[name][0], seconds), max(best[name][1], throughput))
    return best


def benchmark(label, model_path, dataset, calibration, args, missing):
    """The table rows of one model."""
    with tempfile.TemporaryDirectory() as folder:
        runners = write_exports(model_path, folder, dataset, calibration, missing)
        model = model_file.load_model(model_path)
        images, _ = parity_images(model, dataset, args.eval_images if dataset else BATCH)
        pixels = np.clip(np.round(images), 0, 255).astype("uint8")
        agreements = parity(runners, pixels)
        best = speeds(runners, pixels, args.rounds, args.repeats)
    keras_seconds, keras_throughput = best["keras"]
    rows = []
    for name, (seconds, throughput) in best.items():
        row = agreements[name]
        rows.append({"model": label, "runtime": name, "batch-1 ms": f"{1000 * seconds:.2f}",
                     "batch-1 vs keras": f"{keras_seconds / seconds:.2f}x",
                     f"batch-{BATCH} img/s": f"{throughput:.1f}",
                     f"batch-{BATCH} vs keras": f"{throughput / keras_throughput:.2f}x",
                     "top-1 agreement": f"{100 * row['top1_agreement']:.1f} %",
                     "max |dp|": f"{row['max_abs_prob_diff']:.1e}"})
    return rows


def parse(argv):
    parser = argument_parser(__doc__, __file__)
    parser.add_argument("--models", nargs="+", default=["digits", "resnet50"], choices=["digits", "resnet50"])
    parser.add_argument("--digits-model", default=SHIPPED, help="the digits ResNet-20 .keras file")
    parser.add_argument("--eval-images", type=positive_int, default=360, help="digits test images for parity")
    parser.add_argument("--rounds", type=positive_int, default=2, help="alternating rounds; each keeps its best")
    parser.add_argument("--repeats", type=positive_int, default=30, help="batch-1 calls per measurement (median)")
    args = parser.parse_args(argv)
    if "digits" in args.models and not os.path.isfile(args.digits_model):
        parser.error(f"--digits-model {args.digits_model!r} does not exist: pass a digits ResNet-20 .keras file "
                     "(keras-resnet train --dataset digits --model resnet20 writes one).")
    return args


def main(argv=None):
    args = parse(argv)
    rows, missing = [], []
    if "digits" in args.models:
        rows += benchmark("digits ResNet-20", args.digits_model, "digits", None, args, missing)
    if "resnet50" in args.models:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "resnet50.keras")
            keras.utils.set_random_seed(0)
            keras_resnet.ResNet50(weights=None).save(path)
            calibration = np.random.default_rng(1).uniform(0, 255, (BATCH, 224, 224, 3)).astype("float32")
            rows += benchmark("ResNet-50 224 px", path, None, calibration, args, missing)
    print(format_table(rows, list(rows[0])))
    print(f"\nkeras {keras.__version__}, TensorFlow {tf.__version__}, {cpu_cores()} CPU cores"
          f"{', bfloat16 units' if has_bf16() else ''}; best of {args.rounds} alternating rounds; batch-1: median of "
          f"{args.repeats} calls; batch-{BATCH}: median of {max(3, args.repeats // 5)} calls."
          + (f"\nLeft out: {'; '.join(sorted(set(missing)))}." if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
