"""Input pipeline speed against what training consumes, measured in one run.

    python benchmarks/input_pipeline.py

Rows: the CIFAR pipeline ([He16] Sec. 4.2 augmentation, batch 128) on 50,000 in-memory CIFAR-sized images; the
ImageNet JPEG pipeline (decode, scale augmentation, crop, flip, PCA lighting) on a tree of 500x375 JPEGs written to a
temporary folder; and the training images/s of the CIFAR ResNets on the same machine. The CIFAR pipeline should
deliver several times what training consumes, so that training is never input-bound.
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_resnet  # noqa: E402
from keras_resnet import data  # noqa: E402
from keras_resnet.cli import format_table  # noqa: E402
from keras_resnet.data.source import from_arrays  # noqa: E402
from throughput import images_per_second  # noqa: E402


def pipeline_images_per_second(dataset, batches):
    iterator = iter(dataset)
    next(iterator)  # warm-up: tracing, first fill of the prefetch buffer
    start, count = time.perf_counter(), 0
    for _ in range(batches):
        images, _ = next(iterator)
        count += int(images.shape[0])
    return count / (time.perf_counter() - start)


def cifar_source(count=50_000):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, count)
    return from_arrays("cifar10", (images, labels), (images[:1000], labels[:1000]), [str(i) for i in range(10)])


def jpeg_source(folder, per_class=40, classes=5):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in range(classes):
            os.makedirs(os.path.join(folder, split, f"n{label:02d}"))
            for index in range(per_class if split == "train" else 2):
                image = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
                path = os.path.join(folder, split, f"n{label:02d}", f"{index}.JPEG")
                tf.io.write_file(path, tf.io.encode_jpeg(image, quality=90))
    return data.load("imagenet", data_dir=folder)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=100, help="CIFAR batches timed")
    parser.add_argument("--models", nargs="*", default=["resnet20", "resnet56", "resnet110"])
    args = parser.parse_args(argv)
    cores = os.cpu_count()

    cifar = cifar_source()
    cifar_speed = pipeline_images_per_second(data.train_dataset(cifar, 128, epochs=2), args.batches)
    with tempfile.TemporaryDirectory() as folder:
        imagenet = jpeg_source(folder)
        imagenet_speed = pipeline_images_per_second(data.train_dataset(imagenet, 32, epochs=50), 20)
    rows = [{"what": "CIFAR pipeline (pad/crop/flip), batch 128", "images/s": f"{cifar_speed:.0f}",
             "per core": f"{cifar_speed / cores:.0f}", "pipeline / training": "-"},
            {"what": "ImageNet JPEG pipeline (500x375 -> 224), batch 32", "images/s": f"{imagenet_speed:.0f}",
             "per core": f"{imagenet_speed / cores:.0f}", "pipeline / training": "-"}]
    for name in args.models:
        speed = images_per_second(keras_resnet.build(name), 128, 5, train=True)
        rows.append({"what": f"{name} training, batch 128", "images/s": f"{speed:.0f}",
                     "per core": f"{speed / cores:.0f}", "pipeline / training": f"{cifar_speed / speed:.1f}x"})
    print(format_table(rows, ["what", "images/s", "per core", "pipeline / training"]))
    print(f"\n{cores} CPU cores, TensorFlow {tf.__version__}; the CIFAR pipeline and training share the same cores.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
