"""Input pipeline speed: the ImageNet JPEG pipeline before and after windowed decoding, against plain tf.data,
Keras' directory loader and the cost of decoding the windows alone, and the CIFAR pipeline against what training
consumes; one run.

    python benchmarks/input_pipeline.py                  # photographs and noise, 256 JPEGs each, 3 rounds
    python benchmarks/input_pipeline.py --content photo --quality 98     # photographs at ImageNet's ~110 kB a JPEG

JPEG rows, for each ``--content`` on its own tree of 500x375 JPEGs written to a temporary folder, batch 32, all
pipelines of all contents in alternating rounds (each keeps its best round of 24 batches, timed after 2 warm-up
batches):

- "before": the pipeline as it was, kept here as the reference: encoded files read into a shuffle buffer, then each
  image decoded whole, its shorter side resized (antialiased) to a random side in [256, 480], random 224 crop,
  flip, PCA lighting.
- "ours": ``keras_resnet.data.train_dataset`` (the whole list shuffled, files read in parallel, the scale
  augmentation's crop taken as a window in source pixels: only it is decoded, flipped and resized to 224; same
  augmentation).
- "plain tf.data": decode, resize the shorter side to [256, 480] without antialiasing, random crop, flip.
- "keras image_dataset_from_directory": Keras' loader resizing to 256x341 (shorter side 256), then a random crop.
- "decode bound": the files ours reads, in its order and parallelism, with only its windows decoded: no pipeline
  that decodes these windows can go faster on this machine.

The CIFAR rows: the [He16] Sec. 4.2 pipeline on 50,000 in-memory images at batch 128, and the training images/s of
CIFAR ResNets, which it should exceed several times so that training is never input-bound.
"""

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
from keras_resnet.support.validation import positive_int  # noqa: E402
from keras_resnet.support.tables import format_table  # noqa: E402
from keras_resnet.data import augment  # noqa: E402
from keras_resnet.data.source import from_arrays  # noqa: E402
from throughput import images_per_second  # noqa: E402
from timing import alternate, argument_parser, check_models, cpu_cores  # noqa: E402
from timing import dataset_images_per_second  # noqa: E402

AUTOTUNE = tf.data.AUTOTUNE
SIZE, BATCH = 224, 32
PHOTOS = load_sample_images().images  # china.jpg and flower.jpg, 427x640
CONTENTS = ("photo", "noise", "smooth")
PIPELINES = {"before": "before: whole decode + antialiased resize", "ours": "ours: windowed decode",
             "plain": "plain tf.data (no antialias)", "keras": "keras image_dataset_from_directory",
             "bound": "decode bound: ours' windows decoded only"}


def random_image(rng, content):
    """A 500x375 image: a random crop of one of scikit-learn's two sample photographs (427x640), randomly mirrored
    (~56 kB as JPEG of quality 90, ~113 kB at 98), uniform noise (the costliest to decode: ~172 kB at 90), or smooth
    waves with mild noise (~80 kB at 90). ImageNet's training JPEGs average about 110 kB."""
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


def write_jpegs(folder, count, content, quality, classes=8):
    """``count`` 500x375 JPEGs (rounded up to a multiple of ``classes``) in ``folder/train/<class>/`` and two per
    class in ``val/``. Returns how many training JPEGs it wrote and their mean size in bytes."""
    rng, per_class_train, sizes = np.random.default_rng(0), -(-count // classes), []
    for split, per_class in (("train", per_class_train), ("val", 2)):
        for label in range(classes):
            os.makedirs(os.path.join(folder, split, f"n{label:02d}"))
            for index in range(per_class):
                encoded = tf.io.encode_jpeg(random_image(rng, content), quality=quality)
                tf.io.write_file(os.path.join(folder, split, f"n{label:02d}", f"{index}.JPEG"), encoded)
                sizes += [len(encoded.numpy())] if split == "train" else []
    return per_class_train * classes, float(np.mean(sizes))


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


def decode_bound(paths, labels, epochs, count):
    """The files in ours' order and parallelism (``ShuffledFiles.epochs``), only its training windows decoded (the
    decoded window's shape is what comes out, so nothing else is computed)."""
    def decode_window(image_bytes, seed):
        seeds = tf.random.experimental.stateless_split(seed, 4)
        return augment.read_window(image_bytes, lambda shape, crop: tf.shape(
            crop(augment.train_window(shape, seeds, SIZE))))
    files = data.imagenet.ShuffledFiles(paths, labels)
    return files.epochs(list(range(epochs)), count, decode_window).batch(BATCH, drop_remainder=True).prefetch(AUTOTUNE)


def cifar_source(count=50_000):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, count)
    return from_arrays("cifar10", (images, labels), (images[:1000], labels[:1000]), [str(i) for i in range(10)])


