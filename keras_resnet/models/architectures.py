"""The networks of the papers as data: stage layouts and depth tables.

[He16] Table 1 (ImageNet) and Sec. 4.2 (CIFAR), [He16b] (pre-activation, CIFAR bottlenecks ResNet-164/1001).
Adding a network is one line here; ``builder.py`` turns a layout into a model.
"""

import dataclasses

@dataclasses.dataclass(frozen=True)
class Family:
    """What a whole family of networks shares.

    Attributes:
        name: ``"imagenet"`` or ``"cifar"``.
        stem: ``"imagenet"`` (7x7/2 conv, 64 filters, 3x3/2 max pool) or ``"cifar"`` (3x3 conv, 16 filters).
        widths: filters per stage (bottleneck width for bottleneck blocks).
        strides: stride of each stage.
        input_size: default input side (224 or 32).
        classes: default number of classes.
        shortcut: the paper's default shortcut option.
    """

    name: str
    stem: str
    widths: tuple
    strides: tuple
    input_size: int
    classes: int
    shortcut: str

    @property
    def total_stride(self):
        """Downsampling from input to the last stage: the smallest input side the family takes."""
        stride = 4 if self.stem == "imagenet" else 1
        for s in self.strides:
            stride *= s
        return stride


IMAGENET = Family("imagenet", "imagenet", (64, 128, 256, 512), (1, 2, 2, 2), 224, 1000, "B")
CIFAR = Family("cifar", "cifar", (16, 32, 64), (1, 2, 2), 32, 10, "A")
FAMILIES = {family.name: family for family in (IMAGENET, CIFAR)}

# [He16] Table 1 (and ResNet-200 of [He16b]): depth -> (block, blocks per stage).
IMAGENET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    200: ("bottleneck", (3, 24, 36, 3)),
}

# Weighted layers per block: CIFAR depth = LAYERS_PER_BLOCK * blocks * 3 + 2 (6n+2 basic, 9n+2 bottleneck).
LAYERS_PER_BLOCK = {"basic": 2, "bottleneck": 3}
BLOCKS = tuple(LAYERS_PER_BLOCK)

# Depths named in [He16] Sec. 4.2 (Table 6) and [He16b] Table 3.
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)
CIFAR_BOTTLENECK_DEPTHS = (164, 1001)


def imagenet_layout(depth):
    """``(block, blocks per stage)`` of the ImageNet ResNet of ``depth`` layers ([He16] Table 1)."""
    if depth not in IMAGENET_DEPTHS:
        raise ValueError(f"ImageNet ResNets are defined for depths {sorted(IMAGENET_DEPTHS)}, got {depth}; "
                         "for other depths use cifar_resnet(depth) or add a row to IMAGENET_DEPTHS.")
    return IMAGENET_DEPTHS[depth]


def cifar_layout(depth, block="basic"):
    """``(block, blocks per stage)`` of the CIFAR ResNet of ``depth`` layers ([He16] Sec. 4.2, [He16b]).

    Three stages of ``n`` blocks each: ``depth = 6n + 2`` with basic blocks, ``9n + 2`` with bottlenecks.
    """
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
    per_stage = LAYERS_PER_BLOCK[block] * len(CIFAR.widths)
    if not isinstance(depth, int) or depth < per_stage + 2 or (depth - 2) % per_stage:
        rule = "6n+2" if block == "basic" else "9n+2"
        raise ValueError(f"depth must be {rule} for CIFAR ResNets with {block} blocks, got {depth} "
                         f"(e.g. {per_stage * 3 + 2}, {per_stage * 9 + 2}).")
    return block, ((depth - 2) // per_stage,) * len(CIFAR.widths)
