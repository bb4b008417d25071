"""The inference contract: what a model needs to be used, stored in the model itself.

One frozen ``InferenceContract`` per model (in the spirit of timm's ``pretrained_cfg`` and torchvision's
``weights.transforms()``): the input size, how an image of any size becomes that input (``method`` ``"center_crop"``:
shorter side to ``resize``, then the central ``crop``; ``"resize"``: the whole image to the input size), the
interpolation, the normalisation the caller applies to raw ``[0, 255]`` pixels (``mean``, ``std``, ``channel_order``;
the identity for models that normalise in their first layer), the data format, the class names and the weights
record's tag. Every model this package makes carries one in its config (``network.ResNetModel``): trained,
fine-tuned, built with ``weights=`` and converted, so that a model file copied alone still knows how to be fed.

``contract_of(model, path)`` is the one resolver that ``predict``, ``evaluate``, ``explain``, the exports and the
Python API read. For files saved before contracts existed it derives one once (from the ``preprocessing.json`` that
training wrote beside the file, the weights record of the model's tag, or the paper's evaluation of its family) and
attaches it to the model, so that nothing is derived twice.

Backend-agnostic (``keras.ops``): the resize and crop themselves run in ``data.apply_eval_transform``.
"""

import dataclasses
import json
import os

import keras

from keras_resnet.weights import records as weight_records
from keras_resnet.models.architectures import FAMILIES
from keras_resnet.models.spec import ArchSpec, parse_name

METHODS = ("center_crop", "resize")
EVAL_RESIZE = 256 / 224  # [He16] Sec. 3.4: the shorter side goes to 256 for a 224 crop
IDENTITY = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "RGB")
# The normalisations of the published weights by the names the command line knows them.
NORMALIZATIONS = {"none": IDENTITY}
for _mode, _transform in (("caffe", weight_records.CAFFE), ("tf", weight_records.TF_SCALE),
                          ("torch", weight_records.TORCHVISION_V1)):
    NORMALIZATIONS[_mode] = (_transform.mean, _transform.std, _transform.channel_order)


