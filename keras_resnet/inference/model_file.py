"""Reading a model file, and what travels with it: its inference contract.

Every model this package makes carries its ``contract.InferenceContract`` (view, normalisation, class names, weights
tag) in its config; ``load_model`` loads a ``.keras`` file (or an ``hf://owner/name`` handle of the Hugging Face
Hub: ``hub.py``) and resolves it (``contract.contract_of``: files saved before contracts get one derived once from
the ``preprocessing.json`` beside them or their weights record).
``contract`` adds the command line's overrides; ``raw_pixel_model`` puts the normalisation into the graph of an
export. ``preprocessing.json`` stays beside a run's model as a human-readable copy (and the run's data split).
"""

import json
import os
import zipfile

import keras

from keras_resnet.support import files
from keras_resnet.weights import hub
from keras_resnet.support.choices import PREPROCESSING, TRANSFORMS
from keras_resnet.models.contract import contract_of


def load_model(path):
    """``keras.saving.load_model(path, safe_mode=True)`` with errors that say what is wrong with the file.

    ``path``: a ``.keras`` file, or an ``hf://owner/name`` handle (``hub.resolve``: the ``.keras`` file of the
    repository's snapshot, or the snapshot in Keras' folder layout)."""
    import keras_resnet

    keras_resnet.load_all()  # registers the custom layers and metrics (also when the package loaded lazily)

    path = hub.resolve(path)
    if hub.is_keras_folder(path):
        beside = os.path.join(path, "config.json")  # contract_of reads the folder of the file it is given
    else:
        path = files.existing(path, "file", ValueError, f"Model file not found: {os.fspath(path)!r}. Pass the "
                              "model.keras that training wrote (runs/<run>/model.keras) or a model saved with "
                              "model.save('name.keras').")
        if not path.endswith(".keras") or not zipfile.is_zipfile(path):
            raise ValueError(f"{path!r} is not a Keras model file (.keras): save the model with "
                             "model.save('x.keras').")
        beside = path
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # keras raises several types for damaged or foreign archives
        raise ValueError(f"Could not load {path!r} as a Keras model ({type(error).__name__}: "
                         f"{str(error).splitlines()[0][:200]}).") from error
    contract_of(model, beside)  # files from before contracts: derived here, from the file's folder, once
    return model


def run_metadata(model_path):
    """The ``preprocessing.json`` that training wrote beside ``model_path`` (a file, or an ``hf://`` handle: beside
    the model in the repository), or ``{}``."""
    model_path = hub.resolve(model_path)
    folder = model_path if hub.is_keras_folder(model_path) else os.path.dirname(os.fspath(model_path))
    path = os.path.join(folder, "preprocessing.json")
    if not os.path.exists(path):
        return {}
    with open(path) as file:
        return json.load(file)


def contract(model, preprocessing="auto", transform="auto"):
    """``model``'s ``InferenceContract`` (``contract.contract_of``) with the command line's overrides:
    ``preprocessing`` (``"auto"``: the contract's normalisation, or one of ``choices.PREPROCESSING``) and
    ``transform`` (``"auto"``, or the view ``"center_crop"`` / ``"resize"``)."""
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"preprocessing must be one of {', '.join(PREPROCESSING)}, got {preprocessing!r}")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
    found = contract_of(model)
    if preprocessing != "auto":
        found = found.with_normalization(preprocessing)
    return found if transform == "auto" else found.with_method(transform)


def weights_record(model):
    """The ``WeightRecord`` of the published weights ``model`` holds: its contract's weights tag's, or ``None``."""
    from keras_resnet.models.network import spec_of
    from keras_resnet.weights.records import find

    spec, tag = spec_of(model), contract_of(model).weights_tag
    name = spec.name if spec is not None else model.name
    return find(name, tag) if tag is not None else None


def raw_pixel_model(model, found=None):
    """``model`` taking raw ``[0, 255]`` channels_last pixels ``(batch, H, W, 3)``: its contract's normalisation
    (``found``, default the model's) and layout as first layers, or ``model`` itself when it takes them already.
    For exports whose graph holds everything."""
    found = found or contract_of(model)
    channels_first = found.data_format == "channels_first"
    if not found.normalizes and not channels_first:
        return model
    from keras_resnet.models.layers import PixelNormalization

    height, width = input_size(model)
    inputs = keras.Input((height, width, 3), name="image")
    x = keras.layers.Permute((3, 1, 2), name="to_channels_first")(inputs) if channels_first else inputs
    if found.normalizes:
        x = PixelNormalization(found.mean, found.std, found.channel_order, data_format=found.data_format,
                               name="preprocessing")(x)
    return keras.Model(inputs, model(x), name=model.name)


def class_names(model, labels_file=None):
    """One name per class: from ``labels_file`` (one per line), the model's contract, ImageNet's for 1000-class
    models when keras has them cached, or the class index."""
    classes = model.output.shape[-1]
    names = None
    if labels_file is not None:
        return read_labels(labels_file, classes)
    if contract_of(model).class_names:
        names = list(contract_of(model).class_names)
    elif classes == 1000:
        names = _cached_imagenet_names()
    names = names or [str(index) for index in range(classes)]
    if len(names) != classes:
        raise ValueError(f"{len(names)} class names for a model with {classes} classes: pass a --labels file with "
                         "one name per class.")
    return names


def read_labels(labels_file, classes):
    """The class names of a ``--labels`` file (one per line, blank lines skipped); one line when they are not
    ``classes`` names."""
    with open(labels_file) as file:
        names = [line.strip() for line in file if line.strip()]
    if len(names) != classes:
        raise ValueError(f"{len(names)} class names in {os.fspath(labels_file)!r} for a model with {classes} classes: "
                         "pass a --labels file with one name per class.")
    return names


def _cached_imagenet_names():
    """ImageNet class names if keras' class index is in its cache (exports never download)."""
    cache = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "models",
                         "imagenet_class_index.json")
    if not os.path.exists(cache):
        return None
    with open(cache) as file:
        index = json.load(file)
    return [index[str(i)][1] for i in range(1000)]


def input_size(model):
    """``(height, width)`` of the model's input (either data format); exports need a fixed size."""
    shape = model.input.shape
    height, width = shape[2:4] if shape[1] == 3 and shape[-1] != 3 else shape[1:3]
    if height is None or width is None:
        raise ValueError("The model takes any input size; rebuild it with a fixed input_shape to export it.")
    return height, width


__all__ = ["PREPROCESSING", "class_names", "contract", "input_size", "load_model", "raw_pixel_model",
           "read_labels", "run_metadata", "weights_record"]
