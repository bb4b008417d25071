"""A trained network cut into its stem, its sequence of segments (residual blocks, or the layers of a plain net) and
its head, as Keras sub-models that share the network's weights ([Veit16] Sec. 4).

A segment maps its input to its output; its ``skip`` is what remains when it is deleted: the shortcut of a
residual block (identity, or the projection / option-A shortcut of a downsampling block), or the identity for a
plain layer whose input and output shapes match. Composing the pieces again, with some segments replaced by their
skip or in another order, gives the lesioned or reordered network without copying a weight.
"""

import dataclasses
import re

import keras

from keras_resnet.models.network import spec_of

BLOCK_OUTPUT = re.compile(r"^(conv\d+_block\d+)_out$")


@dataclasses.dataclass
class Segment:
    """One deletable piece of a network.

    Attributes:
        name: ``conv3_block2`` (a residual block) or ``conv3_block2_1`` (a layer of a plain net).
        body: sub-model ``segment input -> segment output``.
        shortcut: for residual blocks, sub-model ``input -> shortcut`` (``None``: the identity).
        residual: for residual blocks, sub-model ``input -> residual branch`` (before the addition).
        post_activation: the block applies a ReLU after the addition ([He16]); pre-activation blocks do not.
        downsampling: the segment changes the feature-map shape.
        deletable: the segment can be replaced by its skip (a plain layer that changes the shape cannot).
    """

    name: str
    body: keras.Model
    shortcut: keras.Model | None = None
    residual: keras.Model | None = None
    post_activation: bool = True
    downsampling: bool = False
    deletable: bool = True

    def skip(self, x):
        """What remains of the segment when it is deleted: its shortcut (with the block's ReLU), or ``x``."""
        if self.shortcut is None:
            return x
        x = self.shortcut(x)
        return keras.layers.Activation("relu")(x) if self.post_activation else x


class Network:
    """``stem -> segments -> head`` of a keras_resnet model (see the module docstring)."""

    def __init__(self, model):
        spec = spec_of(model)
        names = spec.block_names if spec is not None else [  # models saved before specs: their layer names
            match.group(1) for layer in model.layers if (match := BLOCK_OUTPUT.match(layer.name))]
        if not names:
            raise ValueError(f"'{model.name}' is not a keras_resnet residual or plain network: it has no "
                             "conv<k>_block<i>_out layers. Build it with keras_resnet (or train it with "
                             "keras-resnet train) to study it.")
        if len(model.input.shape) != 4 or len(model.output.shape) != 2:
            raise ValueError(f"'{model.name}' is not a keras_resnet residual or plain network of images: it maps "
                             f"{tuple(model.input.shape)} to {tuple(model.output.shape)}, while the lesion study and "
                             "path analysis take image classifiers ((batch, H, W, 3) -> (batch, classes)), not "
                             "sequence models such as WRBN.")
        self.model = model
        self.residual = _is_add(model.get_layer(f"{names[0]}_add" if _has(model, f"{names[0]}_add")
                                                else f"{names[0]}_out"))
        first_input = _block_input(model, names[0])
        self.stem = keras.Model(model.input, first_input, name="stem")
        self.head = keras.Model(model.get_layer(f"{names[-1]}_out").output, model.output, name="head")
        self.segments = []
        previous = first_input
        for name in names:
            output = model.get_layer(f"{name}_out").output
            if self.residual:
                self.segments.append(_residual_segment(model, name, previous, output))
            else:
                self.segments.extend(_plain_segments(model, name, previous, output))
            previous = output

    def compose(self, deleted=(), order=None, name=None):
        """The network with the segments in ``deleted`` (indices) replaced by their skip, in ``order``."""
        order = list(range(len(self.segments))) if order is None else list(order)
        inputs = keras.Input(self.model.input.shape[1:])
        x = self.stem(inputs)
        for index in order:
            segment = self.segments[index]
            x = segment.skip(x) if index in deleted else segment.body(x)
        return keras.Model(inputs, self.head(x), name=name or f"{self.model.name}_lesioned")

    @property
    def deletable(self):
        """Indices of the segments whose deletion keeps every shape: non-downsampling blocks or layers."""
        return [i for i, segment in enumerate(self.segments) if segment.deletable and not segment.downsampling]


def _has(model, name):
    return any(layer.name == name for layer in model.layers)


def _is_add(layer):
    return isinstance(layer, keras.layers.Add)


def _block_input(model, name):
    """The tensor a block consumes: the input of its first layer."""
    first = next(layer for layer in model.layers if layer.name.startswith(f"{name}_"))
    return first.input


def _residual_segment(model, name, block_input, block_output):
    add = model.get_layer(f"{name}_add") if _has(model, f"{name}_add") else model.get_layer(f"{name}_out")
    shortcut_tensor, residual_tensor = add.input
    shortcut = None if shortcut_tensor is block_input else keras.Model(block_input, shortcut_tensor,
                                                                        name=f"{name}_shortcut")
    return Segment(name, keras.Model(block_input, block_output, name=name), shortcut,
                   keras.Model(block_input, residual_tensor, name=f"{name}_residual"),
                   post_activation=add.name.endswith("_add"),
                   downsampling=tuple(block_input.shape) != tuple(block_output.shape))


def _plain_segments(model, name, block_input, block_output):
    """The layers (conv -> BN -> ReLU units) of a plain block, each deletable when it keeps the shape."""
    convs = sorted(layer.name for layer in model.layers if re.fullmatch(rf"{name}_\d+_conv", layer.name))
    segments, current = [], block_input
    for index, conv in enumerate(convs):
        unit = conv[:-len("_conv")]
        output = block_output if index == len(convs) - 1 else model.get_layer(f"{unit}_relu").output
        same = tuple(current.shape) == tuple(output.shape)
        segments.append(Segment(unit, keras.Model(current, output, name=unit), downsampling=not same,
                                deletable=same))
        current = output
    return segments
