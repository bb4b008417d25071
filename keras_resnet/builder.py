"""One builder for every residual and plain network of [He16] and [He16b].

``ResNet(family, block, blocks, ...)`` assembles stem -> stages -> head with the keras.applications signature
(``include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation``).
``imagenet_resnet(depth)`` and ``cifar_resnet(depth)`` look the layout up in ``architectures``; named models and
``build(name)`` live in ``registry``.
"""

import contextlib
import sys

import keras

from keras_resnet import weights as weights_lib
from keras_resnet.architectures import FAMILIES, cifar_layout, imagenet_layout
from keras_resnet.blocks import BLOCKS, DOWNSAMPLE_AT, STRIDE_ON, LayerConfig, stage

POOLINGS = (None, "avg", "max")


def _choice(value, allowed, what):
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def normalize_shortcut(shortcut):
    """``"a"``/``"A"`` -> ``"A"``; ``None``/``"none"``/``"plain"`` -> ``"none"``; anything else is an error."""
    if shortcut is None or str(shortcut).lower() in ("none", "plain"):
        return "none"
    if str(shortcut).upper() in ("A", "B", "C"):
        return str(shortcut).upper()
    raise ValueError(f"shortcut must be 'A', 'B' or 'C' ([He16] Sec. 4.1), or 'none' for a plain network, "
                     f"got {shortcut!r}")


