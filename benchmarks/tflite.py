"""Batch-1 latency of every TFLite/LiteRT variant against the Keras model, in one run, with accuracy.

    python benchmarks/tflite.py                          # trains a digits ResNet-20 first (about a minute)
    python benchmarks/tflite.py runs/x/model.keras

Prints the parity report of ``keras-resnet export --to tflite``: size, top-1 agreement with Keras, largest probability
difference, accuracy on the held-out set and the median batch-1 latency of each variant, as a ratio to the Keras
model (called through a tf.function) measured in the same run. Target: int8 >= 2x faster than float Keras with
<= 0.5 pt accuracy loss.
"""

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_resnet.export import export_tflite, format_report  # noqa: E402
from keras_resnet.support.validation import positive_int  # noqa: E402
from keras_resnet.training import TrainConfig, train  # noqa: E402
from timing import argument_parser  # noqa: E402


def main(argv=None):
    parser = argument_parser(__doc__, __file__)
    parser.add_argument("model", nargs="?", metavar="MODEL_FILE",
                        help="a model.keras written by training (default: train one on the digits)")
    parser.add_argument("--epochs", type=positive_int, default=15, help="epochs of the digits ResNet-20 trained first")
    parser.add_argument("--repeats", type=positive_int, default=200, help="latency runs per variant (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model is None:
            train(TrainConfig(model="resnet20", dataset="digits", epochs=args.epochs, output_dir=folder, verbose=0))
            model = os.path.join(folder, "model.keras")
        report = export_tflite(model, os.path.join(folder, "tflite"), eval_images=360, repeats=args.repeats)
    print(format_report(report))
    int8 = report["variants"]["int8"]
    loss = 100 * (report["keras"]["accuracy"] - int8["accuracy"])
    print(f"\nint8: {int8['speedup_vs_keras']:.1f}x faster than the Keras model, accuracy change {-loss:+.2f} pt.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
