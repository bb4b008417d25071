"""What every dataset hands to the input pipeline: a ``DataSource``.

TensorFlow-only (tf.data). A source holds unbatched, unshuffled ``(image, label)`` datasets, the augmentation that
the paper uses for it, and the preprocessing numbers (the training-set mean) that the model stores.
"""

import collections
import contextlib
import dataclasses
import hashlib
import os
import re
import sys
from typing import Callable

import numpy as np
import tensorflow as tf


# The first item of the failed in-graph check on a file that is not an image; the second item is its path.
NOT_AN_IMAGE = "keras_resnet: not an image:"
# What TensorFlow's decoders say of an encoded image they cannot decode (a truncated or damaged file). Its path is
# not in the message: the files listed in this process are searched for it (``listed_images``).
UNDECODABLE = re.compile(r"jpeg::Uncompress failed|Invalid (?:JPEG|PNG|GIF|BMP)\b|Failed to decode gif")
# What ``tf.io.read_file`` says after the path of a file that is not there; the text before the path varies (a
# ``{{function_node ...}}`` prefix, the name of the tf.data transformation), so the listed paths are matched to it.
MISSING = "; No such file or directory"
# The image lists that this process's latest sources read (``listed_images``), newest last, kept by reference:
# searched newest first, so the files of the source that failed come first.
_LISTED = collections.deque(maxlen=8)
# Lists longer than this get a line on stderr before they are searched (a full decode of every file).
ANNOUNCE_SEARCH = 10_000


class DatasetNotFoundError(ValueError):
    """The data is not where it was looked for; the message says where, and how to get it."""


class UnreadableImageError(ValueError):
    """A file in an image folder is not an image; the message names the file and the fix."""


def listed_images(paths):
    """Records ``paths``, the image files a source will read, as where an undecodable image is looked for
    (``unreadable_image``); returns them."""
    _LISTED.append(paths)
    return paths


def files_fingerprint(splits, root):
    """A fingerprint of a dataset read from files: SHA-256 (16 hex digits) of each split's file paths relative to
    ``root``, with their labels, in order; ``splits``: ``(paths, labels)`` pairs (training, then validation). Files
    added, removed or renamed, moved to another class or to the other split change it; moving the whole folder does
    not, nor does replacing a file's contents under the same name."""
    digest, prefix = hashlib.sha256(), os.path.join(root, "")
    for index, (paths, labels) in enumerate(splits):
        digest.update(f"split {index}\n".encode())
        for path, label in zip(paths, labels):
            # The listed paths are joined to ``root``: cutting it off is their relative path (``relpath`` for each
            # of ImageNet's 1.3 million files would add seconds to every start).
            relative = path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, root)
            digest.update(f"{relative}\t{int(label)}\n".encode())
    return digest.hexdigest()[:16]


