"""A new classifier on a network's pooled features, and frozen layers: the Keras side of fine-tuning.

``with_new_head`` puts a ``Dense(classes, softmax)`` named ``predictions`` on a network's ``avg_pool`` features;
``freeze`` makes the layers that ``--freeze`` names (``none``, ``all`` but the classifier, or ``stages N``: the stem
and the first ``N`` stages, [He16] Table 1's conv1 .. conv{N+1}) not trainable. In Keras 3 a BatchNormalization layer
that is not trainable also runs in inference mode, so a frozen part computes exactly what it computed before.
Backend-agnostic Keras (no TensorFlow): ``training/finetune.py`` uses them to fine-tune.
"""

import re

import keras

from keras_resnet.support.choices import parse_freeze
from keras_resnet.models.network import ResNetModel, spec_of

HEAD = "predictions"
POOLED = "avg_pool"
FREEZE_MODES = ("none", "all", "stages N")
STEM = re.compile(r"^(conv1|pool1)_")
STAGE = re.compile(r"^conv(\d+)_block\d+_")


def with_new_head(model, classes, weight_decay=None, name=None):
    """``model``'s pooled features (its ``avg_pool`` layer) with a new ``Dense(classes, softmax)`` classifier named
    ``predictions``, initialised as the builder's (Glorot uniform, zero bias), L2 ``weight_decay / 2``, float32.

    The layers are shared with ``model``, not copied. Shapes: ``(batch, H, W, 3) -> (batch, classes)``.
    """
    try:
        features = model.get_layer(POOLED).output
    except ValueError:
        raise ValueError(f"Model {model.name!r} has no pooled features (a layer named {POOLED!r}): build it with "
                         "include_top=True or pooling='avg'.") from None
    regularizer = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    outputs = keras.layers.Dense(classes, activation="softmax", kernel_regularizer=regularizer, dtype="float32",
                                 name=HEAD)(features)
    return ResNetModel(model.inputs, outputs, spec=spec_of(model), name=name or model.name)


def frozen_layer(name, mode):
    """Whether the layer called ``name`` is frozen under the parsed ``mode`` (``parse_freeze``)."""
    kind, stages = mode
    if kind == "none" or name == HEAD:
        return False
    if kind == "all":
        return True
    stage = STAGE.match(name)
    return bool(STEM.match(name)) or (stage is not None and int(stage.group(1)) - 1 <= stages)


def freeze(model, mode):
    """Freezes the layers of ``model`` that ``mode`` (``"none"``, ``"all"``, ``"stages N"``) names; returns their
    names. Call it before ``compile``. ``stages N`` needs ``N`` <= the network's stages."""
    parsed = parse_freeze(mode)
    spec = spec_of(model)
    if parsed[0] == "stages" and spec is not None and parsed[1] > len(spec.blocks):
        raise ValueError(f"--freeze stages {parsed[1]}: {spec.name} has {len(spec.blocks)} stages; freeze at most "
                         f"that many, or 'all'.")
    frozen = []
    for layer in model.layers:
        if frozen_layer(layer.name, parsed):
            layer.trainable = False
            frozen.append(layer.name)
    return frozen
