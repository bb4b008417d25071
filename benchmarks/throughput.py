"""Training and inference speed of our networks against keras.applications, per precision and XLA setting, as
images/s, achieved FLOP/s and the fraction of the machine's measured peak; one table, one run.

    python benchmarks/throughput.py        # ~7 minutes on 2 cores: ResNet-50 at 224px without XLA, ResNet-20
    python benchmarks/throughput.py --image-size 96 --batch-size 8     # quicker
    python benchmarks/throughput.py --rounds 3 --resnet50-jit off on \
        --cifar resnet20 resnet56 resnet110 --precisions float32 bfloat16 float16

Every (model, precision, XLA) configuration is built under its Keras dtype policy and compiled once (SGD, sparse
cross-entropy, ``jit_compile`` as asked; float16 with loss scaling), warmed up, then timed in alternating rounds:
each round times every configuration in turn (median step over ``--steps`` batches) and each keeps its best round.
The peak is a square matmul of the same dtype timed in the same rounds (with and without XLA, the faster).
FLOPs: ``keras_resnet.models.stats.count_flops`` multiply-adds x 2 per image forward, x 3 for a training step (forward,
and backward for activations and weights). Ratios are ours / keras.applications in the same run and setting.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_resnet  # noqa: E402
from keras_resnet.models.stats import count_flops  # noqa: E402
from keras_resnet.support.tables import format_table  # noqa: E402
from keras_resnet.support.timing import median_latency  # noqa: E402
from keras_resnet.training import precision as precision_lib  # noqa: E402
from keras_resnet.support.validation import positive_int  # noqa: E402
from timing import alternate, argument_parser, check_models, cpu_cores  # noqa: E402

TRAIN_FLOPS_PER_FORWARD = 3


def compiled(model, setting):
    model.compile(optimizer=setting.optimizer(keras.optimizers.SGD(0.01, momentum=0.9)),
                  loss="sparse_categorical_crossentropy", jit_compile=setting.jit_compile)
    return model


def steppers(model, batch_size):
    """``(train step, inference step)`` callables on one fixed random batch."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch_size, *model.input.shape[1:])).astype("float32")
    y = rng.integers(0, model.output.shape[-1], batch_size)
    return (lambda: model.train_on_batch(x, y)), (lambda: model.predict_on_batch(x))


def images_per_second(model, batch_size, steps, train):
    """Median images/s of a model compiled as it is (float32, Keras' default jit_compile) over ``steps`` batches."""
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    step = steppers(model, batch_size)[0 if train else 1]
    return batch_size / median_latency(step, repeats=steps)


def matmul_flops_per_second(dtype, size, repeats):
    """Best of plain and XLA-compiled ``size x size`` matmuls in ``dtype``: the machine's measured peak FLOP/s."""
    rng = np.random.default_rng(0)
    a, b = (tf.constant(rng.standard_normal((size, size)), dtype) for _ in range(2))
    best = 0.0
    for jit in (False, True):
        matmul = tf.function(lambda a, b: tf.matmul(a, b), jit_compile=jit)
        best = max(best, 2 * size ** 3 / median_latency(lambda: matmul(a, b).numpy(), repeats, warmup=2))
    return best


