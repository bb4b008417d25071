"""ILSVRC-2012 ([He16] Sec. 3.4): a folder of JPEGs with one sub-folder per class, or TFDS ``imagenet2012``.

Folder layout (what most users have on disk)::

    DATA_DIR/train/n01440764/*.JPEG ...    DATA_DIR/val/n01440764/*.JPEG ...   (``validation/`` works too)

Otherwise ``DATA_DIR`` is a TFDS data dir; with ``manual_dir`` (the folder holding ``ILSVRC2012_img_train.tar`` and
``ILSVRC2012_img_val.tar``) TFDS prepares the dataset there first. Images stay encoded until the pipeline decodes
them in parallel.

Every training epoch orders the whole split before anything is read: a folder's ``(path, label)`` list is permuted
(``tf.random.experimental.index_shuffle``, a pure function of the epoch seed, no buffer), then the files are read in
parallel; TFDS record files are shuffled per epoch and their examples mixed in a buffer.
"""

import os

import numpy as np
import tensorflow as tf

from keras_resnet.support import files
from keras_resnet.data import augment
from keras_resnet.data.source import (NOT_AN_IMAGE, DataSource, DatasetNotFoundError, Permuted, UnreadableImageError,
                                     files_fingerprint, listed_images)

# Per-channel RGB mean of the ImageNet training set, in [0, 255] (the mean behind the published Caffe weights).
IMAGENET_MEAN_RGB = np.array([123.68, 116.779, 103.939], "float32")
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
VAL_FOLDERS = ("val", "validation")
# TFDS examples of the shuffled record files are mixed through a buffer of this many encoded images.
TFDS_SHUFFLE_BUFFER = 10_000


def class_folders(folder):
    """The sorted names of the sub-folders of ``folder``: its classes."""
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())


def list_tree(folder, class_names=None, extensions=IMAGE_EXTENSIONS):
    """``(paths, labels, class names)`` of a one-sub-folder-per-class tree (files ending in ``extensions``); the
    paths are recorded as where an undecodable image is looked for (``source.listed_images``). A broken link among
    the files is refused here, before any work (TensorFlow would fail on it mid-run)."""
    class_names = class_names or class_folders(folder)
    paths, labels = [], []
    for label, class_name in enumerate(class_names):
        class_folder = os.path.join(folder, class_name)
        files = sorted(_image_names(class_folder, extensions)) if os.path.isdir(class_folder) else []
        paths += [os.path.join(class_folder, name) for name in files]
        labels += [label] * len(files)
    return listed_images(paths), np.asarray(labels, "int64"), class_names


def _image_names(folder, extensions):
    """The names of the files in ``folder`` that end in ``extensions``; raises ``UnreadableImageError`` for a link
    among them whose target does not exist."""
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.lower().endswith(extensions):
                continue
            # ``is_file`` reads a regular file's type from its directory entry, without a stat call (ImageNet's
            # 1.3 million files are listed at every start); only links are followed.
            if not entry.is_file() and entry.is_symlink() and not os.path.exists(entry.path):
                raise UnreadableImageError(f"{entry.path} is a broken link (to {os.readlink(entry.path)!r}, which does "
                                           "not exist): remove it from the image folder or point it at the image.")
            names.append(entry.name)
    return names


def check_same_classes(train_dir, val_dir, class_names):
    """Refuses a validation folder ``val_dir`` whose class folders are not ``class_names``, those of ``train_dir``
    (a class of one side only would be dropped or never validated without a word), in one line."""
    val_names = class_folders(val_dir)
    if val_names == list(class_names):
        return
    only_train = [name for name in class_names if name not in val_names]
    only_val = [name for name in val_names if name not in class_names]
    lowered = {name.lower(): name for name in only_train}
    cased = [f"{lowered[name.lower()]!r} / {name!r}" for name in only_val if name.lower() in lowered]

    def shown(names):
        return ", ".join(repr(name) for name in names[:5]) + (", ..." if len(names) > 5 else "")
    if cased:
        raise DatasetNotFoundError(f"The class folders of {val_dir!r} differ from those of {train_dir!r} only in "
                                   f"case ({', '.join(cased[:5])}{', ...' if len(cased) > 5 else ''}): rename them "
                                   "to match exactly.")
    missing = ([f"only in {train_dir!r}: {shown(only_train)}"] if only_train else []) + (
        [f"only in {val_dir!r}: {shown(only_val)}"] if only_val else [])
    raise DatasetNotFoundError(f"The training and validation folders need the same class folders ({'; '.join(missing)}"
                               "): add or remove class folders so that both sides match.")


