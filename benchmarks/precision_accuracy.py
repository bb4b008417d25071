"""Accuracy and time of one short digits training per precision, from the same weights and batches, in one run.

    python benchmarks/precision_accuracy.py                      # ResNet-8, 8x8 digits, 15 epochs: ~7 min on 2 cores
    python benchmarks/precision_accuracy.py --epochs 4 --lr 0.02 --precisions float32,float16

Issue 14 asks that float16 (with loss scaling) train to float32's accuracy within 1 point. Each row trains a ResNet-8
(the smallest CIFAR-style net) on the UCI digits at their own 8x8 resolution with ``keras.utils.set_random_seed``
fixed and the same batches, so the runs differ only in precision, each with the XLA setting ``auto`` gives it (on a
CPU: off, but on for float16, whose uncompiled CPU kernels are about 15x slower). Prints held-out accuracy, the
difference to the first precision, the final loss scale and the training seconds. Short runs (a few epochs) are
far from converged and differ by several points between precisions in either direction; compare converged runs.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import keras_resnet  # noqa: E402
from keras_resnet import data  # noqa: E402
from keras_resnet.support.choices import PRECISIONS  # noqa: E402
from keras_resnet.support.tables import format_table  # noqa: E402
from keras_resnet.training import precision  # noqa: E402
from keras_resnet.support.validation import positive_int  # noqa: E402
from timing import argument_parser, cpu_cores  # noqa: E402


def train_and_evaluate(name, epochs, image_size, learning_rate, batch_size=32, seed=0):
    """``(held-out accuracy, final loss scale or None, seconds)`` of one digits ResNet-8 trained in ``name``."""
    keras.utils.set_random_seed(seed)
    setting = precision.resolve(name, "auto", device="cpu")
    source = data.load("digits", image_size=image_size)
    with setting.scope():
        model = keras_resnet.build("resnet8", input_shape=source.image_shape, classes=source.num_classes)
        optimizer = setting.optimizer(keras.optimizers.SGD(learning_rate, momentum=0.9))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=setting.jit_compile)
    start = time.perf_counter()
    model.fit(data.train_dataset(source, batch_size, epochs=epochs, seed=seed), epochs=epochs, shuffle=False,
              verbose=0)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(data.eval_dataset(source, 128), verbose=0)[1]
    scale = float(optimizer.dynamic_scale) if setting.loss_scaling else None
    return accuracy, scale, seconds


def main(argv=None):
    parser = argument_parser(__doc__, __file__)
    parser.add_argument("--epochs", type=positive_int, default=15)
    parser.add_argument("--image-size", type=positive_int, default=8)
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (momentum 0.9)")
    parser.add_argument("--precisions", default="float32,bfloat16,float16",
                        help=f"comma-separated, from {', '.join(p for p in PRECISIONS if p != 'auto')}")
    args = parser.parse_args(argv)
    names = args.precisions.split(",")
    unknown = [name for name in names if name not in PRECISIONS or name == "auto"]
    if unknown or not args.lr > 0:
        parser.error(f"unknown precision(s) {unknown}" if unknown else "--lr must be positive")
    rows, reference = [], None
    for name in names:
        accuracy, scale, seconds = train_and_evaluate(name, args.epochs, args.image_size, args.lr)
        reference = accuracy if reference is None else reference
        rows.append({"precision": name, "accuracy": f"{100 * accuracy:.2f} %",
                     f"vs {names[0]}": f"{100 * (accuracy - reference):+.2f} pt",
                     "loss scale": "-" if scale is None else f"{scale:g}", "seconds": f"{seconds:.0f}"})
    print(format_table(rows, ["precision", "accuracy", f"vs {names[0]}", "loss scale", "seconds"]))
    print(f"\nResNet-8 on the {args.image_size}x{args.image_size} digits (1,437 training, 360 held-out images), "
          f"{args.epochs} epochs of batch 32, SGD {args.lr} with momentum 0.9; TensorFlow on {cpu_cores()} CPU "
          "cores.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