def first_undecodable(paths):
    """The first of ``paths`` that exists but that TensorFlow cannot decode whole, or ``None``.

    Decodes in parallel (tf.data), keeping order; a file whose decode fails is dropped (``ignore_errors``), so the
    first missing index is the file sought, and the search stops there.
    """
    paths = [path for path in paths if os.path.isfile(path)]  # files since removed are not the culprit
    if not paths:
        return None
    decoded = tf.data.Dataset.from_tensor_slices((tf.range(len(paths), dtype=tf.int64), tf.constant(paths))).map(
        lambda index, path: (index, tf.shape(tf.io.decode_image(tf.io.read_file(path), channels=3,
                                                                  expand_animations=False))),
        num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    expected = 0
    for index, _ in decoded:
        if int(index) != expected:
            break
        expected += 1
    return paths[expected] if expected < len(paths) else None


def missing_image(error):
    """The ``UnreadableImageError`` behind a pipeline's ``tf.errors.NotFoundError`` for a listed image file that is
    gone (deleted or moved after the folder was listed, or a link whose target went), or ``None``."""
    message = str(error)
    ends = [match.start() for match in re.finditer(re.escape(MISSING), message)]
    for paths in reversed(_LISTED) if ends else ():
        found = [path for path in paths if any(message.endswith(path, 0, end) for end in ends)]
        if found:
            return UnreadableImageError(f"{max(found, key=len)} is gone (deleted or moved after the image folder "
                                        "was listed): restore it, or rerun so that the folder is listed again.")
    return None


def unreadable_image(error):
    """The ``UnreadableImageError`` behind a pipeline's ``tf.errors.InvalidArgumentError``, or ``None``; for a
    ``tf.errors.NotFoundError``, the one of ``missing_image``.

    The image-folder reader checks each file's leading bytes in the graph and fails with its path; TensorFlow reports
    that deep inside a long message, from wherever the dataset was iterated (``fit``, ``evaluate``, a loop). A file
    that starts like an image but cannot be decoded (truncated, damaged) fails in a decoder whose message has no
    path: the lists of ``listed_images`` are then decoded, newest first, until the file is found.
    """
    if isinstance(error, tf.errors.NotFoundError):
        return missing_image(error)
    message = str(error)
    match = re.search(re.escape(NOT_AN_IMAGE) + r"\] \[(.+?)\]\s*$", message, re.MULTILINE)
    if match is not None:
        return UnreadableImageError(f"{match.group(1)} is not a JPEG, PNG, GIF or BMP image: remove it from the "
                                    "image folder or replace it with the image.")
    failure = UNDECODABLE.search(message)
    if failure is None:
        return None
    for paths in reversed(_LISTED):
        if len(paths) > ANNOUNCE_SEARCH:
            print(f"An image could not be decoded ({failure.group(0)}): looking for it among {len(paths):,} files.",
                  file=sys.stderr, flush=True)
        path = first_undecodable(paths)
        if path is not None:
            return UnreadableImageError(f"{path} cannot be decoded ({failure.group(0)}): the file is truncated or "
                                        "damaged; remove it from the image folder or replace it with an intact copy.")
    return None


@contextlib.contextmanager
def naming_unreadable_images():
    """Re-raises a failed image check, or a listed image that is gone, inside the block as a one-line
    ``UnreadableImageError`` (a ``ValueError``)."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
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
        shuffle_train: how one epoch orders the training split: a function ``epoch_seed -> dataset`` of
            ``(image, label)`` (the seed an int64 scalar tensor); ``None``: ``train`` shuffled whole, in memory (see
            ``train_epoch``). One with an ``epochs(epoch_seeds, count, augment)`` method (a ``Permuted``: in-memory
            arrays, image folders) also streams several epochs as one dataset (see ``train_epochs``); in-memory
            arrays also give them a batch at a time (``PermutedArrays.batches``).
        files: ``files_fingerprint`` of both splits of a source read from files; ``None`` otherwise.
        split: for a folder whose validation images were held out of it (no ``val/``): ``{"seed", "val_fraction",
            "files"}``, what repeats the split (``folder.validation_split``); ``None`` otherwise.
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
    files: str | None = None
    split: dict | None = None

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return (self.image_size, self.image_size, 3)

    def train_epoch(self, epoch_seed):
        """The training split in the order of the epoch whose seed is ``epoch_seed``: a pure function of it."""
        return tf.data.Dataset.from_tensors(tf.constant(epoch_seed, tf.int64)).flat_map(self._ordered)

    def _ordered(self, epoch_seed):
        """``train_epoch`` for an int64 scalar tensor, inside a traced function."""
        # The order is a function of the epoch seed alone: the traced function ignores the process's global seed
        # (with a global seed of 0, TensorFlow cannot even combine it with a tensor op seed).
        tf.random.set_seed(None)
        if self.shuffle_train is not None:
            return self.shuffle_train(epoch_seed)
        return self.train.shuffle(self.num_train, seed=epoch_seed, reshuffle_each_iteration=False)

    def train_epochs(self, epoch_seeds, count, augment):
        """``(augment(image, seed), label)`` of the first ``count`` examples of each epoch in ``epoch_seeds`` (Python
        ints, or a ``range``), in turn, each epoch in ``train_epoch``'s order; ``seed``: int64 ``[epoch_seed,
        position in the epoch]``, the stateless seed of the example's augmentation. Augmented in parallel, in order.

        The epochs are one dataset over a tensor of their seeds, so building it costs the same for 10 epochs as for
        100,000 (a dataset per epoch, concatenated, grew faster than the epoch count)."""
        if hasattr(self.shuffle_train, "epochs"):
            return self.shuffle_train.epochs(epoch_seeds, count, augment)

        def one_epoch(epoch_seed):
            data = self._ordered(epoch_seed).take(count).enumerate()
            return data.map(lambda index, example: (*example, tf.stack([epoch_seed, index])))
        # One augmentation map over all epochs: its parallel calls stay busy across epoch boundaries.
        return seeds_dataset(epoch_seeds).flat_map(one_epoch).map(
            lambda image, label, seed: (augment(image, seed), label), num_parallel_calls=tf.data.AUTOTUNE)


def seeds_dataset(epoch_seeds):
    """int64 scalars of ``epoch_seeds``; a ``range`` stays a range, so a stream's graph holds the same few nodes
    for 10 epochs as for 100,000."""
    if isinstance(epoch_seeds, range):
        return tf.data.Dataset.range(epoch_seeds.start, epoch_seeds.stop, epoch_seeds.step)
    return tf.data.Dataset.from_tensor_slices(tf.constant(list(epoch_seeds), tf.int64))


def nth_seed(epoch_seeds, k):
    """``epoch_seeds[k]`` for an int64 tensor ``k``, computed in the graph for a ``range`` (see ``seeds_dataset``)."""
    if isinstance(epoch_seeds, range):
        return epoch_seeds.start + k * epoch_seeds.step
    return tf.gather(tf.constant(list(epoch_seeds), tf.int64), k)


class Permuted:
    """A training split of ``size`` examples in a fresh order each epoch: position ``p`` of the epoch whose seed is
    ``s`` holds example ``index_shuffle(p, [s, 0], size - 1)`` (``tf.random.experimental.index_shuffle``: a pure
    function of the epoch seed, no shuffle buffer to fill at each epoch's start). Subclasses say how an index
    becomes ``(image, label)`` (``example``).

    ``self(epoch_seed)`` is one epoch (``DataSource.shuffle_train``); ``epochs`` streams several as one dataset.
    """

    def __init__(self, size):
        if size < 1:
            raise ValueError(f"A training split needs at least one example, got {size}.")
        self.last = int(size) - 1

    def example(self, index):
        """``(image, label)`` of example ``index`` (an int64 scalar tensor) of the split."""
        raise NotImplementedError

    def _example(self, position, epoch_seed):
        return self.example(tf.random.experimental.index_shuffle(position, tf.stack([epoch_seed, 0]), self.last))

    def __call__(self, epoch_seed):
        """``(image, label)`` of the epoch whose seed is ``epoch_seed``, in its order."""
        seed = tf.convert_to_tensor(epoch_seed, tf.int64)
        return tf.data.Dataset.range(self.last + 1).map(lambda position: self._example(position, seed),
                                                        num_parallel_calls=tf.data.AUTOTUNE)

    def epochs(self, epoch_seeds, count, augment):
        """``(augment(image, seed), label)`` of the first ``count`` examples of each epoch in ``epoch_seeds``, in
        turn, as ``DataSource.train_epochs`` (``seed``: int64 ``[epoch_seed, position]``). One parallel map
        selects, reads and augments them all: it never drains and refills at an epoch's end, as a map per epoch
        would (half the throughput on a folder of 256 images), each example takes one hand-over between threads,
        and the dataset's size does not grow with the number of epochs."""
        def example(step):
            epoch_seed, position = nth_seed(epoch_seeds, step // count), step % count
            image, label = self._example(position, epoch_seed)
            return augment(image, tf.stack([epoch_seed, position])), label
        return tf.data.Dataset.range(len(epoch_seeds) * count).map(example, num_parallel_calls=tf.data.AUTOTUNE)


class PermutedArrays(Permuted):
    """In-memory ``(images, labels)`` arrays in a fresh order each epoch (``Permuted``)."""

    def __init__(self, images, labels):
        super().__init__(len(images))
        self.images, self.labels = tf.constant(images), tf.constant(labels)

    def example(self, index):
        """``(image, label)`` of ``index``; of every index of a vector of them, as a batch."""
        return tf.gather(self.images, index), tf.gather(self.labels, index)

    def batches(self, epoch_seeds, count, batch_size, augment):
        """The batches of ``epochs(epoch_seeds, count, ...)`` as ``(augment(images, seed), labels)``, a batch per
        step of the map: the same examples in the same order, gathered ``batch_size`` at a time, and each batch
        augmented at once (``augment.cifar_train_batch``) with the stateless seed ``[epoch_seed, batch in the
        epoch]``. ``count`` is a multiple of ``batch_size`` (whole batches per epoch)."""
        if count % batch_size:
            raise ValueError(f"count must be a multiple of batch_size, got {count} and {batch_size}")
        per_epoch = count // batch_size

        def batch(step):
            epoch_seed, first = nth_seed(epoch_seeds, step // per_epoch), (step % per_epoch) * batch_size
            positions = first + tf.range(batch_size, dtype=tf.int64)
            images, labels = self.example(
                tf.random.experimental.index_shuffle(positions, tf.stack([epoch_seed, 0]), self.last))
            return augment(images, tf.stack([epoch_seed, step % per_epoch])), labels
        return tf.data.Dataset.range(len(epoch_seeds) * per_epoch).map(batch, num_parallel_calls=tf.data.AUTOTUNE)


def from_arrays(name, train, test, class_names, flip=True):
    """A source over in-memory ``(images uint8 (N, H, W, 3), labels (N,))`` pairs, mean per pixel."""
    (x_train, y_train), (x_test, y_test) = train, test
    for split, images in (("train", x_train), ("test", x_test)):
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"{name} {split} images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    mean = x_train.astype("float64").mean(axis=0).astype("float32")
    y_train = np.asarray(y_train, "int64")
    return DataSource(
        name=name,
        train=tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        test=tf.data.Dataset.from_tensor_slices((x_test, np.asarray(y_test, "int64"))),
        num_train=len(x_train), num_test=len(x_test), class_names=list(class_names),
        image_size=x_train.shape[1], augmentation="cifar", mean=mean, flip=flip,
        shuffle_train=PermutedArrays(x_train, y_train))