def read(path, label):
    """A file's bytes, checked to be an image: a failure carries the path (see ``source.unreadable_image``)."""
    contents = tf.io.read_file(path)
    check = tf.debugging.Assert(augment.is_image(contents), [NOT_AN_IMAGE, path])
    with tf.control_dependencies([check]):
        return tf.identity(contents), label


class ShuffledFiles(Permuted):
    """A folder's training files in a fresh order each epoch (``source.Permuted``: the whole ``(path, label)`` list
    permuted by ``index_shuffle``, no buffer), the files read in parallel, each then passed through ``then``
    (``(bytes, label) -> (image, label)``, default none)."""

    def __init__(self, paths, labels, then=None):
        super().__init__(len(paths))
        self.paths, self.labels = tf.constant(paths), tf.constant(labels)
        self.then = then

    def example(self, index):
        example = read(tf.gather(self.paths, index), tf.gather(self.labels, index))
        return self.then(*example) if self.then else example


def _from_tree(data_dir, image_size):
    val_dir = next((os.path.join(data_dir, name) for name in VAL_FOLDERS
                    if os.path.isdir(os.path.join(data_dir, name))), None)
    train_paths, train_labels, class_names = list_tree(os.path.join(data_dir, "train"))
    if not train_paths or val_dir is None:
        raise DatasetNotFoundError(
            f"The JPEG tree in {data_dir!r} is incomplete: it needs train/<class>/*.JPEG and val/<class>/*.JPEG "
            f"(found {len(train_paths)} training images, validation folder: {val_dir or 'none'}).")
    check_same_classes(os.path.join(data_dir, "train"), val_dir, class_names)
    val_paths, val_labels, _ = list_tree(val_dir, class_names)

    def split(paths, labels):
        return tf.data.Dataset.from_tensor_slices((paths, labels)).map(read, num_parallel_calls=tf.data.AUTOTUNE)

    return DataSource("imagenet", split(train_paths, train_labels), split(val_paths, val_labels),
                      len(train_paths), len(val_paths), class_names, image_size, "imagenet", IMAGENET_MEAN_RGB,
                      encoded=True, shuffle_train=ShuffledFiles(train_paths, train_labels),
                      files=files_fingerprint([(train_paths, train_labels), (val_paths, val_labels)], data_dir))


def _from_tfds(data_dir, manual_dir, image_size):
    import tensorflow_datasets as tfds

    builder = tfds.builder("imagenet2012", data_dir=data_dir)
    try:
        if manual_dir is not None:
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
        splits = [builder.as_dataset(split=split, as_supervised=True, shuffle_files=False,
                                     decoders={"image": tfds.decode.SkipDecoding()})
                  for split in ("train", "validation")]
    except Exception as error:  # TFDS raises AssertionError / its own errors for missing data
        where = data_dir or "the default TFDS data dir (~/tensorflow_datasets)"
        raise DatasetNotFoundError(
            f"imagenet2012 was not found in {where} ({type(error).__name__}). ImageNet needs a manual download: "
            "put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar in a folder and pass it as --manual-dir "
            "(TFDS then prepares the dataset in --data-dir), or pass --data-dir to a folder with train/<class>/ "
            "and val/<class>/ JPEG sub-folders.") from error
    info = builder.info

    def shuffle_train(epoch_seed):
        records = builder.as_dataset(split="train", as_supervised=True, shuffle_files=True,
                                     decoders={"image": tfds.decode.SkipDecoding()},
                                     read_config=tfds.ReadConfig(shuffle_seed=epoch_seed))
        return records.shuffle(TFDS_SHUFFLE_BUFFER, seed=epoch_seed, reshuffle_each_iteration=False)

    return DataSource("imagenet", splits[0], splits[1], info.splits["train"].num_examples,
                      info.splits["validation"].num_examples, info.features["label"].names, image_size, "imagenet",
                      IMAGENET_MEAN_RGB, encoded=True, shuffle_train=shuffle_train)


def load(data_dir=None, manual_dir=None, image_size=224):
    """``DataSource`` of ImageNet with encoded images; ``image_size`` is the network input side (224)."""
    if data_dir is not None:
        data_dir = files.existing(data_dir, "folder", DatasetNotFoundError,
                                  f"--data-dir {os.fspath(data_dir)!r} does not exist: pass a folder with "
                                  "train/<class>/ and val/<class>/ JPEGs, or a TFDS data dir holding imagenet2012.")
        if os.path.isdir(os.path.join(data_dir, "train")):
            return _from_tree(data_dir, image_size)
    return _from_tfds(data_dir, manual_dir, image_size)