def main(argv=None):
    parser = argument_parser(__doc__, __file__)
    parser.add_argument("--image-size", type=positive_int, default=224, help="ResNet-50 input side (the paper's)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="ResNet-50 batch")
    parser.add_argument("--cifar", nargs="*", default=["resnet20"], help="CIFAR nets timed at batch --cifar-batch")
    parser.add_argument("--cifar-batch", type=positive_int, default=64)
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"],
                        choices=[p for p in precision_lib.PRECISIONS if p != "auto"])
    parser.add_argument("--jit", nargs="+", default=["off", "on"], choices=["off", "on"],
                        help="XLA settings of the CIFAR nets")
    parser.add_argument("--resnet50-jit", nargs="+", default=["off"], choices=["off", "on"],
                        help="XLA settings of the ResNet-50s (compiling one takes about a minute on 2 cores)")
    parser.add_argument("--steps", type=positive_int, default=3, help="timed batches per measurement")
    parser.add_argument("--rounds", type=positive_int, default=2,
                        help="alternating rounds; each configuration keeps its best")
    parser.add_argument("--matmul-size", type=positive_int, default=1024)
    parser.add_argument("--no-reference", action="store_true", help="skip keras.applications' ResNet-50")
    args = parser.parse_args(argv)
    for name in ("image_size", "batch_size", "cifar_batch", "steps", "rounds", "matmul_size"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    check_models(parser, args.cifar)

    shape = (args.image_size, args.image_size, 3)
    models = [("resnet50 (keras_resnet)", lambda: keras_resnet.ResNet50(weights=None, input_shape=shape),
               args.batch_size, args.resnet50_jit)]
    if not args.no_reference:
        models.append(("ResNet50 (keras.applications)",
                       lambda: keras.applications.ResNet50(weights=None, input_shape=shape), args.batch_size,
                       args.resnet50_jit))
    models += [(name, lambda name=name: keras_resnet.build(name), args.cifar_batch, args.jit) for name in args.cifar]

    configs, measurements = [], {}
    for label, make, batch, jits in models:
        for precision in args.precisions:
            for jit in jits:
                setting = precision_lib.resolve(precision, jit)
                with setting.scope():
                    model = compiled(make(), setting)
                train, infer = steppers(model, batch)
                key = (label, precision, jit)
                configs.append((key, batch, 2 * count_flops(model), model))
                for kind, step in (("train", train), ("infer", infer)):
                    step()  # tracing and (with XLA) compilation, outside the timed rounds
                    measurements[key + (kind,)] = (lambda step=step, batch=batch:
                                                   batch / median_latency(step, args.steps, warmup=1))
    dtypes = {precision: {"float32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}[precision]
              for precision in args.precisions}
    for precision, dtype in dtypes.items():
        measurements[("matmul", precision)] = lambda dtype=dtype: matmul_flops_per_second(dtype, args.matmul_size, 5)
    best = alternate(measurements, args.rounds)

    rows = []
    for precision in args.precisions:
        peak = best[("matmul", precision)]
        rows.append({"model": f"matmul {args.matmul_size}^2 (peak)", "input": "-", "batch": "-",
                     "precision": precision, "XLA": "best", "train img/s": "-", "infer img/s": "-",
                     "train GFLOP/s": "-", "infer GFLOP/s": f"{peak / 1e9:.0f}", "train % peak": "-",
                     "infer % peak": "100%", "train ratio": "-", "infer ratio": "-"})
    for (label, precision, jit), batch, forward_flops, model in configs:
        peak = best[("matmul", precision)]
        train, infer = best[(label, precision, jit, "train")], best[(label, precision, jit, "infer")]
        reference = ("ResNet50 (keras.applications)", precision, jit, "train")
        ratio = label.startswith("resnet50") and reference in best
        train_flops, infer_flops = TRAIN_FLOPS_PER_FORWARD * forward_flops * train, forward_flops * infer
        rows.append({"model": label, "input": f"{model.input.shape[1]}px", "batch": batch, "precision": precision,
                     "XLA": jit, "train img/s": f"{train:.1f}", "infer img/s": f"{infer:.1f}",
                     "train GFLOP/s": f"{train_flops / 1e9:.0f}", "infer GFLOP/s": f"{infer_flops / 1e9:.0f}",
                     "train % peak": f"{100 * train_flops / peak:.0f}%",
                     "infer % peak": f"{100 * infer_flops / peak:.0f}%",
                     "train ratio": f"{train / best[reference]:.2f}x" if ratio else "-",
                     "infer ratio": f"{infer / best[reference[:3] + ('infer',)]:.2f}x" if ratio else "-"})
    print(format_table(rows, list(rows[0])))
    auto = precision_lib.resolve()
    print(f"\nkeras {keras.__version__}, TensorFlow {tf.__version__}, backend {keras.backend.backend()}, "
          f"{cpu_cores()} CPU cores, device {auto.device}; best of {args.rounds} alternating rounds of "
          f"{args.steps} steps. auto here: {auto.description}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
