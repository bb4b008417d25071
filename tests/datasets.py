"""Tiny datasets in the real on-disk formats, written by the tests (no download anywhere)."""

import os
import pickle
import tarfile

import numpy as np
import tensorflow as tf

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar10_pickles(root, per_batch=4, seed=0):
    """A ``cifar-10-batches-py`` folder (5 train batches + test batch + meta) under ``root``; returns
    ``(folder, train images (N, 32, 32, 3), train labels, test images, test labels)``."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder)
    splits = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        rows = images.transpose(0, 3, 1, 2).reshape(per_batch, 3072)  # the format: R plane, G plane, B plane
        with open(os.path.join(folder, name), "wb") as file:
            pickle.dump({b"data": rows, b"labels": labels, b"batch_label": name.encode()}, file)
        splits[name] = (images, labels)
    with open(os.path.join(folder, "batches.meta"), "wb") as file:
        pickle.dump({b"label_names": [name.encode() for name in CIFAR10_NAMES], b"num_vis": 3072}, file)
    train = [splits[f"data_batch_{i}"] for i in range(1, 6)]
    return (folder, np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train]),
            splits["test_batch"][0], np.asarray(splits["test_batch"][1]))


def tar_folder(folder, path):
    with tarfile.open(path, "w:gz") as archive:
        archive.add(folder, arcname=os.path.basename(folder))
    return path


def write_jpeg_tree(root, classes=("n01", "n02", "n03"), per_class=3, sizes=((48, 64), (64, 40)), seed=0):
    """``root/train/<class>/*.JPEG`` and ``root/val/<class>/*.JPEG`` of random images of several sizes."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for label, name in enumerate(classes):
            folder = os.path.join(root, split, name)
            os.makedirs(folder)
            for index in range(per_class):
                height, width = sizes[index % len(sizes)]
                image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                image[..., label % 3] = 255  # a class-dependent colour
                tf.io.write_file(os.path.join(folder, f"img{index}.JPEG"), tf.io.encode_jpeg(image))
    return root


def write_sample_photos(folder):
    """The two photographs that ship with scikit-learn, as JPEGs in ``folder``; returns their paths."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    sample = load_sample_images()
    paths = []
    for name, image in zip(sample.filenames, sample.images):
        path = os.path.join(folder, os.path.basename(name))
        Image.fromarray(image).save(path, quality=90)
        paths.append(path)
    return paths
