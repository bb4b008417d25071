"""Reading a model to export, and what travels with it: preprocessing and class names.

A model trained by ``keras_resnet.training`` subtracts its training mean in its first layer (``mean_subtraction``) and
has ``preprocessing.json`` (class names, dataset) beside it. A pretrained ImageNet model built with
``keras_resnet.ResNet50(weights="imagenet")`` expects keras.applications' preprocessing instead ("caffe" for the v1
weights, "tf" for v2), which the export puts into the graph.
"""

import json
import os
import zipfile

import keras

PREPROCESSING = ("auto", "none", "caffe", "tf")


def load_model(path):
    """``keras.saving.load_model(path, safe_mode=True)`` with errors that say what is wrong with the file."""
    import keras_resnet  # noqa: F401  (registers the custom layers and metrics)

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"Model file not found: {path!r}. Pass the model.keras that training wrote (runs/<run>/"
                         "model.keras) or a model saved with model.save('name.keras').")
    if not path.endswith(".keras") or not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a Keras model file (.keras): save the model with model.save('x.keras').")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # keras raises several types for damaged or foreign archives
        raise ValueError(f"Could not load {path!r} as a Keras model ({type(error).__name__}: "
                         f"{str(error).splitlines()[0][:200]}).") from error


def run_metadata(model_path):
    """The ``preprocessing.json`` that training wrote beside ``model_path``, or ``{}``."""
    path = os.path.join(os.path.dirname(os.fspath(model_path)), "preprocessing.json")
    if not os.path.exists(path):
        return {}
    with open(path) as file:
        return json.load(file)


def resolve_preprocessing(model, preprocessing="auto"):
    """``"none"`` for models that hold their preprocessing, else keras.applications' mode for the weights."""
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"preprocessing must be one of {', '.join(PREPROCESSING)}, got {preprocessing!r}")
    if preprocessing != "auto":
        return preprocessing
    if any(layer.name in ("mean_subtraction", "preprocessing") for layer in model.layers):
        return "none"
    return published_preprocessing(model)


def published_preprocessing(model):
    """The keras.applications mode (``"caffe"``, ``"tf"``) of the published ImageNet weights whose architecture
    ``model`` has (its ``ArchSpec``), or ``"none"``. Models saved before specs existed are recognised by name."""
    from keras_resnet.network import spec_of
    from keras_resnet.spec import parse_name
    from keras_resnet.weight_records import find

    if model.output.shape[-1] != 1000:
        return "none"
    spec = spec_of(model)
    if spec is None:  # a model from before specs: its name, if it is one of ours
        parsed = parse_name(model.name)
        if parsed is None or parsed[0] != "resnet":
            return "none"
        from keras_resnet.registry import spec as registered

        spec = registered(model.name)
    record = find(spec.name, "imagenet")
    if record is None or record.layout != "keras" or record.spec != spec:
        return "none"
    return "tf" if spec.preact else "caffe"


def class_names(model, metadata=None, labels_file=None):
    """One name per class: from ``labels_file`` (one per line), the run's metadata, or the class index."""
    classes = model.output.shape[-1]
    names = None
    if labels_file is not None:
        with open(labels_file) as file:
            names = [line.strip() for line in file if line.strip()]
    elif metadata and metadata.get("class_names"):
        names = list(metadata["class_names"])
    elif classes == 1000:
        names = _cached_imagenet_names()
    names = names or [str(index) for index in range(classes)]
    if len(names) != classes:
        raise ValueError(f"{len(names)} class names for a model with {classes} classes: pass a --labels file with "
                         "one name per class.")
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


def preprocess(images, mode):
    """Float ``(B, H, W, 3)`` RGB in [0, 255] -> what the model expects (``mode`` from ``resolve_preprocessing``)."""
    if mode == "none":
        return images
    from keras.applications import imagenet_utils

    return imagenet_utils.preprocess_input(images, mode=mode)


def input_size(model):
    """``(height, width)`` of the model's input; exports need a fixed size."""
    height, width = model.input.shape[1:3]
    if height is None or width is None:
        raise ValueError("The model takes any input size; rebuild it with a fixed input_shape to export it.")
    return height, width


__all__ = ["PREPROCESSING", "class_names", "input_size", "load_model", "preprocess", "resolve_preprocessing",
           "run_metadata"]
