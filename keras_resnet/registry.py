"""The registry: every named network as a configuration, and ``build(name, **options)``.

Names are lowercase: ``resnet20`` .. ``resnet1202`` and ``plain20`` .. (CIFAR, [He16] Sec. 4.2), ``resnet164v2`` and
``resnet1001v2`` (CIFAR pre-activation bottlenecks, [He16b]), ``resnet18`` .. ``resnet200`` and ``plain18`` ..
(ImageNet, [He16] Table 1), ``resnet50v2`` .. (pre-activation, the layout of keras.applications' v2 weights).
Any other CIFAR depth works by name too (``build("resnet86")``, ``build("plain38")``).
"""

import dataclasses
import difflib
import re

from keras_resnet.architectures import (CIFAR_BOTTLENECK_DEPTHS, CIFAR_DEPTHS, FAMILIES, IMAGENET_DEPTHS,
                                        cifar_layout, imagenet_layout)
from keras_resnet.builder import ResNet, normalize_shortcut
from keras_resnet.weights import WEIGHTS_HASHES

# Options that change the architecture (as opposed to its head, input or training conventions).
ARCHITECTURE_DEFAULTS = {"block": None, "shortcut": None, "preact": False, "stride_on": "1x1",
                         "downsample_at": "first", "use_bias": False, "width": 1}
# The layout of keras.applications' ResNet50V2 .. 152V2 (TF-slim's resnet_v2): stride on the 3x3 of the last
# block of a stage, biases only on convolutions that no BN follows.
KERAS_V2_LAYOUT = {"preact": True, "stride_on": "3x3", "downsample_at": "last", "use_bias": True}


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered network: its family, depth and the options that make it what it is."""

    family: str
    depth: int
    options: dict

    def layout(self, block=None):
        block = block or self.options.get("block")
        if self.family == "imagenet":
            layout = imagenet_layout(self.depth)
            if block not in (None, layout[0]):
                raise ValueError(f"ImageNet ResNet-{self.depth} is built of {layout[0]} blocks ([He16] Table 1), "
                                 f"got block={block!r}")
            return layout
        return cifar_layout(self.depth, block or "basic")

    def default(self, option):
        if option in self.options:
            return self.options[option]
        if option == "shortcut":
            return FAMILIES[self.family].shortcut
        if option == "block":  # the paper's block: Table 1 for ImageNet, basic for CIFAR ([He16] Sec. 4.2)
            return imagenet_layout(self.depth)[0] if self.family == "imagenet" else "basic"
        return ARCHITECTURE_DEFAULTS[option]


REGISTRY = {}


def register(name, family, depth, **options):
    """Adds ``name`` to the registry; ``options`` are ``ResNet`` keywords (shortcut, preact, ...)."""
    REGISTRY[name] = Entry(family, depth, options)


for _depth in CIFAR_DEPTHS:
    register(f"resnet{_depth}", "cifar", _depth)
    register(f"plain{_depth}", "cifar", _depth, shortcut="none")
    register(f"resnet{_depth}v2", "cifar", _depth, preact=True)
for _depth in CIFAR_BOTTLENECK_DEPTHS:
    register(f"resnet{_depth}v2", "cifar", _depth, block="bottleneck", preact=True, shortcut="B")
for _depth in IMAGENET_DEPTHS:
    # Biases before BN only where published weights need them (keras.applications' ResNet50/101/152).
    register(f"resnet{_depth}", "imagenet", _depth, use_bias=f"resnet{_depth}" in WEIGHTS_HASHES)
    register(f"plain{_depth}", "imagenet", _depth, shortcut="none")
    register(f"resnet{_depth}v2", "imagenet", _depth, **KERAS_V2_LAYOUT)

_DYNAMIC_NAME = re.compile(r"^(resnet|plain)(\d+)(v2)?$")


def list_models():
    """Every registered name, CIFAR first, by depth."""
    return sorted(REGISTRY, key=lambda name: (REGISTRY[name].family != "cifar", REGISTRY[name].depth, name))


def _unknown(name, reason=""):
    close = difflib.get_close_matches(str(name).lower(), list_models(), n=4, cutoff=0.6)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return ValueError(f"Unknown architecture {name!r}.{reason}{hint} keras_resnet.list_models() lists every name.")


def resolve(name):
    """The ``Entry`` for a registered name or a CIFAR depth spelled as a name (``"resnet86"``, ``"plain38v2"``)."""
    if not isinstance(name, str):
        raise _unknown(name)
    key = name.lower()
    if key in REGISTRY:
        return REGISTRY[key]
    match = _DYNAMIC_NAME.match(key)
    if not match:
        raise _unknown(name)
    kind, depth, v2 = match.groups()
    options = {"shortcut": "none"} if kind == "plain" else {}
    if v2:
        options["preact"] = True
    return Entry("cifar", int(depth), options)


def build(name, /, **options):
    """Builds the network registered as ``name``; ``options`` are ``builder.ResNet`` keywords.

    ``name`` is positional so that ``name=`` can name the model, as in keras.applications.

    Example: ``build("resnet56", shortcut="B", classes=100)``, ``build("resnet50", stride_on="3x3")`` (v1.5),
    ``build("plain34", input_shape=(160, 160, 3), include_top=False, pooling="avg")``.

    Returns:
        ``keras.Model``; see ``builder.ResNet`` for shapes.
    """
    entry = resolve(name)
    if "shortcut" in options and options["shortcut"] is None:  # None means the default, as in ResNet()
        del options["shortcut"]
    try:
        block, blocks = entry.layout(options.get("block"))
    except ValueError as error:
        raise _unknown(name, f" {error}") if name.lower() not in REGISTRY else error
    if "shortcut" in options:
        options["shortcut"] = normalize_shortcut(options["shortcut"])
    custom = sorted(option for option, value in options.items()
                    if option in ARCHITECTURE_DEFAULTS and value != entry.default(option)
                    and not (option == "shortcut" and value == normalize_shortcut(entry.default(option))))
    merged = {key: value for key, value in entry.options.items() if key != "block"}
    merged.update({key: value for key, value in options.items() if key != "block"})
    merged.setdefault("name", name.lower())
    return ResNet(entry.family, block, blocks, weights_name=name.lower(), custom_options=tuple(custom), **merged)
