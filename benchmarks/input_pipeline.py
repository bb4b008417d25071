"""Input pipeline speed: the ImageNet JPEG pipeline before and after windowed decoding, against plain tf.data and
Keras' directory loader, and the CIFAR pipeline against what training consumes; one table, one run.

    python benchmarks/input_pipeline.py                  # 256 JPEGs, 3 alternating rounds
    python benchmarks/input_pipeline.py --images 512 --rounds 5 --content photo     # or smooth

JPEG rows, all on the same tree of 500x375 JPEGs written to a temporary folder, batch 32, alternating rounds (each
keeps its best round of 24 batches, timed after 2 warm-up batches):

- "before": the pipeline as it was, kept here as the reference: encoded files read into a shuffle buffer, then each
  image decoded whole, its shorter side resized (antialiased) to a random side in [256, 480], random 224 crop,
  flip, PCA lighting.
- "ours": ``keras_resnet.data.train_dataset`` (the whole list shuffled, files read in parallel, the scale
  augmentation's crop taken as a window in source pixels: only it is decoded, flipped and resized to 224; same
  augmentation).
- "plain tf.data": decode, resize the shorter side to [256, 480] without antialiasing, random crop, flip.
- "keras image_dataset_from_directory": Keras' loader resizing to 256x341 (shorter side 256), then a random crop.

The CIFAR rows: the [He16] Sec. 4.2 pipeline on 50,000 in-memory images at batch 128, and the training images/s of
CIFAR ResNets, which it should exceed several times so that training is never input-bound.
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_sample_images  # noqa: E402

import keras_resnet  # noqa: E402
from keras_resnet import data  # noqa: E402
from keras_resnet.validation import positive_int  # noqa: E402
from keras_resnet.tables import format_table  # noqa: E402
from keras_resnet.data import augment  # noqa: E402
from keras_resnet.data.source import from_arrays  # noqa: E402
from throughput import images_per_second  # noqa: E402
from timing import alternate, dataset_images_per_second  # noqa: E402

AUTOTUNE = tf.data.AUTOTUNE
SIZE, BATCH = 224, 32
PHOTOS = load_sample_images().images  # china.jpg and flower.jpg, 427x640


def random_image(rng, content):
    """A 500x375 image: uniform noise (the hardest to decode: ~170 kB as JPEG of quality 90), a random crop of one
    of scikit-learn's two sample photographs (427x640), randomly mirrored (~55 kB), or smooth waves with mild noise
    (~80 kB). ImageNet's training JPEGs average about 110 kB."""
    if content == "noise":
        return rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
    if content == "photo":
        photo = PHOTOS[rng.integers(len(PHOTOS))]
        top, left = rng.integers(0, photo.shape[0] - 375 + 1), rng.integers(0, photo.shape[1] - 500 + 1)
        crop = photo[top:top + 375, left:left + 500]
        return crop[:, ::-1] if rng.integers(2) else crop
    y, x = np.meshgrid(np.arange(375), np.arange(500), indexing="ij")
    period = rng.uniform(10, 40, 3)
    waves = [128 + 90 * np.sin(2 * np.pi * (x * np.cos(k) + y * np.sin(k)) / p) for k, p in enumerate(period)]
    return np.clip(np.stack(waves, -1) + rng.normal(0, 6, (375, 500, 3)), 0, 255).astype(np.uint8)


