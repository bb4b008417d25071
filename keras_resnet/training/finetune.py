"""Fine-tuning: a network with pretrained weights and a new classifier for one's own classes, parts of it frozen.

``--weights`` is a weights tag of ``weight_records`` (``imagenet``, ``cifar10``, ...: the publisher's normalisation
becomes the model's first layer, as ``ResNet(include_preprocessing=True)``) or a ``.keras`` / ``.weights.h5`` file of
an earlier run or of ``keras-resnet convert`` (or an ``hf://owner/name`` handle of one: ``local_weights``). A
``.keras`` file brings its architecture (the spec it records: ``bn_epsilon``, ``shortcut_pad``, ...) and its input
normalisation (``normalization_of``: the source run's training mean, or its weights' published mean and std), since
the features were learned on inputs normalised so; a ``.weights.h5`` file holds neither, and the network is the
registry's with the new data's mean. Either way the classifier is new: a ``Dense`` of the dataset's classes on the
pooled features, initialised as the builder's.

``--freeze``: ``none``, ``all`` (everything but the classifier) or ``stages N`` (the stem and the first ``N`` stages,
[He16] Table 1's conv1 .. conv{N+1}), by ``heads.freeze``. Frozen layers are ``trainable=False``; in Keras 3 a
BatchNormalization layer that is not trainable also runs in inference mode (its moving statistics normalise and are
not updated), so a frozen part computes exactly what it computed before fine-tuning, batch after batch -- the pitfall
of Keras 2, where frozen BN layers kept using and updating batch statistics. The two-phase recipe is
``two_phase.py``; the Keras-only head and freeze helpers are ``keras_resnet/heads.py``.
"""

import dataclasses
import functools
import os
import zipfile

import keras
import numpy as np

from keras_resnet.weights import hub
from keras_resnet.weights import records as weight_records
from keras_resnet.applications.builder import ResNet
from keras_resnet.support.choices import parse_freeze  # noqa: F401  (--freeze's parser, public here too)
from keras_resnet.models.heads import HEAD, freeze, with_new_head  # noqa: F401  (freeze: public here too)
from keras_resnet.models.layers import PixelNormalization
from keras_resnet.models.contract import contract_of
from keras_resnet.models.network import spec_of

WEIGHT_FILES = (".keras", ".weights.h5")


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """What fine-tuning reads of a ``.keras`` / ``.weights.h5`` file: the ``ArchSpec`` it records (``None`` for
    ``.weights.h5`` and models without one), its number of classes, and its input normalisation
    (``normalization_of``; ``None`` when it holds none)."""

    spec: object
    classes: int
    normalization: dict | None


def local_weights(weights):
    """``weights`` itself, but an ``hf://owner/name`` handle: the ``.keras`` file of the repository's local snapshot
    (``hub.resolve``; ``hf://owner/name/x.weights.h5`` for another file of it)."""
    if not hub.is_handle(weights):
        return weights
    path = hub.resolve(weights)
    if not path.endswith(WEIGHT_FILES):
        raise ValueError(f"--weights {weights!r} holds a model in Keras' folder layout (config.json, "
                         "model.weights.h5): fine-tuning reads a .keras file; upload the run's model.keras.")
    return path


