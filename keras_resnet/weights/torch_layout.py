"""PyTorch ResNet checkpoints onto our layers: which PyTorch parameter each layer's weights come from, and the copy.

The two layouts (torchvision / timm ImageNet ResNets, the reference CIFAR re-implementation) are described in
``convert.py``, which converts a checkpoint by name; ``weights.py`` uses the copy here to convert published
checkpoints for ``ResNet(weights=tag)``. It sits below the builder (it only reads a built model's layers), so that
building with converted weights needs nothing above it.
"""

import re

import keras
import numpy as np

from keras_resnet.weights.records import CIFAR_REFERENCE_LAYOUT, TORCHVISION_LAYOUT

# Our layer name -> the PyTorch module name, per layout (the block's shortcut module differs).
_STEM = {"conv1_conv": "conv1", "conv1_bn": "bn1"}
_BLOCK = re.compile(r"^conv(\d+)_block(\d+)_(\d)_(conv|bn)$")
_HEADS = {"imagenet": "fc", "cifar": "linear"}


def _torch_module(layer_name, family, shortcut_module):
    """``conv3_block2_1_conv`` -> ``layer2.1.conv1``; ``conv3_block1_0_bn`` -> ``layer2.0.downsample.1``."""
    if layer_name in _STEM:
        return _STEM[layer_name]
    if layer_name == "predictions":
        return _HEADS[family]
    match = _BLOCK.match(layer_name)
    if match is None:
        return None
    stage, block, index, kind = match.groups()
    prefix = f"layer{int(stage) - 1}.{int(block) - 1}"
    if index == "0":
        return f"{prefix}.{shortcut_module}.{0 if kind == 'conv' else 1}"
    return f"{prefix}.{kind}{index}"


def _take(state, used, key, shape):
    if key not in state:
        raise ValueError(f"The checkpoint has no {key!r}: it is not the architecture asked for (check the model "
                         "name and depth: its keys start with "
                         f"{', '.join(sorted(state)[:3])} ...)")
    value = np.asarray(state[key], dtype=np.float32)
    if value.shape != tuple(shape):
        raise ValueError(f"The checkpoint's {key!r} has shape {value.shape}, the model expects {tuple(shape)}: it is "
                         "another depth, width or number of classes")
    used.add(key)
    return value


def load_state_dict(model, state, family):
    """Copies a PyTorch state dict into ``model`` (built with the layout's options), checking every name and shape.

    Args:
        model: a model of ``registry.build`` with ``TORCHVISION_LAYOUT`` (family ``"imagenet"``) or
            ``CIFAR_REFERENCE_LAYOUT`` (``"cifar"``) options.
        state: ``{name: array}`` with PyTorch's shapes (``checkpoints.read_state_dict``).
        family: ``"imagenet"`` or ``"cifar"``.

    Raises:
        ValueError: a parameter is missing, has another shape, or the checkpoint holds parameters the model has no
            place for (another architecture).
    """
    shortcut_module = "downsample" if family == "imagenet" else "shortcut"
    used = set()
    for layer in model.layers:
        module = _torch_module(layer.name, family, shortcut_module)
        if module is None or not layer.weights:
            continue
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, c_in, c_out = layer.kernel.shape
            kernel = _take(state, used, f"{module}.weight", (c_out, c_in, kh, kw))
            values = [np.transpose(kernel, (2, 3, 1, 0))]
            if layer.use_bias:
                values.append(_take(state, used, f"{module}.bias", layer.bias.shape))
        elif isinstance(layer, keras.layers.BatchNormalization):
            values = [_take(state, used, f"{module}.{name}", layer.gamma.shape)
                      for name in ("weight", "bias", "running_mean", "running_var")]
        elif isinstance(layer, keras.layers.Dense):
            values = [_take(state, used, f"{module}.weight", layer.kernel.shape[::-1]).T,
                      _take(state, used, f"{module}.bias", layer.bias.shape)]
        else:
            continue
        layer.set_weights(values)
    head = _HEADS[family]
    has_head = any(layer.name == "predictions" for layer in model.layers)
    unused = sorted(key for key in set(state) - used
                    if not key.endswith("num_batches_tracked") and not (not has_head and key.startswith(f"{head}.")))
    if unused:
        raise ValueError(f"The checkpoint has {len(unused)} parameters the model has no place for "
                         f"({', '.join(unused[:4])}{' ...' if len(unused) > 4 else ''}): it is another architecture")
    return model


def state_classes(state, family):
    """The number of classes of the checkpoint's classifier (``None`` when it holds none)."""
    head = state.get(f"{_HEADS[family]}.weight")
    return None if head is None else int(np.shape(head)[0])


def layout_options(family, state):
    """Builder options that reproduce the checkpoint's architecture: ``TORCHVISION_LAYOUT`` for ImageNet nets,
    ``CIFAR_REFERENCE_LAYOUT`` for CIFAR nets (option B when the checkpoint has shortcut projections)."""
    if family == "imagenet":
        return dict(TORCHVISION_LAYOUT)
    options = dict(CIFAR_REFERENCE_LAYOUT)
    if any(".shortcut." in key for key in state):
        options["shortcut"] = "B"
    return options