def write_jpegs(folder, count, content, classes=8):
    """``count`` 500x375 JPEGs (quality 90; rounded up to a multiple of ``classes``) in ``folder/train/<class>/``
    and two per class in ``val/``. Returns how many training JPEGs it wrote."""
    rng, per_class_train = np.random.default_rng(0), -(-count // classes)
    for split, per_class in (("train", per_class_train), ("val", 2)):
        for label in range(classes):
            os.makedirs(os.path.join(folder, split, f"n{label:02d}"))
            for index in range(per_class):
                image = random_image(rng, content)
                path = os.path.join(folder, split, f"n{label:02d}", f"{index}.JPEG")
                tf.io.write_file(path, tf.io.encode_jpeg(image, quality=90))
    return per_class_train * classes


def before_augment(image_bytes, seed):
    """The training augmentation as it was: the whole image decoded and resized (antialiased), then cropped."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    image = augment.resize_shorter_side(augment.decode(image_bytes), augment.random_shorter_side(seeds[0], SIZE))
    image = tf.image.stateless_random_crop(image, (SIZE, SIZE, 3), seed=seeds[1])
    image = tf.image.stateless_random_flip_left_right(image, seed=seeds[2])
    alpha = tf.random.stateless_normal((3,), seed=seeds[3], stddev=augment.PCA_STDDEV)  # its PCA lighting, as it was
    lighting = tf.linalg.matvec(tf.constant(augment.PCA_EIGENVECTORS), alpha * tf.constant(augment.PCA_EIGENVALUES))
    return tf.clip_by_value(image + 255.0 * lighting, 0.0, 255.0)


def before_pipeline(paths, labels):
    """The training pipeline as it was: files read in list order into a 10,000-image buffer, then augmented."""
    files = tf.data.Dataset.from_tensor_slices((paths, labels)).map(
        lambda path, label: (tf.io.read_file(path), label), num_parallel_calls=AUTOTUNE)
    data_ = files.shuffle(10_000, seed=0).repeat().enumerate().map(
        lambda index, example: (before_augment(example[0], tf.stack([tf.constant(0, tf.int64), index])), example[1]),
        num_parallel_calls=AUTOTUNE)
    return data_.batch(BATCH, drop_remainder=True).prefetch(AUTOTUNE)


def plain_pipeline(paths, labels):
    """What a tf.data user writes: decode, shorter side to [256, 480] without antialiasing, random crop, flip."""
    low, high = round(SIZE * augment.SCALE_RANGE[0]), round(SIZE * augment.SCALE_RANGE[1])

    def load(path, label):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        side = tf.random.uniform((), low, high + 1, tf.int32)
        new_size = tf.cast(tf.round(shape * tf.cast(side, tf.float32) / tf.reduce_min(shape)), tf.int32)
        image = tf.image.resize(image, tf.maximum(new_size, side))
        image = tf.image.random_flip_left_right(tf.image.random_crop(image, (SIZE, SIZE, 3)))
        return image, label

    files = tf.data.Dataset.from_tensor_slices((paths, labels)).shuffle(len(paths)).repeat()
    return files.map(load, num_parallel_calls=AUTOTUNE).batch(BATCH, drop_remainder=True).prefetch(AUTOTUNE)


def keras_pipeline(folder):
    """Keras' directory loader (resized to shorter side 256) and a random 224 crop layer."""
    loaded = keras.utils.image_dataset_from_directory(folder, image_size=(256, 341), batch_size=BATCH, seed=0,
                                                      verbose=False)
    crop = keras.layers.RandomCrop(SIZE, SIZE)
    return loaded.repeat().map(lambda images, labels: (crop(images, training=True), labels),
                               num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def cifar_source(count=50_000):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, count)
    return from_arrays("cifar10", (images, labels), (images[:1000], labels[:1000]), [str(i) for i in range(10)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=positive_int, default=256, help="training JPEGs written (500x375)")
    parser.add_argument("--content", choices=["noise", "photo", "smooth"], default="noise",
                        help="what the JPEGs show: uniform noise (the costliest to decode), crops of two real "
                             "photographs, or smooth waves (cheap to decode)")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="alternating rounds; each pipeline keeps its best")
    parser.add_argument("--batches", type=positive_int, default=24, help="JPEG batches of 32 timed per round")
    parser.add_argument("--cifar-batches", type=positive_int, default=40, help="CIFAR batches of 128 timed per round")
    parser.add_argument("--models", nargs="*", default=["resnet20"], help="CIFAR nets whose training is timed")
    args = parser.parse_args(argv)
    for name in ("images", "rounds", "batches", "cifar_batches"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.images < BATCH:
        parser.error(f"--images must be at least one batch ({BATCH}), got {args.images}")
    cores = os.cpu_count()

    with tempfile.TemporaryDirectory() as folder:
        written = write_jpegs(folder, args.images, args.content)
        source = data.load("imagenet", data_dir=folder, image_size=SIZE)
        paths, labels, _ = data.imagenet.list_tree(os.path.join(folder, "train"))
        epochs = -(-(args.batches + 2) * BATCH // source.num_train) + 1  # one round's batches and the warm-up
        jpeg = {
            "before: whole decode + antialiased resize": lambda: before_pipeline(paths, labels),
            "ours: windowed decode": lambda: data.train_dataset(source, BATCH, epochs=epochs),
            "plain tf.data (no antialias)": lambda: plain_pipeline(paths, labels),
            "keras image_dataset_from_directory": lambda: keras_pipeline(os.path.join(folder, "train")),
        }
        cifar = cifar_source()
        measurements = {name: (lambda make=make: dataset_images_per_second(make(), args.batches))
                        for name, make in jpeg.items()}
        measurements["CIFAR pipeline (pad/crop/flip)"] = lambda: dataset_images_per_second(
            data.train_dataset(cifar, 128, epochs=2), args.cifar_batches)
        speeds = alternate(measurements, args.rounds)

    before, plain = speeds["before: whole decode + antialiased resize"], speeds["plain tf.data (no antialias)"]
    rows = [{"pipeline": name, "batch": BATCH, "images/s": f"{speed:.0f}", "per core": f"{speed / cores:.0f}",
             "vs before": f"{speed / before:.2f}x", "vs plain tf.data": f"{speed / plain:.2f}x"}
            for name, speed in speeds.items() if name in jpeg]
    cifar_speed = speeds["CIFAR pipeline (pad/crop/flip)"]
    rows.append({"pipeline": "CIFAR pipeline (pad/crop/flip)", "batch": 128, "images/s": f"{cifar_speed:.0f}",
                 "per core": f"{cifar_speed / cores:.0f}", "vs before": "-", "vs plain tf.data": "-"})
    for name in args.models:
        speed = images_per_second(keras_resnet.build(name), 128, 5, train=True)
        rows.append({"pipeline": f"{name} training (consumer)", "batch": 128, "images/s": f"{speed:.0f}",
                     "per core": f"{speed / cores:.0f}", "vs before": "-",
                     "vs plain tf.data": f"CIFAR pipeline {cifar_speed / speed:.1f}x"})
    print(format_table(rows, ["pipeline", "batch", "images/s", "per core", "vs before", "vs plain tf.data"]))
    print(f"\n{written} {args.content} 500x375 JPEGs (quality 90) -> 224x224; best of {args.rounds} alternating "
          f"rounds of {args.batches} batches; {cores} CPU cores, TensorFlow {tf.__version__}, "
          f"keras {keras.__version__}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
