"""Pretrained ImageNet weights and weight files.

The published files are keras.applications' conversions of the models released by the authors of [He16] (v1) and
[He16b] (v2). Their origin and MD5 hashes are facts about those files, recorded here (``WEIGHTS_HASHES``; a test
checks them against the copy inside the installed keras while it has one), and every download goes through
``keras.utils.get_file`` with its hash check.
"""

import os
import zipfile

import keras

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# Registry name -> (MD5 of the file with the classifier, MD5 of the ``_notop`` file).
WEIGHTS_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}

# Where downloads are cached; ``None`` is keras' own cache (``$KERAS_HOME`` or ``~/.keras``), under ``models/``.
CACHE_DIR = None


def published_names():
    """Registry names that have published ImageNet weights (``["resnet101", ..., "resnet50v2"]``)."""
    return sorted(WEIGHTS_HASHES)


def check_weights_argument(weights, name, include_top, classes, custom_options):
    """Validates ``weights`` before anything is built, with errors that name the fix.

    Args:
        weights: ``None``, ``"imagenet"`` or a path to a weights file.
        name: registry name of the architecture the weights are for.
        include_top: whether the classifier is built.
        classes: number of classes of the classifier.
        custom_options: options that change the architecture away from the published one (``{"shortcut": "A"}``).
    """
    if weights is None:
        return
    if weights == "imagenet":
        if name not in WEIGHTS_HASHES:
            raise ValueError(f"No published ImageNet weights for '{name}'. Weights exist for: "
                             f"{', '.join(published_names())}. Use weights=None (random initialization) "
                             "or the path to a weights file.")
        if custom_options:
            raise ValueError(f"The published ImageNet weights of '{name}' are for its standard architecture; "
                             f"remove the options {sorted(custom_options)} or use weights=None.")
        if include_top and classes != 1000:
            raise ValueError("weights='imagenet' with include_top=True has 1000 classes, got "
                             f"classes={classes}: pass include_top=False to put your own classifier on top, "
                             "or weights=None.")
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights must be None, 'imagenet' or a path to a weights file, got {weights!r}")
    if not os.path.exists(weights):
        raise ValueError(f"Weights file not found: {os.fspath(weights)!r}. Pass weights=None, 'imagenet', or the "
                         "path of an existing .weights.h5 / .h5 / .keras file.")
    if os.fspath(weights).endswith(".keras") and not zipfile.is_zipfile(weights):
        raise ValueError(f"{os.fspath(weights)!r} is not a Keras model file (.keras archives are zip files): it is "
                         "damaged or truncated. Pass the model.keras that training wrote, or a .weights.h5 file.")


def weights_file(name, include_top):
    """``(file name, origin URL, hash)`` of the published weights of ``name``."""
    top_hash, notop_hash = WEIGHTS_HASHES[name]
    suffix = "" if include_top else "_notop"
    file_name = f"{name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    return file_name, f"{BASE_WEIGHTS_PATH}{file_name}", top_hash if include_top else notop_hash


def fetch_imagenet_weights(name, include_top):
    """Downloads (or finds in the cache) the published weights of ``name``; returns the local path.

    A file whose hash does not match the published one is never returned: keras reports it and downloads it again
    on the next call.
    """
    file_name, origin, file_hash = weights_file(name, include_top)
    if CACHE_DIR is not None:  # keras falls back to /tmp/.keras when the cache folder does not exist yet
        os.makedirs(CACHE_DIR, exist_ok=True)
    try:
        return keras.utils.get_file(file_name, origin, cache_subdir="models", file_hash=file_hash,
                                    cache_dir=CACHE_DIR)
    except ValueError as error:
        raise ValueError(f"The downloaded ImageNet weights for '{name}' ({file_name}) do not match the published "
                         f"hash {file_hash}: the file is truncated or corrupted and was not used. Run again to "
                         "download it anew, or pass weights=<path to a verified copy>.") from error
    except Exception as error:  # keras.utils.get_file raises a bare Exception for network failures
        raise OSError(f"Could not download the ImageNet weights for '{name}' from {origin} ({error}). Check the "
                      f"network, or download {file_name} by hand and pass weights=<its path>.") from error


def _shorten(error, limit=300):
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def load_weights(model, weights, name, include_top):
    """Loads ``weights`` (``None``, ``"imagenet"`` or a path) into ``model``; returns the model."""
    if weights is None:
        return model
    path = fetch_imagenet_weights(name, include_top) if weights == "imagenet" else os.fspath(weights)
    try:
        model.load_weights(path)
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"Could not load the weights in {path!r} into '{model.name}': the file holds another "
                         "architecture (depth, block, shortcut option, include_top/classes) or is not a Keras "
                         f"weights file. Load weights saved from the same configuration. Keras said: {_shorten(error)}"
                         ) from error
    return model
