"""What every dataset hands to the input pipeline: a ``DataSource``.

TensorFlow-only (tf.data). A source holds unbatched, unshuffled ``(image, label)`` datasets, the augmentation that
the paper uses for it, and the preprocessing numbers (the training-set mean) that the model stores.
"""

import contextlib
import dataclasses
import re
from typing import Callable

import numpy as np
import tensorflow as tf


# The first item of the failed in-graph check on a file that is not an image; the second item is its path.
NOT_AN_IMAGE = "keras_resnet: not an image:"


class DatasetNotFoundError(ValueError):
    """The data is not where it was looked for; the message says where, and how to get it."""


class UnreadableImageError(ValueError):
    """A file in an image folder is not an image; the message names the file and the fix."""


def unreadable_image(error):
    """The ``UnreadableImageError`` behind a pipeline's ``tf.errors.InvalidArgumentError``, or ``None``.

    The image-folder reader checks each file's leading bytes in the graph and fails with its path; TensorFlow reports
    that deep inside a long message, from wherever the dataset was iterated (``fit``, ``evaluate``, a loop).
    """
    match = re.search(re.escape(NOT_AN_IMAGE) + r"\] \[(.+?)\]\s*$", str(error), re.MULTILINE)
    if match is None:
        return None
    return UnreadableImageError(f"{match.group(1)} is not a JPEG, PNG, GIF or BMP image: remove it from the "
                                "image folder or replace it with the image.")


@contextlib.contextmanager
def naming_unreadable_images():
    """Re-raises a failed image check inside the block as a one-line ``UnreadableImageError`` (a ``ValueError``)."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        named = unreadable_image(error)
        if named is None:
            raise
        raise named from None


@dataclasses.dataclass
class DataSource:
    """A dataset ready for ``pipeline.train_dataset`` / ``pipeline.eval_dataset``.

    Attributes:
        name: ``"digits"``, ``"cifar10"``, ``"cifar100"``, ``"imagenet"`` or ``"folder"`` (one's own classes).
        train, test: ``tf.data.Dataset`` of ``(image, label)``: ``uint8 (H, W, 3)`` images, or encoded JPEG/PNG
            bytes (``encoded=True``); ``int64`` labels.
        num_train, num_test: examples in each split.
        class_names: one name per class.
        image_size: side of the square network input.
        augmentation: ``"cifar"`` ([He16] Sec. 4.2: pad 4, random crop, flip) or ``"imagenet"`` ([He16] Sec. 3.4).
        mean: the training-set mean in [0, 255]: per pixel ``(H, W, 3)`` or per channel ``(3,)``.
        flip: random horizontal flips in training (off for the digits: a mirrored digit is another symbol).
        encoded: images are encoded bytes (decoded inside the pipeline).
        shuffle_train: how one epoch orders the training split: a function ``epoch_seed (int) -> dataset`` of
            ``(image, label)``; ``None``: ``train`` shuffled whole, in memory (see ``train_epoch``).
    """

    name: str
    train: tf.data.Dataset
    test: tf.data.Dataset
    num_train: int
    num_test: int
    class_names: list
    image_size: int
    augmentation: str
    mean: np.ndarray
    flip: bool = True
    encoded: bool = False
    shuffle_train: Callable[[int], tf.data.Dataset] | None = None

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return (self.image_size, self.image_size, 3)

    def train_epoch(self, epoch_seed):
        """The training split in the order of the epoch whose seed is ``epoch_seed``: a pure function of it."""
        if self.shuffle_train is not None:
            return self.shuffle_train(epoch_seed)
        return self.train.shuffle(self.num_train, seed=epoch_seed, reshuffle_each_iteration=False)


def from_arrays(name, train, test, class_names, flip=True):
    """A source over in-memory ``(images uint8 (N, H, W, 3), labels (N,))`` pairs, mean per pixel."""
    (x_train, y_train), (x_test, y_test) = train, test
    for split, images in (("train", x_train), ("test", x_test)):
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"{name} {split} images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    mean = x_train.astype("float64").mean(axis=0).astype("float32")
    return DataSource(
        name=name,
        train=tf.data.Dataset.from_tensor_slices((x_train, np.asarray(y_train, "int64"))),
        test=tf.data.Dataset.from_tensor_slices((x_test, np.asarray(y_test, "int64"))),
        num_train=len(x_train), num_test=len(x_test), class_names=list(class_names),
        image_size=x_train.shape[1], augmentation="cifar", mean=mean, flip=flip)
