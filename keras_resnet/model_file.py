"""Reading a model to export, and what travels with it: preprocessing and class names.

A model trained by ``keras_resnet.training`` subtracts its training mean in its first layer (``mean_subtraction``) and
has ``preprocessing.json`` (class names, dataset) beside it. A model built with published weights
(``keras_resnet.ResNet50(weights="imagenet")``, or a converted checkpoint) expects its publisher's preprocessing
instead, which its weight record says ("caffe" for keras.applications' v1 weights, "tf" for v2, "torch" for
torchvision's and the CIFAR reference's) and which the export puts into the graph.
"""

import json
import os
import zipfile

import keras

from keras_resnet import files
from keras_resnet.choices import PREPROCESSING


def load_model(path):
    """``keras.saving.load_model(path, safe_mode=True)`` with errors that say what is wrong with the file."""
    import keras_resnet

    keras_resnet.load_all()  # registers the custom layers and metrics (also when the package loaded lazily)

    path = files.existing(path, "file", ValueError, f"Model file not found: {os.fspath(path)!r}. Pass the model.keras "
                          "that training wrote (runs/<run>/model.keras) or a model saved with model.save('name.keras').")
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
    """``"none"`` for models that hold their preprocessing, else the mode of the published weights they hold
    (``published_preprocessing``)."""
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"preprocessing must be one of {', '.join(PREPROCESSING)}, got {preprocessing!r}")
    if preprocessing != "auto":
        return preprocessing
    if any(layer.name in ("mean_subtraction", "preprocessing") for layer in model.layers):
        return "none"
    return published_preprocessing(model)


def weights_records(model):
    """The ``WeightRecord`` s whose weights ``model`` may hold: the record of its ``weights_tag`` (models built with
    ``weights="<tag>"`` or converted with one), else every record of its architecture and classes (a converted
    torchvision ResNet-50 without a tag may be either of torchvision's). Models saved before specs existed are
    recognised by name, as keras.applications' ``"imagenet"`` weights. -> list, empty for other models."""
    from keras_resnet.network import spec_of, weights_tag_of
    from keras_resnet.spec import parse_name
    from keras_resnet.weight_records import find, list_weights

    classes = model.output.shape[-1]
    spec, tag = spec_of(model), weights_tag_of(model)
    if spec is None:  # a model from before specs: its name, if it is one of ours
        parsed = parse_name(model.name)
        if parsed is None or parsed[0] != "resnet":
            return []
        from keras_resnet.registry import spec as registered

        spec = registered(model.name)
        record = find(spec.name, "imagenet")
        candidates = [record] if record is not None and record.layout == "keras" else []
    elif tag is not None:
        candidates = [record for record in [find(spec.name, tag)] if record is not None]
    else:
        candidates = list_weights(spec.name)
    return [record for record in candidates if record.spec == spec and record.classes == classes]


def weights_record(model):
    """The one ``WeightRecord`` of the weights ``model`` holds (see ``weights_records``), or ``None``."""
    records = weights_records(model)
    return records[0] if len(records) == 1 else None


def preprocessing_mode(transform):
    """The ``preprocess`` mode of a record's ``EvalTransform``: ``"caffe"``, ``"tf"`` or ``"torch"``."""
    from keras_resnet import weight_records

    modes = {"caffe": weight_records.CAFFE, "tf": weight_records.TF_SCALE, "torch": weight_records.TORCHVISION_V1}
    for mode, known in modes.items():
        if (transform.mean, transform.std, transform.channel_order) == (known.mean, known.std, known.channel_order):
            return mode
    raise ValueError(f"No preprocessing mode normalises as mean {transform.mean}, std {transform.std} "
                     f"({transform.channel_order}); put it in the model with include_preprocessing=True.")


def published_preprocessing(model):
    """The ``preprocess`` mode of the published weights ``model`` holds (``weights_records``): ``"caffe"``,
    ``"tf"`` (keras.applications' v1 / v2 files), ``"torch"`` (torchvision's and the CIFAR reference's), or
    ``"none"`` for models without published weights."""
    modes = {preprocessing_mode(record.transform) for record in weights_records(model)}
    return modes.pop() if len(modes) == 1 else "none"


def record_eval_transform(record):
    """A record's resize and crop as a ``data.eval_transform`` dict: ``center_crop`` of ``crop`` after the shorter
    side goes to ``resize``, or a ``resize`` to the input size for records that take images as they are."""
    transform = record.transform
    if transform.crop is None:
        return {"method": "resize", "size": record.input_size}
    return {"method": "center_crop", "resize": transform.resize, "size": transform.crop}


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
    from keras_resnet.preprocessing import PREPROCESSING as FUNCTIONS

    if mode not in FUNCTIONS:
        raise ValueError(f"preprocessing must be one of {', '.join(PREPROCESSING[1:])}, got {mode!r}")
    return FUNCTIONS[mode](images)


def input_size(model):
    """``(height, width)`` of the model's input; exports need a fixed size."""
    height, width = model.input.shape[1:3]
    if height is None or width is None:
        raise ValueError("The model takes any input size; rebuild it with a fixed input_shape to export it.")
    return height, width


__all__ = ["PREPROCESSING", "class_names", "input_size", "load_model", "preprocess", "preprocessing_mode",
           "published_preprocessing", "record_eval_transform", "resolve_preprocessing", "run_metadata",
           "weights_record", "weights_records"]
