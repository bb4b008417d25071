"""Backbone features: the stage outputs of a residual network as a dict, in the conventions of detection backbones.

``stage_outputs(model)`` finds the stage maps of any image network built by ``keras_resnet`` (or a keras.applications
ResNet: the layer names are the same) and returns them keyed ``"C{k}"``, where ``C{k}`` is the map at stride ``2**k``
(the convention of feature pyramid networks, Lin et al. 2017, and of keras-hub's ``pyramid_outputs``):

- ImageNet nets ([He16] Table 1): ``C2`` .. ``C5`` = outputs of conv2_x .. conv5_x, strides 4, 8, 16, 32.
- CIFAR nets ([He16] Sec. 4.2): the three stages run at strides 1, 2, 4, so they are ``C0``, ``C1``, ``C2``.
- Pre-activation nets ([He16b]): a block's output is an un-normalised sum, and the network applies one last
  BN-ReLU after the final addition (``post_bn``/``post_relu``). The last map includes it: it is the feature the
  classifier pools, and the same tensor as in post-activation nets, where every block ends with a ReLU. The other
  maps are the residual stream as the next stage receives it (its first block normalises it itself).
- Layouts that downsample in the *last* block of a stage (keras.applications' v2 weights, ``downsample_at="last"``):
  ``C{k}`` is still the deepest block output at stride ``2**k``, i.e. the output of the stage's second-to-last block;
  the last map is the output of the network's last stage.

``Backbone(model_or_name)`` is a ``keras.Model`` from the network's input to that dict, usable as the backbone of a
detector or segmenter. Backend-agnostic Keras 3: no TensorFlow import.
"""

import math
import re

import keras

from keras_resnet.applications import registry
from keras_resnet.models.layers import stride_pair

# Blocks are named {stage}_block{index}_{layer} by blocks.stage (conv2_block1_1_conv, conv3_block4_out, ...).
BLOCK_LAYER = re.compile(r"^(conv\d+_block\d+)_")
# The BN-ReLU that pre-activation networks apply after their last block (builder._head).
FINAL_ACTIVATION = "post_relu"


def _layer_stride(layer):
    """``(s_h, s_w)`` by which ``layer`` subsamples its input (1 for layers that keep the resolution)."""
    strides = getattr(layer, "strides", None)
    return stride_pair(strides) if strides is not None else (1, 1)


def _nested_network(model):
    """The name of a sub-model of ``model`` that holds the stages, or ``None``."""
    for layer in model.layers:
        if isinstance(layer, keras.Model) and any(BLOCK_LAYER.match(inner.name) for inner in layer.layers):
            return layer.name
    return None


def _blocks(model):
    """``[(block name, output layer, cumulative stride (s_h, s_w))]`` of every block, input to output.

    ``model.layers`` is in topological order: the stem comes before the first block, and a block's output (its
    ``_out`` layer, or its last convolution in pre-activation plain nets) is the last of the block's layers.
    """
    blocks, stem_stride = {}, (1, 1)
    for layer in model.layers:
        match = BLOCK_LAYER.match(layer.name)
        if match:
            blocks.setdefault(match.group(1), []).append(layer)
        elif not blocks:
            sh, sw = _layer_stride(layer)
            stem_stride = (stem_stride[0] * sh, stem_stride[1] * sw)
    if not blocks:
        nested = _nested_network(model)
        hint = (f" It holds the network as its layer {nested!r}: pass model.get_layer({nested!r})." if nested else
                " stage_outputs needs a network built by keras_resnet (or a keras.applications ResNet).")
        raise ValueError(f"Model {model.name!r} has no residual stages (layers named conv<k>_block<n>_...).{hint}")
    result, stride = [], stem_stride
    for name, layers in blocks.items():
        block_stride = max(_layer_stride(layer) for layer in layers)  # every path through a block subsamples alike
        stride = (stride[0] * block_stride[0], stride[1] * block_stride[1])
        result.append((name, layers[-1], stride))
    return result


def _level(stride, block):
    """``k`` for a stride of ``(2**k, 2**k)``."""
    sh, sw = stride
    if sh != sw or sh & (sh - 1):
        raise ValueError(f"Block {block!r} has stride {sh}x{sw}: backbone levels C<k> need square power-of-two "
                         "strides (image networks), not the strides of a spectrogram network.")
    return int(math.log2(sh))


def stage_outputs(model):
    """The stage outputs of a residual network, keyed ``"C{k}"`` for the map at stride ``2**k``.

    See the module docstring for the conventions (ImageNet ``C2``..``C5``, CIFAR ``C0``..``C2``, pre-activation nets).

    Args:
        model: a functional ``keras.Model`` built by ``keras_resnet`` (``build``, ``ResNet50()``, a trained
            ``model.keras``), with or without its classifier, in either data format.

    Returns:
        ``dict`` of Keras tensors of ``model``'s graph, shallowest first. For an ImageNet network on
        ``(batch, H, W, 3)`` (channels_last): ``C2 (batch, H/4, W/4, c)`` .. ``C5 (batch, H/32, W/32, 8c)`` with
        ``c`` = 64 (basic blocks) or 256 (bottlenecks); CIFAR: ``C0 (batch, H, W, c)`` .. ``C2 (batch, H/4, W/4, 4c)``
        with ``c`` = 16 or 64. Channels first with ``data_format="channels_first"``.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "layers"):
        raise ValueError(f"stage_outputs needs a keras.Model, got {type(model).__name__}")
    deepest = {}
    for name, layer, stride in _blocks(model):
        deepest[_level(stride, name)] = layer
    last = max(deepest)
    final = {layer.name: layer for layer in model.layers}.get(FINAL_ACTIVATION)
    if final is not None:  # pre-activation: the last map is the one the head pools
        deepest[last] = final
    return {f"C{level}": deepest[level].output for level in sorted(deepest)}


def Backbone(model_or_name, **build_options):
    """A ``keras.Model`` from a network's input to its ``stage_outputs`` dict.

    Args:
        model_or_name: a ``keras.Model`` built by ``keras_resnet`` (its weights are shared, not copied), or a
            registry name (``"resnet50"``, ``"resnet20"``, ``"resnet50v2"``, ...).
        **build_options: for a registry name, ``registry.build`` keywords (``weights="imagenet"``,
            ``input_shape``, ...); ``include_top`` defaults to ``False`` and ``input_shape`` to any size.

    Returns:
        ``keras.Model`` mapping ``(batch, H, W, 3)`` images to ``{"C2": ..., "C5": ...}`` (ImageNet nets) or
        ``{"C0": ..., "C2": ...}`` (CIFAR nets); it saves as ``.keras`` and loads with ``safe_mode=True``.

    Example::

        features = keras_resnet.Backbone("resnet50", weights="imagenet")
        maps = features(images)        # maps["C4"]: (batch, H / 16, W / 16, 1024)
    """
    if isinstance(model_or_name, str):
        build_options.setdefault("include_top", False)
        model = registry.build(model_or_name, **build_options)
    elif build_options:
        raise ValueError(f"Build options ({', '.join(sorted(build_options))}) apply to registry names only: "
                         "pass Backbone('resnet50', ...) or a model that is already built.")
    else:
        model = model_or_name
    outputs = stage_outputs(model)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=f"{model.name}_backbone")


__all__ = ["Backbone", "stage_outputs"]