@dataclasses.dataclass(frozen=True)
class InferenceContract:
    """How raw images become a model's inputs, and what its outputs are.

    Attributes:
        input_size: ``(height, width)`` of the model's input.
        method: ``"center_crop"`` (shorter side to ``resize``, central ``crop``) or ``"resize"`` (to ``input_size``).
        resize: the shorter side before the crop (``None`` for ``"resize"``).
        interpolation: the resampling filter (antialiased).
        mean, std, channel_order: ``(pixel[channel_order] - mean) / std`` on raw ``[0, 255]`` RGB pixels, what the
            caller does before the model (identity: the model normalises in its first layer).
        data_format: ``"channels_last"`` or ``"channels_first"``: the model's input layout.
        class_names: one name per class, or ``None`` (class indices, or ImageNet's names where keras has them).
        weights_tag: the ``weight_records`` tag of the published weights the model holds, or ``None``.
    """

    input_size: tuple
    method: str
    resize: int | None = None
    interpolation: str = "bilinear"
    mean: tuple = IDENTITY[0]
    std: tuple = IDENTITY[1]
    channel_order: str = "RGB"
    data_format: str = "channels_last"
    class_names: tuple | None = None
    weights_tag: str | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 entries and std > 0, got {self.mean} and {self.std}")
        for name in ("input_size", "mean", "std", "class_names"):  # lists from JSON become tuples: hashable, frozen
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))

    @property
    def crop(self):
        """The side of the central crop (``None`` for ``"resize"``)."""
        return self.input_size[0] if self.method == "center_crop" else None

    @property
    def ratio(self):
        """``resize / crop`` (256 / 224 for the paper's), or ``None`` for ``"resize"``."""
        return self.resize / self.crop if self.method == "center_crop" else None

    @property
    def transform(self):
        """The view as ``data.apply_eval_transform`` takes it: ``{"method", "size"}`` (and ``"resize"``)."""
        height, width = self.input_size
        if height != width:
            raise ValueError(f"The model takes {height}x{width} inputs; its images need a square input size.")
        view = {"method": self.method, "size": height}
        return {**view, "resize": self.resize} if self.method == "center_crop" else view

    @property
    def normalizes(self):
        """Whether the caller normalises (``False``: the model takes raw ``[0, 255]`` pixels)."""
        return (self.mean, self.std, self.channel_order) != IDENTITY

    @property
    def normalization(self):
        """The normalisation in words: ``"none"``, ``"caffe"``, ``"tf"``, ``"torch"`` or its numbers."""
        for name, numbers in NORMALIZATIONS.items():
            if (self.mean, self.std, self.channel_order) == numbers:
                return name
        return f"mean {list(self.mean)}, std {list(self.std)} ({self.channel_order})"

    def names(self, classes):
        """``classes`` names: ``class_names``, else the indices as strings."""
        names = list(self.class_names) if self.class_names else [str(index) for index in range(classes)]
        if len(names) != classes:
            raise ValueError(f"The model's contract names {len(names)} classes for its {classes} outputs.")
        return names

    def preprocess_input(self, images):
        """Raw ``[0, 255]`` RGB pixels ``(batch, H, W, 3)`` (``(batch, 3, H, W)`` channels_first) -> the model's
        input: the channels reordered, then ``(x - mean) / std`` (float32; the identity casts only)."""
        ops = keras.ops
        x = ops.cast(ops.convert_to_tensor(images), "float32")
        if not self.normalizes:
            return x
        axis = -1 if self.data_format == "channels_last" else 1
        if self.channel_order == "BGR":
            x = ops.flip(x, axis=axis)
        shape = (1, 1, 1, 3) if axis == -1 else (1, 3, 1, 1)
        mean = ops.reshape(ops.convert_to_tensor(self.mean, "float32"), shape)
        std = ops.reshape(ops.convert_to_tensor(self.std, "float32"), shape)
        return (x - mean) / std

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def with_normalization(self, name):
        """This contract with the normalisation of ``name`` (a key of ``NORMALIZATIONS``)."""
        if name not in NORMALIZATIONS:
            raise ValueError(f"preprocessing must be one of {', '.join(NORMALIZATIONS)}, got {name!r}")
        mean, std, order = NORMALIZATIONS[name]
        return self.replace(mean=mean, std=std, channel_order=order)

    def with_method(self, method):
        """This contract with the view ``method``; a centre crop gets the paper's ratio when it had none."""
        if method not in METHODS:
            raise ValueError(f"transform must be one of {', '.join(METHODS)}, got {method!r}")
        if method == self.method:
            return self
        resize = round(self.input_size[0] * EVAL_RESIZE) if method == "center_crop" else None
        return self.replace(method=method, resize=resize)

    def to_config(self):
        """A JSON-able dict (``from_config`` reads it back)."""
        return {field.name: (list(value) if isinstance(value, tuple) else value)
                for field in dataclasses.fields(self) for value in [getattr(self, field.name)]}

    @classmethod
    def from_config(cls, config):
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in config.items() if key in known})


def for_view(view, data_format="channels_last", class_names=None):
    """The contract of a model that normalises itself, fed through ``view`` (a ``data.eval_transform`` dict)."""
    size = int(view["size"])
    resize = int(view.get("resize") or round(size * EVAL_RESIZE)) if view["method"] == "center_crop" else None
    return InferenceContract((size, size), view["method"], resize, data_format=data_format,
                             class_names=tuple(class_names) if class_names else None)


def for_record(record, input_size=None, data_format="channels_last", include_preprocessing=False):
    """The contract of published weights (a ``WeightRecord``) at ``input_size`` (default: the record's): its
    publisher's resize, crop and normalisation (the identity with ``include_preprocessing``: it is in the model)."""
    transform = record.transform
    size = tuple(input_size or (record.input_size, record.input_size))
    if transform.crop is None:
        method, resize = "resize", None
    else:  # the publisher's resize at its own size, the same ratio at another
        method = "center_crop"
        resize = transform.resize if size[0] == transform.crop else round(size[0] * transform.resize / transform.crop)
    normalization = IDENTITY if include_preprocessing else (transform.mean, transform.std, transform.channel_order)
    return InferenceContract(size, method, resize, transform.interpolation, *normalization, data_format=data_format,
                             weights_tag=record.tag)