def jpeg_pipelines(folder, batches):
    """``PIPELINES`` name -> maker of that dataset on the tree in ``folder``, for ``batches`` timed batches."""
    source = data.load("imagenet", data_dir=folder, image_size=SIZE)
    paths, labels, _ = data.imagenet.list_tree(os.path.join(folder, "train"))
    epochs = -(-(batches + 2) * BATCH // source.num_train) + 1  # one round's batches and the warm-up
    makers = (lambda: before_pipeline(paths, labels),
              lambda: data.train_dataset(source, BATCH, epochs=epochs),
              lambda: plain_pipeline(paths, labels),
              lambda: keras_pipeline(os.path.join(folder, "train")),
              lambda: decode_bound(paths, labels, epochs, source.num_train))
    return dict(zip(PIPELINES.values(), makers))


def main(argv=None):
    parser = argument_parser(__doc__, __file__)
    parser.add_argument("--images", type=positive_int, default=256, help="training JPEGs written (500x375)")
    parser.add_argument("--content", nargs="+", choices=CONTENTS, default=["photo", "noise"],
                        help="what the JPEGs show, one tree each: crops of two real photographs (~56 kB at quality "
                             "90), uniform noise (~172 kB, the costliest to decode), or smooth waves with mild noise "
                             "(~80 kB)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality, 1-100")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="alternating rounds; each pipeline keeps its best")
    parser.add_argument("--batches", type=positive_int, default=24, help="JPEG batches of 32 timed per round")
    parser.add_argument("--cifar-batches", type=positive_int, default=40, help="CIFAR batches of 128 timed per round")
    parser.add_argument("--models", nargs="*", default=["resnet20"], help="CIFAR nets whose training is timed")
    args = parser.parse_args(argv)
    if args.images < BATCH:
        parser.error(f"--images must be at least one batch ({BATCH}), got {args.images}")
    if not 1 <= args.quality <= 100:
        parser.error(f"--quality must be in 1-100, got {args.quality}")
    check_models(parser, args.models)
    contents, cores = list(dict.fromkeys(args.content)), cpu_cores()

    with tempfile.TemporaryDirectory() as folder:
        measurements, written = {}, {}
        for content in contents:
            tree = os.path.join(folder, content)
            written[content] = write_jpegs(tree, args.images, content, args.quality)
            for name, make in jpeg_pipelines(tree, args.batches).items():
                measurements[content, name] = lambda make=make: dataset_images_per_second(make(), args.batches)
        cifar = cifar_source()
        measurements["cifar"] = lambda: dataset_images_per_second(data.train_dataset(cifar, 128, epochs=2),
                                                                  args.cifar_batches)
        speeds = alternate(measurements, args.rounds)

    rows = []
    for content in contents:
        size = written[content][1]
        of = {short: speeds[content, name] for short, name in PIPELINES.items()}
        for name in PIPELINES.values():
            speed = speeds[content, name]
            rows.append({"JPEGs": f"{content}, {size / 1000:.0f} kB", "pipeline": name, "images/s": f"{speed:.0f}",
                         "per core": f"{speed / cores:.0f}", "vs before": f"{speed / of['before']:.2f}x",
                         "vs plain tf.data": f"{speed / of['plain']:.2f}x",
                         "vs keras loader": f"{speed / of['keras']:.2f}x",
                         "of decode bound": f"{100 * speed / of['bound']:.0f} %"})
    columns = ["JPEGs", "pipeline", "images/s", "per core", "vs before", "vs plain tf.data", "vs keras loader",
               "of decode bound"]
    print(format_table(rows, columns))
    cifar_speed = speeds["cifar"]
    rows = [{"pipeline": "CIFAR pipeline (pad/crop/flip)", "images/s": f"{cifar_speed:.0f}",
             "per core": f"{cifar_speed / cores:.0f}", "pipeline / training": "-"}]
    for name in args.models:
        speed = images_per_second(keras_resnet.build(name), 128, 5, train=True)
        rows.append({"pipeline": f"{name} training (consumer)", "images/s": f"{speed:.0f}",
                     "per core": f"{speed / cores:.0f}", "pipeline / training": f"{cifar_speed / speed:.1f}x"})
    print()
    print(format_table(rows, ["pipeline", "images/s", "per core", "pipeline / training"]))
    trees = ", ".join(f"{written[content][0]} {content}" for content in contents)
    print(f"\n500x375 JPEGs of quality {args.quality} ({trees}) -> 224x224, batch 32; CIFAR batch 128; best of "
          f"{args.rounds} alternating round(s) of {args.batches} JPEG / {args.cifar_batches} CIFAR batches; training "
          f"rows: median of 5 steps; {cores} CPU cores, TensorFlow {tf.__version__}, keras {keras.__version__}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
