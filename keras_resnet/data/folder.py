"""Any folder of one's own images, one sub-folder per class (TensorFlow-only)::

    DATA_DIR/<class>/*.jpg ...                                  split into training and validation images, or
    DATA_DIR/train/<class>/*.jpg   DATA_DIR/val/<class>/*.jpg   (``validation/`` works too) as they are.

JPEG, PNG, BMP and GIF files (the first frame) are read; class names are the sub-folders' names, sorted. Without a
``val/`` folder, every class gives ``val_fraction`` of its images (at least one, and never its last) to validation:
a stratified split that depends only on the file names and ``seed``.

Images of any size are served at ``image_size``: for large inputs (above ``LARGE_IMAGE``, e.g. 224 for ImageNet
networks) they stay encoded and get the ImageNet augmentation and evaluation crop of [He16] Sec. 3.4, as the
``imagenet`` JPEG tree (whose listing and reader this module uses); small inputs (32 for CIFAR networks) are decoded
and resized to ``image_size`` once and get the CIFAR augmentation of [He16] Sec. 4.2. The mean the model subtracts is
that of (up to ``MEAN_IMAGES``) training images: per pixel for small inputs (as [He16] Sec. 4.2 on CIFAR), per
channel for large ones.
"""

import os

import numpy as np
import tensorflow as tf

from keras_resnet.support import files
from keras_resnet.data import augment, imagenet
from keras_resnet.data.source import DataSource, DatasetNotFoundError, files_fingerprint, naming_unreadable_images
from keras_resnet.support.validation import check_val_fraction

EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".gif")
# Inputs larger than this get the ImageNet augmentation (scale augmentation, crop, lighting); smaller ones CIFAR's.
LARGE_IMAGE = 64
# The training mean is measured on at most this many training images (evenly spaced over the sorted list).
MEAN_IMAGES = 2000


def stratified_split(labels, val_fraction, seed=0):
    """``(train indices, val indices)``: ``round(val_fraction * n)`` of each class's ``n`` images to validation, at
    least one and never all (classes of one image stay in training), drawn with ``seed``."""
    check_val_fraction(val_fraction)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = min(max(1, round(val_fraction * len(members))), len(members) - 1)
        chosen = rng.permutation(members)
        val += chosen[:count].tolist()
        train += chosen[count:].tolist()
    return np.sort(np.asarray(train, "int64")), np.sort(np.asarray(val, "int64"))


def _val_dir(data_dir):
    """The validation folder beside ``data_dir/train/`` (``val/`` or ``validation/``), or ``None``."""
    if not os.path.isdir(os.path.join(data_dir, "train")):
        return None
    return next((os.path.join(data_dir, name) for name in imagenet.VAL_FOLDERS
                 if os.path.isdir(os.path.join(data_dir, name))), None)


def _splits(data_dir, val_fraction, seed):
    """``(train paths, train labels, val paths, val labels, class names)`` of the tree in ``data_dir``."""
    train_dir = os.path.join(data_dir, "train")
    root = train_dir if os.path.isdir(train_dir) else data_dir
    paths, labels, class_names = imagenet.list_tree(root, extensions=EXTENSIONS)
    counts = np.bincount(labels, minlength=len(class_names))
    if len(class_names) < 2 or counts.min() == 0:
        empty = [name for name, count in zip(class_names, counts) if count == 0]
        raise DatasetNotFoundError(
            f"--data-dir {data_dir!r} needs one sub-folder of images ({', '.join(EXTENSIONS)}) per class, at least "
            f"two classes: found {len(class_names)} class folder(s)"
            + (f", without images: {', '.join(empty[:5])}" if empty else "") + ".")
    val_dir = _val_dir(data_dir)
    if val_dir is not None:  # used as it is, or refused: never split from train/ instead, nor a class dropped
        imagenet.check_same_classes(train_dir, val_dir, class_names)
        val_paths, val_labels, _ = imagenet.list_tree(val_dir, class_names, EXTENSIONS)
        if not val_paths:
            raise DatasetNotFoundError(f"{val_dir!r} has no images ({', '.join(EXTENSIONS)}) in its class folders: "
                                       "put the validation images there, or remove it to hold out --val-fraction "
                                       "of train/ instead.")
        return paths, labels, val_paths, val_labels, class_names
    if counts.max() < 2:
        raise DatasetNotFoundError(f"--data-dir {data_dir!r} has one image per class: put at least two in a class "
                                   "(one is held out for validation), or add a val/ folder.")
    train, val = stratified_split(labels, val_fraction, seed)
    paths = np.asarray(paths)
    return paths[train].tolist(), labels[train], paths[val].tolist(), labels[val], class_names