def for_family(family, input_size=None, data_format="channels_last"):
    """The paper's evaluation of a network without published weights: ImageNet networks resize the shorter side by
    256/224 and crop the centre ([He16] Sec. 3.4), CIFAR networks resize the image to their input."""
    side = FAMILIES[family].input_size
    size = tuple(input_size) if input_size and None not in input_size else (side, side)
    if FAMILIES[family].stem == "imagenet":
        return InferenceContract(size, "center_crop", round(size[0] * EVAL_RESIZE), data_format=data_format)
    return InferenceContract(size, "resize", data_format=data_format)


def contract_of(model, path=None):
    """The ``InferenceContract`` of ``model``: the one it carries, else (a file saved before contracts) the one
    derived from ``path``'s ``preprocessing.json``, its weights tag or its architecture, attached to the model so that
    it is derived once."""
    found = getattr(model, "contract", None)
    if isinstance(found, InferenceContract):
        return found
    derived = _derive(model, path)
    try:
        model.contract = derived
    except AttributeError:  # pragma: no cover - a model class that refuses new attributes
        pass
    return derived


def _input_layout(model):
    shape = tuple(model.inputs[0].shape)
    channels_first = shape[1] == 3 and shape[-1] != 3
    return (shape[2:4] if channels_first else shape[1:3]), "channels_first" if channels_first else "channels_last"


def _derive(model, path):
    """The contract of a model saved before contracts existed (see ``contract_of``)."""
    size, data_format = _input_layout(model)
    metadata = {}
    sidecar = os.path.join(os.path.dirname(os.fspath(path)), "preprocessing.json") if path is not None else None
    if sidecar is not None and os.path.isfile(sidecar):
        with open(sidecar) as file:
            metadata = json.load(file)
    names = tuple(metadata["class_names"]) if metadata.get("class_names") else None
    if metadata.get("eval_transform"):
        return for_view(metadata["eval_transform"], data_format, names)
    return _derive_unrecorded(model, size, data_format).replace(class_names=names)


def _derive_unrecorded(model, size, data_format):
    """An old model's contract without a run's record: its weights record's, or its family's."""
    holds_normalization = any(layer.name in ("mean_subtraction", "preprocessing") for layer in model.layers)
    record = _record_of(model)
    if record is not None:
        return for_record(record, size if None not in size else None, data_format, holds_normalization)
    stem = {layer.name: layer for layer in model.layers}.get("conv1_conv")
    imagenet = tuple(stem.kernel_size) == (7, 7) if stem is not None else min(s or 224 for s in size) >= 128
    return for_family("imagenet" if imagenet else "cifar", size, data_format)


def _record_of(model):
    """The weights record of an old model: its ``weights_tag``'s; untagged, the records of its architecture and
    classes when they all normalise alike; a keras.applications model by its name."""
    spec, tag, classes = getattr(model, "spec", None), getattr(model, "weights_tag", None), model.outputs[0].shape[-1]
    if not isinstance(spec, ArchSpec):
        parsed = parse_name(model.name)
        if parsed is None or parsed[0] != "resnet":
            return None
        record = weight_records.find(model.name, "imagenet")
        return record if record is not None and record.layout == "keras" and record.classes == classes else None
    candidates = [weight_records.find(spec.name, tag)] if isinstance(tag, str) else weight_records.list_weights(
        spec.name)
    candidates = [r for r in candidates if r is not None and r.spec == spec and r.classes == classes]
    normalizations = {(r.transform.mean, r.transform.std, r.transform.channel_order) for r in candidates}
    return candidates[0] if len(normalizations) == 1 else None


__all__ = ["EVAL_RESIZE", "InferenceContract", "METHODS", "NORMALIZATIONS", "contract_of", "for_family",
           "for_record", "for_view"]