def _input_shape(input_shape, family, include_top, data_format, name):
    """Default and check ``input_shape`` as keras.applications does, with the family's minimum size."""
    if input_shape is None:
        side = family.input_size if include_top else None
        return (side, side, 3) if data_format == "channels_last" else (3, side, side)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}")
    spatial = input_shape[:2] if data_format == "channels_last" else input_shape[1:]
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
    if not config.preact:  # pre-activation nets start their first block with BN-ReLU instead
        x = config.relu(config.bn(x, "conv1"), "conv1_relu")
    if family.stem == "imagenet":
        x = keras.layers.ZeroPadding2D(1, data_format=config.data_format, name="pool1_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, data_format=config.data_format, name="pool1_pool")(x)
    return x


def _head(x, include_top, pooling, classes, classifier_activation, config):
    if config.preact:  # [He16b]: the last block's output is not activated yet
        x = config.relu(config.bn(x, "post"), "post_relu")
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


@contextlib.contextmanager
def _deep_graph(layers):
    """Keras walks a functional graph recursively when it builds the model: ResNet-1202 (about 3,600 layers)
    needs more than Python's default 1,000 frames. The limit is raised for the build only."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 4 * layers + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def ResNet(family, block, blocks, *, shortcut=None, preact=False, stride_on="1x1", downsample_at="first",
           width=1, use_bias=False, bn_momentum=0.9, weight_decay=None, sync_bn=False, include_top=True, weights=None,
           input_tensor=None, input_shape=None, pooling=None, classes=None, classifier_activation="softmax",
           name="resnet", weights_name=None, custom_options=()):
    """Builds a residual (or plain) network as a Keras functional model.

    Args:
        family: ``"imagenet"`` ([He16] Table 1: 7x7 stem, 4 stages) or ``"cifar"`` ([He16] Sec. 4.2: 3x3 stem,
            3 stages of 16/32/64 filters).
        block: ``"basic"`` (two 3x3) or ``"bottleneck"`` (1x1-3x3-1x1, [He16] Fig. 5).
        blocks: blocks per stage, e.g. ``(3, 4, 6, 3)``.
        shortcut: ``"A"``, ``"B"``, ``"C"`` ([He16] Sec. 4.1) or ``"none"`` (plain net); default the family's
            (A for CIFAR, B for ImageNet).
        preact: pre-activation blocks ([He16b]).
        stride_on: ``"1x1"`` (paper) or ``"3x3"`` ("v1.5") for bottlenecks.
        downsample_at: ``"first"`` (paper) or ``"last"`` block of a stage takes its stride.
        width: widening factor of every stage (1: the paper's 16/32/64 or 64..512 filters; Zagoruyko and
            Komodakis' wide ResNets use 2..10).
        use_bias, bn_momentum, weight_decay, sync_bn: see ``blocks.LayerConfig``.
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation: as in
            ``keras.applications``; ``classes`` defaults to the family's (1000 or 10), ``weights`` is ``None``,
            ``"imagenet"`` or the path to a weights file.
        name: model name.
        weights_name: registry name used to find published weights.
        custom_options: names of options that depart from the published architecture (checked with
            ``weights="imagenet"``).

    Returns:
        ``keras.Model`` mapping ``(batch, H, W, 3)`` images to ``(batch, classes)`` (``include_top=True``), to
        ``(batch, H / s, W / s, C)`` features (``pooling=None``; ``s`` = 32 ImageNet, 4 CIFAR; ``C`` = 512 basic /
        2048 bottleneck ImageNet, 64 / 256 CIFAR) or to ``(batch, C)`` (``pooling="avg"|"max"``).
    """
    family = FAMILIES[_choice(family, tuple(FAMILIES), "family")]
    _choice(block, BLOCKS, "block")
    shortcut = normalize_shortcut(family.shortcut if shortcut is None else shortcut)
    _choice(stride_on, STRIDE_ON, "stride_on")
    _choice(downsample_at, DOWNSAMPLE_AT, "downsample_at")
    _choice(pooling, POOLINGS, "pooling")
    classes = family.classes if classes is None else classes
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer (the widening factor), got {width!r}")
    if not isinstance(classes, int) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}")
    if len(blocks) != len(family.widths) or any(not isinstance(n, int) or n < 1 for n in blocks):
        raise ValueError(f"blocks must list {len(family.widths)} positive block counts for {family.name} networks, "
                         f"got {blocks}")
    weights_lib.check_weights_argument(weights, weights_name or name, include_top, classes, custom_options)
    if weights is not None and classifier_activation not in (None, "softmax"):
        raise ValueError("With pretrained weights, classifier_activation must be None or 'softmax', got "
                         f"{classifier_activation!r}")

    data_format = keras.config.image_data_format()
    config = LayerConfig(use_bias=use_bias, preact=preact, bn_momentum=bn_momentum, weight_decay=weight_decay,
                         data_format=data_format, sync_bn=sync_bn)
    input_shape = _input_shape(input_shape, family, include_top, data_format, name)
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape)
    elif keras.backend.is_keras_tensor(input_tensor):
        inputs = input_tensor
    else:
        inputs = keras.Input(tensor=input_tensor, shape=input_shape)

    x = _stem(inputs, family, config)
    strides = family.strides if downsample_at == "first" else family.strides[1:] + (1,)
    for index, (filters, count, stride) in enumerate(zip(family.widths, blocks, strides)):
        x = stage(x, block, filters * width, count, stride, shortcut, config, f"conv{index + 2}",
                  stride_on=stride_on, downsample_at=downsample_at)
    x = _head(x, include_top, pooling, classes, classifier_activation, config)

    source = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else inputs
    with _deep_graph(12 * sum(blocks) + 100):  # at most about 12 layers a block
        model = keras.Model(source, x, name=name)
    return weights_lib.load_weights(model, weights, weights_name or name, include_top)


def imagenet_resnet(depth, **options):
    """ImageNet ResNet of ``depth`` in ``architectures.IMAGENET_DEPTHS`` ([He16] Table 1); see ``ResNet``.

    Shapes: ``(batch, 224, 224, 3) -> (batch, 1000)`` by default.
    """
    block, blocks = imagenet_layout(depth)
    options.setdefault("name", f"resnet{depth}")
    return ResNet("imagenet", block, blocks, **options)


def cifar_resnet(depth, block="basic", **options):
    """CIFAR ResNet of ``depth = 6n+2`` (basic) or ``9n+2`` (bottleneck) layers ([He16] Sec. 4.2, [He16b]).

    Shapes: ``(batch, 32, 32, 3) -> (batch, 10)`` by default.
    """
    block, blocks = cifar_layout(depth, block)
    options.setdefault("name", f"resnet{depth}")
    return ResNet("cifar", block, blocks, **options)
