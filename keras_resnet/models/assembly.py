"""The graph of a residual or plain network, without weights: stem -> stages -> head of an ``ArchSpec``.

``builder.ResNet`` checks its arguments, assembles the network here and loads its weights; ``weights.py`` assembles
here the networks that published PyTorch checkpoints are converted into. Nothing here reads or fetches weights, so
the builder, the weights and the converter all build on this module and none of them on each other in a loop.
"""

import keras

from keras_resnet.models.architectures import FAMILIES
from keras_resnet.models.blocks import LayerConfig, final_activation, stage, stem_activation
from keras_resnet.models.layers import PixelNormalization
from keras_resnet.models.network import ResNetModel, deep_graph


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


def assemble(spec, *, include_top=True, input_tensor=None, input_shape=None, pooling=None, classes=None,
             classifier_activation="softmax", name=None, weight_decay=None, sync_bn=False, preprocessing=None,
             weights_tag=None):
    """The ``ResNetModel`` of ``spec`` with fresh weights; the arguments are ``builder.ResNet``'s (checked there).

    ``preprocessing`` (a ``weight_records.EvalTransform``, or ``None``) becomes the first layer (``preprocessing``,
    a ``layers.PixelNormalization``); ``weights_tag`` is recorded in the model. Shapes: see ``builder.ResNet``.
    """
    family = FAMILIES[spec.family]
    name = name or spec.name
    classes = family.classes if classes is None else classes
    data_format = keras.config.image_data_format()
    config = LayerConfig.from_spec(spec, weight_decay=weight_decay, data_format=data_format, sync_bn=sync_bn)
    input_shape = _input_shape(input_shape, family, include_top, data_format, name)
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape)
    elif keras.backend.is_keras_tensor(input_tensor):
        inputs = input_tensor
    else:
        inputs = keras.Input(tensor=input_tensor, shape=input_shape)

    x = inputs
    if preprocessing is not None:
        x = PixelNormalization(preprocessing.mean, preprocessing.std, preprocessing.channel_order,
                               data_format=data_format, name="preprocessing")(x)
    x = _stem(x, family, config)
    strides = family.strides if spec.downsample_at == "first" else family.strides[1:] + (1,)
    for stage_name, filters, count, stride in zip(spec.stage_names, family.widths, spec.blocks, strides):
        x = stage(x, spec.block, filters * spec.width, count, stride, spec.shortcut, config, stage_name,
                  stride_on=spec.stride_on, downsample_at=spec.downsample_at)
    x = _head(x, include_top, pooling, classes, classifier_activation, config)

    source = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else inputs
    with deep_graph(12 * sum(spec.blocks) + 100):  # at most about 12 layers a block
        return ResNetModel(source, x, spec=spec, weights_tag=weights_tag, name=name)
