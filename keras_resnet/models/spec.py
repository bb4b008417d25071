"""``ArchSpec``: everything that makes a residual or plain network what it is, in one frozen value.

The registry maps names to specs, ``builder.ResNet(spec, ...)`` builds them, weight records name the spec their
weights need, training and tuning read and write specs, and every built model carries its spec in its config
(``ResNetModel.spec``), so analysis and export read the architecture instead of parsing names or layers.

The model-name grammar lives here and only here: ``resnet56`` (residual), ``plain20`` (no shortcuts),
``resnet110v2`` (pre-activation, [He16b]); ``ArchSpec.name`` writes it, ``parse_name`` reads it.

Adding an architecture option is a field here (with its check) and its use in the builder.
"""

import dataclasses
import re

from keras_resnet.models.architectures import BLOCKS, FAMILIES, LAYERS_PER_BLOCK, cifar_layout, imagenet_layout
from keras_resnet.models.layers import ZeroPadShortcut
from keras_resnet.support.validation import check_positive_int

SHORTCUTS = ("A", "B", "C", "none")
STRIDE_ON = ("1x1", "3x3")
DOWNSAMPLE_AT = ("first", "last")
SHORTCUT_PADS = ZeroPadShortcut.PADS
NAME = re.compile(r"^(resnet|plain)(\d+)(v2)?$")


def normalize_shortcut(shortcut):
    """``"a"``/``"A"`` -> ``"A"``; ``"none"``/``"plain"`` -> ``"none"``; anything else is an error."""
    if isinstance(shortcut, str) and shortcut.lower() in ("none", "plain"):
        return "none"
    if isinstance(shortcut, str) and shortcut.upper() in ("A", "B", "C"):
        return shortcut.upper()
    raise ValueError(f"shortcut must be 'A', 'B' or 'C' ([He16] Sec. 4.1), or 'none' for a plain network, "
                     f"got {shortcut!r}")


