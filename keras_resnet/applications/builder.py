"""One builder for every residual and plain network of [He16] and [He16b].

``ResNet(spec, ...)`` builds an ``ArchSpec`` with the keras.applications signature (``include_top, weights,
input_tensor, input_shape, pooling, classes, classifier_activation``): it checks the arguments, assembles stem ->
stages -> head (``assembly.py``) and loads the weights (``weights.py``).
``imagenet_resnet(depth)`` and ``cifar_resnet(depth)`` make the spec from the depth tables of ``architectures``;
named models and ``build(name)`` live in ``registry``.
"""

import keras

from keras_resnet.models import contract as contract_lib
from keras_resnet.weights import pretrained as weights_lib
from keras_resnet.models.architectures import FAMILIES, cifar_layout, imagenet_layout
from keras_resnet.models.assembly import assemble
from keras_resnet.models.network import check_data_format
from keras_resnet.models.spec import ArchSpec, field_names
from keras_resnet.support.validation import check_positive_int

POOLINGS = (None, "avg", "max")


def _choice(value, allowed, what):
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def ResNet(spec, *, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
           classes=None, classifier_activation="softmax", name=None, weight_decay=None, sync_bn=False,
           include_preprocessing=False):
    """Builds the residual (or plain) network of ``spec`` as a Keras functional model.

    Args:
        spec: an ``ArchSpec`` (``registry.spec("resnet50")``, or ``ArchSpec("cifar", "basic", (3, 3, 3), "A")``).
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation: as in
            ``keras.applications``; ``classes`` defaults to the family's (1000 or 10), ``weights`` is ``None``, a
            weights tag of ``weight_records`` (``"imagenet"``, ``"imagenet-v2"``, ``"cifar10"``; the spec must be
            the one the weights were trained with) or the path to a weights file.
        name: model name (default: the spec's name, ``resnet50``).
        weight_decay, sync_bn: training conventions, see ``blocks.LayerConfig``.
        include_preprocessing: with a weights tag, the weights' own normalisation becomes the model's first layer
            (``preprocessing``, a ``layers.PixelNormalization``): the model then takes raw ``[0, 255]`` pixels.

    Returns:
        ``ResNetModel`` (carrying ``spec``) mapping ``(batch, H, W, 3)`` images to ``(batch, classes)``
        (``include_top=True``), to ``(batch, H / s, W / s, C)`` features (``pooling=None``; ``s`` = 32 ImageNet, 4
        CIFAR; ``C`` = 512 basic / 2048 bottleneck ImageNet, 64 / 256 CIFAR) or to ``(batch, C)``
        (``pooling="avg"|"max"``).
    """
    if not isinstance(spec, ArchSpec):
        raise ValueError(f"ResNet takes an ArchSpec (keras_resnet.applications.registry.spec(name)), got {spec!r}; "
                         "keras_resnet.build(name, **options) builds by name.")
    family = FAMILIES[spec.family]
    name = name or spec.name
    _choice(pooling, POOLINGS, "pooling")
    classes = family.classes if classes is None else classes
    check_positive_int(classes, "classes")
    data_format = keras.config.image_data_format()
    check_data_format(data_format)
    record = weights_lib.check_weights_argument(weights, spec, include_top, classes, input_shape, data_format)
    if weights is not None and classifier_activation not in (None, "softmax"):
        raise ValueError("With pretrained weights, classifier_activation must be None or 'softmax', got "
                         f"{classifier_activation!r}")
    if include_preprocessing and record is None:
        raise ValueError("include_preprocessing=True puts the published weights' normalisation in the model: pass "
                         "weights='<tag>' too (keras_resnet.list_weights() lists them), or preprocess inputs "
                         "yourself.")

    model = assemble(spec, include_top=include_top, input_tensor=input_tensor, input_shape=input_shape,
                     pooling=pooling, classes=classes, classifier_activation=classifier_activation, name=name,
                     weight_decay=weight_decay, sync_bn=sync_bn,
                     preprocessing=record.transform if include_preprocessing else None,
                     weights_tag=record.tag if record is not None else None)
    model.contract = _contract(record, family, model.input_shape[1:], data_format, include_preprocessing)
    return weights_lib.load_weights(model, weights, spec.name, include_top)


def _contract(record, family, input_shape, data_format, include_preprocessing):
    """The model's ``InferenceContract``: its weights record's (at the model's input size), else the paper's."""
    size = tuple(input_shape[:2] if data_format == "channels_last" else input_shape[1:])
    size = None if None in size else size
    if record is not None:
        return contract_lib.for_record(record, size, data_format, include_preprocessing)
    return contract_lib.for_family(family.name, size, data_format)


def imagenet_resnet(depth, **options):
    """ImageNet ResNet of ``depth`` in ``architectures.IMAGENET_DEPTHS`` ([He16] Table 1); ``options`` are
    ``ArchSpec`` fields and ``ResNet`` keywords.

    Shapes: ``(batch, 224, 224, 3) -> (batch, 1000)`` by default.
    """
    block, blocks = imagenet_layout(depth)
    return _from_layout("imagenet", block, blocks, options)


def cifar_resnet(depth, block="basic", **options):
    """CIFAR ResNet of ``depth = 6n+2`` (basic) or ``9n+2`` (bottleneck) layers ([He16] Sec. 4.2, [He16b]).

    Shapes: ``(batch, 32, 32, 3) -> (batch, 10)`` by default.
    """
    block, blocks = cifar_layout(depth, block)
    return _from_layout("cifar", block, blocks, options)


def _from_layout(family, block, blocks, options):
    architecture = {key: options.pop(key) for key in list(options) if key in field_names()}
    if architecture.get("shortcut") is None:  # None: the family's option (A for CIFAR, B for ImageNet)
        architecture["shortcut"] = FAMILIES[family].shortcut
    return ResNet(ArchSpec(family, block, blocks, **architecture), **options)