def read_weights_file(path):
    """The ``WeightsFile`` of an existing ``.keras`` / ``.weights.h5`` file; a clear ValueError otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"--weights file not found: {path!r}. Pass the model.keras (or a .weights.h5) that a run "
                         "wrote, or a weights tag.")
    if not path.endswith(".keras"):
        return WeightsFile(None, _h5_classes(path), None)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a Keras model file (.keras archives are zip files): it is damaged.")
    status = os.stat(path)
    return _read_keras(os.path.abspath(path), status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=4)  # a run reads it for its spec, its checks, its normalisation and its classes
def _read_keras(path, mtime_ns, size):
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    return WeightsFile(spec_of(model), model.output.shape[-1], normalization_of(model))


def file_spec(weights, wanted):
    """The network to fine-tune from ``weights``: the ``ArchSpec`` a ``.keras`` file records (a converted
    checkpoint's ``bn_epsilon``, ``shortcut_pad``, ...), else ``wanted`` (``--model`` with its options).

    The file's network must be the one ``--model`` names; options given on the command line that differ from the
    file's are refused later by ``check_weights``."""
    path = os.fspath(local_weights(weights)) if isinstance(weights, (str, os.PathLike)) else None
    if path is None or not path.endswith(".keras"):
        return wanted
    found = read_weights_file(path).spec
    if found is None:
        return wanted
    if found.name != wanted.name:
        raise ValueError(f"{path!r} holds a {found.name}, not a {wanted.name}: pass --model {found.name}.")
    return found


def check_weights(weights, spec):
    """Checks ``--weights`` against the network ``spec`` before anything is built: a tag of its weights records or
    an existing ``.keras`` / ``.weights.h5`` file; returns the ``WeightRecord`` of a tag (``None`` for a file)."""
    record = weight_records.find(spec.name, weights)
    if record is not None:
        return record
    path = os.fspath(local_weights(weights))
    if not path.endswith(WEIGHT_FILES):
        tags = weight_records.tags(spec.name)
        raise ValueError(f"--weights {path!r} is neither a weights tag of {spec.name} "
                         f"({', '.join(tags) if tags else 'it has none'}) nor a .keras / .weights.h5 file of an "
                         "earlier run.")
    found = read_weights_file(path).spec
    if found is not None and found != spec:
        if found.name != spec.name:
            raise ValueError(f"{path!r} holds a {found.name}, not a {spec.name}: pass --model {found.name}.")
        differences = [f"{key} {value!r} (here {getattr(spec, key)!r})" for key, value in found.to_config().items()
                       if value != spec.to_config()[key]]
        raise ValueError(f"{path!r} holds a {found.name} with other options ({'; '.join(differences)}): leave out "
                         "the architecture options (--shortcut, --width, --bn-momentum) that differ; fine-tuning "
                         "takes the file's.")
    return None


def normalization_of(model):
    """The input normalisation of ``model`` as a JSON-able dict, or ``None`` when it has none we know.

    ``{"layer": "mean_subtraction", "mean", "variance", "axis"}``: a run's ``Normalization`` (its training mean, the
    variance 255 ** 2); ``{"layer": "preprocessing", "mean", "std", "channel_order"}``: published weights'
    ``PixelNormalization``, in the model or, for a converted checkpoint, the one its inference contract names.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization) and layer.name == "mean_subtraction":
            config = layer.get_config()
            return {"layer": layer.name, "mean": config["mean"], "variance": config["variance"],
                    "axis": list(config["axis"]) if isinstance(config["axis"], (list, tuple)) else config["axis"]}
        if isinstance(layer, PixelNormalization):
            return {"layer": layer.name, "mean": list(layer.mean), "std": list(layer.std),
                    "channel_order": layer.channel_order}
    contract = contract_of(model)  # a converted checkpoint: the normalisation of the weights it holds
    if not contract.normalizes:
        return None
    return {"layer": "preprocessing", "mean": list(contract.mean), "std": list(contract.std),
            "channel_order": contract.channel_order}


def record_normalization(transform):
    """The ``normalization_of`` dict of a weights record's published normalisation (its ``EvalTransform``)."""
    return {"layer": "preprocessing", "mean": list(transform.mean), "std": list(transform.std),
            "channel_order": transform.channel_order}


def fit_normalization(normalization, image_shape):
    """``normalization`` for inputs of ``image_shape`` ``(H, W, 3)``: a per-pixel mean of other images is resized
    (bilinear) to ``H x W``; per-channel ones are returned as they are."""
    mean = np.asarray(normalization["mean"], "float32")
    if "variance" not in normalization or mean.ndim != 3 or mean.shape[:2] == tuple(image_shape[:2]):
        return normalization
    size = tuple(image_shape[:2])
    resized = keras.ops.convert_to_numpy(keras.ops.image.resize(mean[None], size, antialias=True))[0]
    variance = np.broadcast_to(np.asarray(normalization["variance"], "float32").reshape(-1)[0], resized.shape)
    return {**normalization, "mean": resized.tolist(), "variance": variance.tolist()}


def normalization_layer(normalization, data_format=None):
    """A new layer normalising as ``normalization`` (a ``normalization_of`` dict) does, under its name."""
    if "variance" in normalization:
        axis = normalization["axis"]
        return keras.layers.Normalization(axis=tuple(axis) if isinstance(axis, list) else axis,
                                          mean=np.asarray(normalization["mean"], "float32"),
                                          variance=np.asarray(normalization["variance"], "float32"),
                                          name=normalization["layer"])
    return PixelNormalization(normalization["mean"], normalization["std"], normalization["channel_order"],
                              data_format=data_format, name=normalization["layer"])


def normalization_fields(normalization, origin):
    """``preprocessing.json``'s description of ``normalization``: the model computes ``(pixel - mean) * scale``
    (on ``channel_order`` channels for published weights' ``std``); ``normalization_from`` is ``origin``."""
    if "variance" in normalization:
        scales = 1.0 / np.sqrt(np.asarray(normalization["variance"], "float64"))
        scale = float(scales.flat[0]) if np.all(scales == scales.flat[0]) else scales.tolist()
        return {"mean": normalization["mean"], "scale": scale, "normalization_from": origin}
    return {"mean": normalization["mean"], "scale": [1.0 / std for std in normalization["std"]],
            "std": normalization["std"], "channel_order": normalization["channel_order"],
            "normalization_from": origin}


def input_normalization(weights, spec, image_shape):
    """The input normalisation a model fine-tuned from ``weights`` keeps (a ``normalization_of`` dict fitted to
    ``image_shape``), or ``None`` for the new data's mean (no ``--weights``, a ``.weights.h5`` file, a ``.keras``
    file that holds none)."""
    if weights is None:
        return None
    record = weight_records.find(spec.name, weights)
    if record is not None:
        return record_normalization(record.transform)
    weights = local_weights(weights)
    normalization = read_weights_file(weights).normalization if os.fspath(weights).endswith(".keras") else None
    if normalization is None:
        print(f"{os.fspath(weights)} holds no input normalisation (a .weights.h5 file, or a model without one): the "
              "model subtracts the mean of this data.", flush=True)
        return None
    return fit_normalization(normalization, image_shape)


def _h5_classes(path):
    """Classes of the classifier saved in a ``.weights.h5`` file."""
    import h5py

    shapes = []
    with h5py.File(path, "r") as file:
        file.visititems(lambda key, item: shapes.append(item.shape)
                        if isinstance(item, h5py.Dataset) and f"{HEAD}/" in key and len(item.shape) == 2 else None)
    if not shapes:
        raise ValueError(f"{path!r} holds no classifier weights ({HEAD}): pass the weights of a whole model that a "
                         "run saved.")
    return shapes[0][-1]


def load_pretrained(model, path, weight_decay=None):
    """Loads the weights of an earlier run's ``.keras`` / ``.weights.h5`` file into ``model`` (same network, same
    input), all but the classifier, which keeps its fresh initialisation. Returns ``model``."""
    path = os.fspath(path)
    # The twin shares every layer of ``model`` but the head, which has the file's classes.
    twin = with_new_head(model, read_weights_file(path).classes, weight_decay)
    try:
        twin.load_weights(path)
    except (ValueError, KeyError, TypeError, OSError) as error:
        text = " ".join(str(error).split())[:300]
        raise ValueError(f"Could not load {path!r} into {model.name}: it holds another network or input size "
                         f"(pass the --model and --image-size it was trained with). Keras said: {text}") from error
    return model


def pretrained_model(weights, spec, source, weight_decay=1e-4, sync_bn=False, build=None):
    """The network of ``spec`` for ``source`` (raw ``[0, 255]`` images in, ``source.num_classes`` probabilities out)
    with the pretrained ``weights`` and a new classifier.

    A tag builds ``ResNet(spec, weights=tag, include_top=False, include_preprocessing=True)`` and puts
    ``with_new_head`` on it; a file is loaded by ``load_pretrained`` into ``build()``, the run's own model.
    """
    record = check_weights(weights, spec)
    if record is None:
        return load_pretrained(build(), local_weights(weights), weight_decay)
    inputs = keras.Input(source.image_shape, name="image")
    base = ResNet(spec, include_top=False, pooling="avg", weights=weights, input_tensor=inputs,
                  include_preprocessing=True, weight_decay=weight_decay, sync_bn=sync_bn)
    return with_new_head(base, source.num_classes, weight_decay)
