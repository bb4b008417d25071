"""Training and inference images/s of our networks against keras.applications, measured in one run.

    python benchmarks/throughput.py                      # ResNet-50 vs keras.applications, CIFAR ResNet-20/56/110
    python benchmarks/throughput.py --image-size 160 --steps 5

Each model is compiled the same way (SGD, sparse cross-entropy, Keras' default jit_compile), warmed up, then timed
over ``--steps`` batches of the same random inputs (median step time). Ours and keras.applications alternate for
``--rounds`` rounds and each keeps its best round. Ratios are ours / reference from the same run.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_resnet  # noqa: E402
from keras_resnet.tables import format_table  # noqa: E402
from keras_resnet.validation import positive_int  # noqa: E402
from keras_resnet.timing import median_latency  # noqa: E402


def images_per_second(model, batch_size, steps, train):
    """Median images/s over ``steps`` timed batches, after three warm-up batches."""
    rng = np.random.default_rng(0)
    shape = tuple(model.input.shape[1:])
    x = rng.uniform(0, 255, (batch_size, *shape)).astype("float32")
    y = rng.integers(0, model.output.shape[-1], batch_size)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    step = (lambda: model.train_on_batch(x, y)) if train else (lambda: model.predict_on_batch(x))
    return batch_size / median_latency(step, repeats=steps)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=positive_int, default=224, help="ResNet-50 input side (default 224)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="ResNet-50 batch (CIFAR nets use 128)")
    parser.add_argument("--steps", type=positive_int, default=5, help="timed batches per measurement")
    parser.add_argument("--rounds", type=positive_int, default=2,
                        help="alternating rounds of ours vs keras.applications")
    parser.add_argument("--cifar", nargs="*", default=["resnet20", "resnet56", "resnet110"])
    args = parser.parse_args(argv)

    shape = (args.image_size, args.image_size, 3)
    pairs = [("resnet50 (keras_resnet)", lambda: keras_resnet.ResNet50(weights=None, input_shape=shape),
              "ResNet50 (keras.applications)", lambda: keras.applications.ResNet50(weights=None, input_shape=shape),
              args.batch_size)]
    rows = []
    for ours_name, ours, ref_name, ref, batch in pairs:
        measured = {ours_name: (0.0, 0.0), ref_name: (0.0, 0.0)}
        for _ in range(args.rounds):  # alternate the two models; keep each one's best round
            for label, make in ((ours_name, ours), (ref_name, ref)):
                model = make()
                train, infer = (images_per_second(model, batch, args.steps, True),
                                images_per_second(model, batch, args.steps, False))
                measured[label] = (max(train, measured[label][0]), max(infer, measured[label][1]))
                keras.backend.clear_session()
        for label, (train, infer) in measured.items():
            ref_train, ref_infer = measured[ref_name]
            rows.append({"model": label, "input": f"{args.image_size}px", "batch": batch,
                         "train img/s": f"{train:.1f}", "infer img/s": f"{infer:.1f}",
                         "train ratio": f"{train / ref_train:.2f}x", "infer ratio": f"{infer / ref_infer:.2f}x"})
    for name in args.cifar:
        model = keras_resnet.build(name)
        train, infer = (images_per_second(model, 128, args.steps, True),
                        images_per_second(model, 128, args.steps, False))
        keras.backend.clear_session()
        rows.append({"model": name, "input": "32px", "batch": 128, "train img/s": f"{train:.1f}",
                     "infer img/s": f"{infer:.1f}", "train ratio": "-", "infer ratio": "-"})
    columns = ["model", "input", "batch", "train img/s", "infer img/s", "train ratio", "infer ratio"]
    print(format_table(rows, columns))
    print(f"\nkeras {keras.__version__}, backend {keras.backend.backend()}, {os.cpu_count()} CPU cores; "
          "ratios: ours / keras.applications in the same run.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
