"""Pretrained weights and weight files.

``weights="<tag>"`` names a record of ``weight_records``: keras.applications' files (``"imagenet"`` for
ResNet-50/101/152 and v2, with the origin and hashes recorded there) load as they are; PyTorch checkpoints (torchvision's, the CIFAR reference's) are converted once and the
converted ``.weights.h5`` is cached beside the download. Every download goes through ``keras.utils.get_file`` with
its hash check, and file names that carry a SHA-256 prefix are checked against it.
"""

import hashlib
import os
import zipfile

import keras

from keras_resnet.support import files
from keras_resnet.weights import records as weight_records
from keras_resnet.models.assembly import assemble
from keras_resnet.weights.checkpoints import read_state_dict
from keras_resnet.weights.torch_layout import load_state_dict, state_classes
from keras_resnet.weights.records import BASE_WEIGHTS_PATH, WEIGHTS_HASHES  # noqa: F401  (tests patch them here)

# Where downloads are cached; ``None`` is keras' own cache (``$KERAS_HOME`` or ``~/.keras``), under ``models/``.
CACHE_DIR = None


def published_names():
    """Registry names that have published ImageNet weights (``["resnet101", ..., "resnet50v2"]``)."""
    return sorted(WEIGHTS_HASHES)


def _looks_like_tag(weights):
    return isinstance(weights, str) and not os.path.exists(weights) and not any(c in weights for c in "./\\")


def check_weights_argument(weights, spec, include_top, classes, input_shape=None, data_format="channels_last"):
    """Validates ``weights`` before anything is built, with errors that name the fix; returns the weights record
    of a tag (``None`` for no weights or a file).

    Args:
        weights: ``None``, a weights tag (``"imagenet"``, ``"imagenet-v2"``, ``"cifar10"``: see
            ``weight_records.list_weights``) or a path to a weights file.
        spec: the ``ArchSpec`` to build; a tag's weights need the spec they were trained with.
        include_top: whether the classifier is built.
        classes: number of classes of the classifier.
        input_shape: the ``input_shape`` asked for (``None``: the default). As in keras.applications, published
            weights with their classifier take the size they were trained at: another one is refused.
        data_format: ``"channels_last"`` or ``"channels_first"``, how ``input_shape`` is ordered.
    """
    if weights is None:
        return None
    name = spec.name
    record = weight_records.find(name, weights)
    if record is not None:
        published = record.spec
        custom = [f"{key}={getattr(spec, key)!r} (published: {getattr(published, key)!r})"
                  for key in spec.to_config() if getattr(spec, key) != getattr(published, key)]
        if custom:
            raise ValueError(f"The published {weights} weights of '{name}' are for its published architecture; "
                             f"remove the options {', '.join(custom)} or use weights=None.")
        if include_top and classes != record.classes:
            raise ValueError(f"weights={weights!r} with include_top=True has {record.classes} classes, got "
                             f"classes={classes}: pass include_top=False to put your own classifier on top, "
                             "or weights=None.")
        if include_top and input_shape is not None:
            input_shape = tuple(input_shape)
            spatial = input_shape[:2] if data_format == "channels_last" else input_shape[1:]
            if spatial != (record.input_size, record.input_size):
                side = record.input_size
                published = (side, side, 3) if data_format == "channels_last" else (3, side, side)
                raise ValueError(f"weights={weights!r} with include_top=True takes the published input_shape="
                                 f"{published}, got input_shape={input_shape}: leave input_shape out, or pass "
                                 "include_top=False to use the weights at another size.")
        return record
    if _looks_like_tag(weights):
        known = weight_records.tags(name)
        where = (f"its tags are {', '.join(map(repr, known))}" if known else
                 f"published weights exist for {', '.join(sorted({r.name for r in weight_records.list_weights()}))}")
        raise ValueError(f"No published weights tagged {weights!r} for '{name}': {where}. Use weights=None "
                         "(random initialization) or the path to a weights file.")
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights must be None, a weights tag such as 'imagenet', or a path to a weights file, "
                         f"got {weights!r}")
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


def fetch_checkpoint(record):
    """Downloads (or finds in the cache) the checkpoint of a converted ``record``; returns the local path.

    The file must match ``record.file_hash`` (checked by keras) and the SHA-256 prefix its name carries; a file that
    does not is deleted, never used.
    """
    if CACHE_DIR is not None:
        os.makedirs(CACHE_DIR, exist_ok=True)
    what = f"the {record.tag} weights for '{record.name}'"
    try:
        path = keras.utils.get_file(record.file_name, record.origin, cache_subdir="models",
                                    file_hash=record.file_hash, cache_dir=CACHE_DIR)
    except ValueError as error:
        raise ValueError(f"The downloaded {record.file_name} does not match its published hash: it is truncated or "
                         "corrupted and was not used. Run again to download it anew.") from error
    except Exception as error:  # keras.utils.get_file raises a bare Exception for network failures
        raise OSError(f"Could not download {what} from {record.origin} ({_shorten(error, 120)}). Check the "
                      f"network, or download {record.file_name} by hand and convert it with "
                      "keras_resnet.applications.convert.convert_checkpoint.") from error
    if record.sha256_prefix:
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
        if not digest.hexdigest().startswith(record.sha256_prefix):
            os.remove(path)
            raise ValueError(f"The downloaded {record.file_name} does not match the SHA-256 prefix "
                             f"{record.sha256_prefix} of its name: it is truncated or corrupted and was deleted. "
                             "Run again to download it anew.")
    return path


def converted_weights(record, include_top):
    """The cached Keras weights converted from ``record``'s checkpoint (converted on first use); returns the path.

    The converted file lies beside the download: ``resnet18-f37072fd.weights.h5`` (``_notop`` without the
    classifier), written atomically.
    """
    checkpoint = fetch_checkpoint(record)
    stem = os.path.splitext(checkpoint)[0]
    cached = f"{stem}{'' if include_top else '_notop'}.weights.h5"
    if not os.path.exists(cached):
        state = read_state_dict(checkpoint)
        # The record's architecture with fresh weights, then the checkpoint's (as convert.convert does by name).
        model = assemble(record.spec, include_top=include_top, classes=state_classes(state, record.spec.family),
                         classifier_activation=None, name=record.name)
        load_state_dict(model, state, record.spec.family)
        with files.atomic_path(cached) as temporary:
            model.save_weights(temporary)
    return cached


def _shorten(error, limit=300):
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def load_weights(model, weights, name, include_top):
    """Loads ``weights`` (``None``, a weights tag or a path) into ``model``; returns the model."""
    if weights is None:
        return model
    record = weight_records.find(name, weights)
    if record is None:
        path = os.fspath(weights)
    elif record.layout == "keras":
        path = fetch_imagenet_weights(name, include_top)
    else:
        path = converted_weights(record, include_top)
    try:
        model.load_weights(path)
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"Could not load the weights in {path!r} into '{model.name}': the file holds another "
                         "architecture (depth, block, shortcut option, include_top/classes) or is not a Keras "
                         f"weights file. Load weights saved from the same configuration. Keras said: {_shorten(error)}"
                         ) from error
    return model