def _choice(value, allowed, what):
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class ArchSpec:
    """One network architecture of [He16] / [He16b] and its variants.

    Attributes:
        family: ``"imagenet"`` ([He16] Table 1: 7x7 stem, 4 stages) or ``"cifar"`` ([He16] Sec. 4.2: 3x3 stem,
            3 stages of 16/32/64 filters); see ``architectures.FAMILIES``.
        block: ``"basic"`` (two 3x3) or ``"bottleneck"`` (1x1-3x3-1x1, [He16] Fig. 5).
        blocks: blocks per stage, e.g. ``(3, 4, 6, 3)``.
        shortcut: ``"A"``, ``"B"``, ``"C"`` ([He16] Sec. 4.1) or ``"none"`` (the plain twin).
        preact: pre-activation blocks ([He16b]).
        stride_on: ``"1x1"`` (the paper) or ``"3x3"`` ("v1.5") carries the stride of a bottleneck.
        downsample_at: ``"first"`` (the paper) or ``"last"`` block of a stage takes its stride.
        width: widening factor of every stage (1: the paper's widths).
        use_bias: convolutions carry biases (as keras.applications' published ResNet-50/101/152 weights).
        bn_momentum: BN moving-statistics momentum, Keras convention. 0.9 matches the Torch/Caffe models of the
            paper and keeps the moving statistics current in short runs; Keras' default 0.99 lags badly there.
        bn_epsilon: BN epsilon: 1.001e-5 (keras.applications), 1e-5 (PyTorch, and so converted weights).
        shortcut_pad: where option-A shortcuts put their zero channels: ``"after"`` the input's, or on ``"both"``
            sides (the reference CIFAR re-implementation's layout).
    """

    family: str
    block: str
    blocks: tuple
    shortcut: str
    preact: bool = False
    stride_on: str = "1x1"
    downsample_at: str = "first"
    width: int = 1
    use_bias: bool = False
    bn_momentum: float = 0.9
    bn_epsilon: float = 1.001e-5
    shortcut_pad: str = "after"

    def __post_init__(self):
        _choice(self.family, tuple(FAMILIES), "family")
        _choice(self.block, BLOCKS, "block")
        object.__setattr__(self, "blocks", tuple(self.blocks))
        object.__setattr__(self, "shortcut", normalize_shortcut(self.shortcut))
        stages = len(FAMILIES[self.family].widths)
        if len(self.blocks) != stages or any(not isinstance(n, int) or isinstance(n, bool) or n < 1
                                             for n in self.blocks):
            raise ValueError(f"blocks must list {stages} positive block counts for {self.family} networks, "
                             f"got {self.blocks}")
        _choice(self.stride_on, STRIDE_ON, "stride_on")
        _choice(self.downsample_at, DOWNSAMPLE_AT, "downsample_at")
        _choice(self.shortcut_pad, SHORTCUT_PADS, "shortcut_pad")
        _choice(self.preact, (False, True), "preact")
        _choice(self.use_bias, (False, True), "use_bias")
        check_positive_int(self.width, "width (the widening factor)")
        if isinstance(self.bn_momentum, bool) or not isinstance(self.bn_momentum, (int, float)) \
                or not 0 <= self.bn_momentum < 1:
            raise ValueError(f"bn_momentum must be in [0, 1), got {self.bn_momentum!r}")
        if isinstance(self.bn_epsilon, bool) or not isinstance(self.bn_epsilon, (int, float)) or self.bn_epsilon <= 0:
            raise ValueError(f"bn_epsilon must be a positive number, got {self.bn_epsilon!r}")

    @property
    def depth(self):
        """Weighted layers on the longest path: stem conv + the blocks' convs + the classifier ([He16])."""
        return LAYERS_PER_BLOCK[self.block] * sum(self.blocks) + 2

    @property
    def name(self):
        """The network's name in the grammar of this module: ``resnet56``, ``plain20``, ``resnet110v2``."""
        return f"{'plain' if self.shortcut == 'none' else 'resnet'}{self.depth}{'v2' if self.preact else ''}"

    @property
    def residual(self):
        return self.shortcut != "none"

    @property
    def stage_names(self):
        """``["conv2", "conv3", ...]``: the stages, named as [He16] Table 1."""
        return [f"conv{index + 2}" for index in range(len(self.blocks))]

    @property
    def block_names(self):
        """Every block in order, ``["conv2_block1", ..., "conv5_block3"]``: the boundaries of the network's
        segments (a block's output layer is ``{block}_out``)."""
        return [f"{stage}_block{index + 1}" for stage, count in zip(self.stage_names, self.blocks)
                for index in range(count)]

    def replace(self, **changes):
        """A copy with ``changes`` (checked); unknown options are an error naming the known ones."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise ValueError(f"Unknown architecture option(s) {', '.join(unknown)}: the options are "
                             f"{', '.join(field_names())}.")
        return dataclasses.replace(self, **changes)

    def to_config(self):
        """A JSON-able dict (``from_config`` reads it back)."""
        config = dataclasses.asdict(self)
        config["blocks"] = list(self.blocks)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def field_names():
    """The architecture options, in declaration order."""
    return [field.name for field in dataclasses.fields(ArchSpec)]


def parse_name(name):
    """``"resnet110v2"`` -> ``("resnet", 110, True)``: kind, depth and pre-activation; ``None`` if it is not a name
    of the grammar."""
    match = NAME.match(name.lower()) if isinstance(name, str) else None
    if match is None:
        return None
    kind, depth, v2 = match.groups()
    return kind, int(depth), bool(v2)


def constructor_name(name):
    """``"resnet50v2"`` -> ``"ResNet50V2"``, ``"plain20"`` -> ``"Plain20"``: the keras.applications-style name."""
    kind, depth, v2 = parse_name(name)
    return f"{'Plain' if kind == 'plain' else 'ResNet'}{depth}{'V2' if v2 else ''}"


def cifar_spec(depth, block="basic", **options):
    """The ``ArchSpec`` of the CIFAR network of ``depth`` ([He16] Sec. 4.2); ``options`` are ``ArchSpec`` fields."""
    block, blocks = cifar_layout(depth, block)
    return ArchSpec("cifar", block, blocks, **{"shortcut": FAMILIES["cifar"].shortcut, **options})


def imagenet_spec(depth, **options):
    """The ``ArchSpec`` of the ImageNet network of ``depth`` ([He16] Table 1); ``options`` are ``ArchSpec`` fields."""
    block, blocks = imagenet_layout(depth)
    return ArchSpec("imagenet", block, blocks, **{"shortcut": FAMILIES["imagenet"].shortcut, **options})
