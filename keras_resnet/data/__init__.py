"""Datasets and tf.data pipelines (TensorFlow-only).

    source = keras_resnet.data.load("cifar10", data_dir="~/data/cifar-10-batches-py")
    train = keras_resnet.data.train_dataset(source, batch_size=128, epochs=164)
"""

from keras_resnet.support.choices import DATASETS
from keras_resnet.data import cifar, digits, folder, imagenet
from keras_resnet.data.pipeline import (apply_eval_transform, apply_ten_crop_transform, augmented_examples,
                                        eval_dataset, eval_transform, steps_per_epoch, ten_crop_dataset,
                                        train_dataset)
from keras_resnet.data.source import (DatasetNotFoundError, DataSource, UnreadableImageError, naming_unreadable_images,
                                      unreadable_image)


def load(name, data_dir=None, download=False, manual_dir=None, image_size=None, val_fraction=0.2, seed=0):
    """The ``DataSource`` of ``name`` (one of ``DATASETS``); ``data_dir`` as each dataset module documents;
    ``val_fraction`` and ``seed``: the validation split of a ``folder`` without ``val/``."""
    if name == "digits":
        return digits.load(image_size or 32)
    if name in ("cifar10", "cifar100"):
        if image_size not in (None, 32):
            raise ValueError(f"--image-size applies to digits and imagenet; {name} images are 32x32: leave it out.")
        return cifar.load(name, data_dir, download)
    if name == "imagenet":
        return imagenet.load(data_dir, manual_dir, image_size or 224)
    if name == "folder":
        return folder.load(data_dir, image_size or 224, val_fraction, seed)
    raise ValueError(f"Unknown dataset {name!r}: choose one of {', '.join(DATASETS)} (digits needs no download).")


__all__ = ["DATASETS", "DataSource", "DatasetNotFoundError", "UnreadableImageError", "apply_eval_transform",
           "apply_ten_crop_transform", "augmented_examples", "cifar", "digits", "eval_dataset", "eval_transform",
           "folder", "imagenet", "load", "naming_unreadable_images", "steps_per_epoch", "ten_crop_dataset",
           "train_dataset", "unreadable_image"]