def validation_split(data_dir, split):
    """``(paths, labels, class names)`` of the validation images that a run held out of ``data_dir``, repeating the
    split of its ``split`` record (``DataSource.split``: seed, val_fraction, files fingerprint); ``None`` when the
    files of ``data_dir`` are not those that the run split (another folder, files added, removed or renamed since,
    or another fraction), and when ``data_dir`` has a validation folder of its own (nothing was held out)."""
    data_dir = os.fspath(data_dir)
    if _val_dir(data_dir) is not None:
        return None
    try:
        train_paths, train_labels, val_paths, val_labels, class_names = _splits(
            data_dir, split["val_fraction"], split["seed"])
    except DatasetNotFoundError:  # not a folder the run could have split
        return None
    if files_fingerprint([(train_paths, train_labels), (val_paths, val_labels)], data_dir) != split["files"]:
        return None
    return val_paths, val_labels, class_names


def _resized(image_size):
    """``(bytes, label) -> (uint8 (S, S, 3), label)``: decoded (first frame of a GIF) and resized to ``S x S``
    (what ``pipeline.apply_eval_transform`` does with the runs' ``resize`` transform, for export and prediction)."""
    def decode(contents, label):
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
        image = tf.image.resize(image, (image_size, image_size), antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label
    return decode


def _mean(dataset, count, per_pixel):
    """Mean in [0, 255] of the ``(S, S, 3)`` images of ``dataset`` (the first ``count``): per pixel ``(S, S, 3)``
    ([He16] Sec. 4.2 for CIFAR-style inputs) or per channel ``(3,)``."""
    total, images_seen = 0.0, 0
    with naming_unreadable_images():
        for images in dataset.take(count).batch(64):
            total = total + images.numpy().astype("float64").sum(axis=0)
            images_seen += images.shape[0]
    mean = total / max(images_seen, 1)
    return (mean if per_pixel else mean.mean(axis=(0, 1))).astype("float32")


def load(data_dir, image_size=224, val_fraction=0.2, seed=0):
    """``DataSource`` named ``"folder"`` of the class folders in ``data_dir``, served at ``image_size``.

    Returns images as ``(image, label)``: encoded bytes (``image_size > LARGE_IMAGE``, ImageNet augmentation) or
    uint8 ``(image_size, image_size, 3)`` (CIFAR augmentation); ``int64`` labels in the order of ``class_names``.
    """
    data_dir = files.existing(data_dir, "folder", DatasetNotFoundError, "--dataset folder needs --data-dir, a folder "
                              f"with one sub-folder of images per class (got {data_dir!r}).")
    check_val_fraction(val_fraction)
    train_paths, train_labels, val_paths, val_labels, class_names = _splits(data_dir, val_fraction, seed)

    def split(paths, labels):
        return tf.data.Dataset.from_tensor_slices((paths, labels)).map(imagenet.read,
                                                                      num_parallel_calls=tf.data.AUTOTUNE)

    train, test = split(train_paths, train_labels), split(val_paths, val_labels)
    step = max(1, len(train_paths) // MEAN_IMAGES)
    large = image_size > LARGE_IMAGE
    if large:
        views = train.shard(step, 0).map(lambda image, label: augment.imagenet_eval(image, image_size),
                                         num_parallel_calls=tf.data.AUTOTUNE)
        shuffle_train = imagenet.ShuffledFiles(train_paths, train_labels)
    else:
        decode = _resized(image_size)
        train, test = (data.map(decode, num_parallel_calls=tf.data.AUTOTUNE) for data in (train, test))
        views = train.shard(step, 0).map(lambda image, label: image)
        shuffle_train = imagenet.ShuffledFiles(train_paths, train_labels, then=decode)
    fingerprint = files_fingerprint([(train_paths, train_labels), (val_paths, val_labels)], data_dir)
    return DataSource("folder", train, test, len(train_paths), len(val_paths), class_names, image_size,
                      "imagenet" if large else "cifar", _mean(views, MEAN_IMAGES, not large), encoded=large,
                      shuffle_train=shuffle_train, files=fingerprint,
                      split=None if _val_dir(data_dir) else {"seed": seed, "val_fraction": val_fraction,
                                                               "files": fingerprint})
