"""CIFAR-10 and CIFAR-100 ([He16] Sec. 4.2): through TensorFlow Datasets, or from the python pickle batches.

``data_dir`` may be a TFDS data directory, a ``cifar-10-batches-py`` / ``cifar-100-python`` folder (or a folder
holding one), or the ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` tarball as downloaded from the
dataset's home page, read without extracting it.
"""

import io
import os
import pickle
import tarfile
import zlib

import numpy as np

from keras_resnet.data.source import DatasetNotFoundError, from_arrays


# name -> (pickle folder, train files, test files, label key, meta file, label-names key)
PICKLE_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels",
                "batches.meta", b"label_names"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels", "meta", b"fine_label_names"),
}


class BatchUnpickler(pickle.Unpickler):
    """Reads CIFAR's python batches as data: only the numpy globals that rebuild arrays may be named; a pickle that
    asks for anything else (a function to call) is refused, so a planted batch file cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a CIFAR batch never holds")
        return super().find_class(module, name)


def _unpickle(data):
    return BatchUnpickler(io.BytesIO(data), encoding="bytes").load()


# What a truncated, damaged or foreign batch file raises while it is read.
DAMAGED = (EOFError, KeyError, OSError, MemoryError, ValueError, IndexError, TypeError, AttributeError,
           pickle.UnpicklingError, tarfile.TarError, zlib.error)


def _pickle_reader(data_dir, name):
    """A function ``file name -> unpickled dict`` over the folder or tarball at ``data_dir``, or ``None``."""
    folder = PICKLE_LAYOUT[name][0]
    if os.path.isfile(data_dir):
        try:
            archive = tarfile.open(data_dir)
        except DAMAGED as error:
            raise DatasetNotFoundError(
                f"{data_dir} is not a readable {folder} tarball ({type(error).__name__}: {str(error)[:120]}): it "
                f"is truncated or damaged. Download it again, or pass --data-dir to a {folder} folder.") from None

        def read(file_name):
            member = archive.extractfile(f"{folder}/{file_name}")
            return _unpickle(member.read())

        read.where = lambda file_name: f"{data_dir}:{folder}/{file_name}"
        return read
    for candidate in (data_dir, os.path.join(data_dir, folder)):
        if os.path.isfile(os.path.join(candidate, PICKLE_LAYOUT[name][1][0])):
            def read(file_name, candidate=candidate):
                with open(os.path.join(candidate, file_name), "rb") as file:
                    return _unpickle(file.read())

            read.where = lambda file_name, candidate=candidate: os.path.join(candidate, file_name)
            return read
    return None


def _from_pickles(read, name):
    _, train_files, test_files, label_key, meta_file, names_key = PICKLE_LAYOUT[name]

    def load(file_name, *keys):
        try:
            batch = read(file_name)
            values = [batch[key] for key in keys]
            if keys[0] == b"data":
                values[0] = np.asarray(values[0], "uint8").reshape(-1, 3, 32, 32)
                if len(values[0]) != len(values[1]):
                    raise ValueError(f"{len(values[0])} images but {len(values[1])} labels")
            return values
        except DAMAGED as error:
            raise DatasetNotFoundError(
                f"{read.where(file_name)} is damaged or not a {name} batch ({type(error).__name__}: "
                f"{str(error)[:120]}). Download {PICKLE_LAYOUT[name][0]} again (or `tfds build {name}`) and pass "
                "--data-dir to it.") from None

    def split(files):
        batches = [load(file_name, b"data", label_key) for file_name in files]
        images = np.concatenate([images for images, _ in batches]).transpose(0, 2, 3, 1)
        labels = np.concatenate([labels for _, labels in batches])
        return np.ascontiguousarray(images, dtype="uint8"), np.asarray(labels, "int64")

    class_names = [label.decode() for label in load(meta_file, names_key)[0]]
    return from_arrays(name, split(train_files), split(test_files), class_names)


def _from_tfds(name, data_dir, download):
    import tensorflow_datasets as tfds

    try:
        (train, test), info = tfds.load(name, split=["train", "test"], data_dir=data_dir, as_supervised=True,
                                        with_info=True, download=download)
    except Exception as error:  # TFDS raises AssertionError, OSError or its own errors for missing data
        where = data_dir or "the default TFDS data dir (~/tensorflow_datasets)"
        raise DatasetNotFoundError(
            f"{name} was not found in {where} ({type(error).__name__}). Get it with `tfds build {name} "
            f"--data_dir DIR` (or run with --download), then pass --data-dir DIR; or pass --data-dir to a "
            f"{PICKLE_LAYOUT[name][0]} folder or its .tar.gz from the CIFAR home page.") from error
    class_names = info.features["label"].names
    return from_arrays(name, _to_arrays(train), _to_arrays(test), class_names)


def _to_arrays(split):
    """``(images uint8 (N, 32, 32, 3), labels (N,))`` of a TFDS split (CIFAR fits in memory: 150 MB)."""
    import tensorflow_datasets as tfds

    images, labels = zip(*tfds.as_numpy(split))
    return np.stack(images).astype("uint8"), np.asarray(labels, "int64")


def load(name="cifar10", data_dir=None, download=False):
    """``DataSource`` of CIFAR-10/100: 50,000 train and 10,000 test uint8 32x32x3 images."""
    if name not in PICKLE_LAYOUT:
        raise ValueError(f"CIFAR dataset must be one of {sorted(PICKLE_LAYOUT)}, got {name!r}")
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
        if not os.path.exists(data_dir):
            raise DatasetNotFoundError(
                f"--data-dir {data_dir!r} does not exist. Pass a TFDS data dir holding {name} "
                f"(`tfds build {name} --data_dir DIR`), a {PICKLE_LAYOUT[name][0]} folder or its .tar.gz.")
        read = _pickle_reader(data_dir, name)
        if read is not None:
            return _from_pickles(read, name)
    return _from_tfds(name, data_dir, download)

