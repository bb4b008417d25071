"""One builder for every residual and plain network of [He16] and [He16b].

``ResNet(spec, ...)`` assembles stem -> stages -> head of an ``ArchSpec`` with the keras.applications signature
(``include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation``).
``imagenet_resnet(depth)`` and ``cifar_resnet(depth)`` make the spec from the depth tables of ``architectures``;
named models and ``build(name)`` live in ``registry``.
"""

import keras

from keras_resnet import contract as contract_lib
from keras_resnet import weights as weights_lib
from keras_resnet.architectures import FAMILIES, cifar_layout, imagenet_layout
from keras_resnet.blocks import LayerConfig, final_activation, stage, stem_activation
from keras_resnet.layers import PixelNormalization
from keras_resnet.network import ResNetModel, check_data_format, deep_graph
from keras_resnet.spec import ArchSpec, field_names
from keras_resnet.validation import check_positive_int

POOLINGS = (None, "avg", "max")


def _choice(value, allowed, what):
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def _input_shape(input_shape, family, include_top, data_format, name):
    """Default and check ``input_shape`` as keras.applications does, with the family's minimum size."""
    if input_shape is None:
        side = family.input_size if include_top else None
        return (side, side, 3) if data_format == "channels_last" else (3, side, side)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}")
    spatial = input_shape[:2] if data_format == "channels_last" else input_shape[1:]
    if include_top and None in spatial:
        raise ValueError(f"include_top=True needs a static input_shape, as in keras.applications, got "
                         f"input_shape={input_shape}: pass fixed sides (e.g. ({family.input_size}, "
                         f"{family.input_size}, 3)), or include_top=False with pooling='avg' for any input size.")
    too_small = [side for side in spatial if side is not None and side < family.total_stride]
    if too_small:
        raise ValueError(f"Input of {spatial[0]}x{spatial[1]} is too small for '{name}': {family.name} networks "
                         f"downsample by {family.total_stride}, so height and width must be >= "
                         f"{family.total_stride} (e.g. input_shape=({family.input_size}, {family.input_size}, 3)).")
    return input_shape


def _stem(x, family, config):
    """conv1 (and pool1): 7x7/2 conv + 3x3/2 max pool for ImageNet, 3x3 conv for CIFAR ([He16] Table 1, 4.2)."""
    kernel, strides = (7, 2) if family.stem == "imagenet" else (3, 1)
    x = config.conv(x, family.widths[0], kernel, strides, "conv1", before_bn=not config.preact)
    x = stem_activation(x, config)
    if family.stem == "imagenet":
        x = keras.layers.ZeroPadding2D(1, data_format=config.data_format, name="pool1_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, data_format=config.data_format, name="pool1_pool")(x)
    return x


def _head(x, include_top, pooling, classes, classifier_activation, config):
    x = final_activation(x, config)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(data_format=config.data_format, name="avg_pool")(x)
        # float32 whatever the dtype policy: mixed-precision outputs and losses stay float32 (softmax in 16 bits
        # saturates).
        return keras.layers.Dense(classes, activation=classifier_activation, kernel_regularizer=config.regularizer(),
                                  dtype="float32", name="predictions")(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(data_format=config.data_format, name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(data_format=config.data_format, name="max_pool")(x)
    return x


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
        raise ValueError(f"ResNet takes an ArchSpec (keras_resnet.registry.spec(name)), got {spec!r}; "
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

    config = LayerConfig.from_spec(spec, weight_decay=weight_decay, data_format=data_format, sync_bn=sync_bn)
    input_shape = _input_shape(input_shape, family, include_top, data_format, name)
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape)
    elif keras.backend.is_keras_tensor(input_tensor):
        inputs = input_tensor
    else:
        inputs = keras.Input(tensor=input_tensor, shape=input_shape)

    x = inputs
    if include_preprocessing:
        transform = record.transform
        x = PixelNormalization(transform.mean, transform.std, transform.channel_order, data_format=data_format,
                               name="preprocessing")(x)
    x = _stem(x, family, config)
    strides = family.strides if spec.downsample_at == "first" else family.strides[1:] + (1,)
    for stage_name, filters, count, stride in zip(spec.stage_names, family.widths, spec.blocks, strides):
        x = stage(x, spec.block, filters * spec.width, count, stride, spec.shortcut, config, stage_name,
                  stride_on=spec.stride_on, downsample_at=spec.downsample_at)
    x = _head(x, include_top, pooling, classes, classifier_activation, config)

    source = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else inputs
    contract = _contract(record, family, input_shape, data_format, include_preprocessing)
    with deep_graph(12 * sum(spec.blocks) + 100):  # at most about 12 layers a block
        model = ResNetModel(source, x, spec=spec, weights_tag=record.tag if record is not None else None,
                            contract=contract, name=name)
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
