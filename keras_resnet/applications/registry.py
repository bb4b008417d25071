"""The registry: every named network as an ``ArchSpec``, and ``build(name, **options)``.

Names follow the grammar of ``spec`` and are lowercase: ``resnet20`` .. ``resnet1202`` and ``plain20`` .. (CIFAR,
[He16] Sec. 4.2), ``resnet164v2`` and ``resnet1001v2`` (CIFAR pre-activation bottlenecks, [He16b]), ``resnet18`` ..
``resnet200`` and ``plain18`` .. (ImageNet, [He16] Table 1), ``resnet50v2`` .. (pre-activation, the layout of
keras.applications' v2 weights). Any other CIFAR depth works by name too (``build("resnet86")``,
``build("plain38")``).
"""

import difflib

from keras_resnet.weights import records as weight_records
from keras_resnet.models.architectures import CIFAR_BOTTLENECK_DEPTHS, CIFAR_DEPTHS, IMAGENET_DEPTHS
from keras_resnet.applications.builder import ResNet
from keras_resnet.models.spec import cifar_spec, field_names, imagenet_spec, parse_name  # noqa: F401  (public here too)

REGISTRY = {}


def register(spec):
    """Adds ``spec`` to the registry under ``spec.name``; returns the name."""
    REGISTRY[spec.name] = spec
    return spec.name


for _depth in CIFAR_DEPTHS:
    register(cifar_spec(_depth))
    register(cifar_spec(_depth, shortcut="none"))
    register(cifar_spec(_depth, preact=True))
for _depth in CIFAR_BOTTLENECK_DEPTHS:
    register(cifar_spec(_depth, "bottleneck", preact=True, shortcut="B"))
for _depth in IMAGENET_DEPTHS:
    # The architecture of the published "imagenet" weights where there are some (keras.applications' Caffe ports
    # carry conv biases), the paper's otherwise.
    _record = weight_records.find(f"resnet{_depth}", "imagenet")
    _published = _record.options if _record is not None and _record.layout == "keras" else {}
    register(imagenet_spec(_depth, **_published))
    register(imagenet_spec(_depth, shortcut="none"))
    register(imagenet_spec(_depth, **weight_records.KERAS_V2_LAYOUT))


def list_models():
    """Every registered name, CIFAR first, by depth."""
    return sorted(REGISTRY, key=lambda name: (REGISTRY[name].family != "cifar", REGISTRY[name].depth, name))


def _unknown(name, reason=""):
    close = difflib.get_close_matches(str(name).lower(), list_models(), n=4, cutoff=0.6)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return ValueError(f"Unknown architecture {name!r}.{reason}{hint} keras_resnet.list_models() lists every name.")


def spec(name, block=None):
    """The ``ArchSpec`` of a registered name, or of a CIFAR depth spelled as a name (``"resnet86"``,
    ``"plain38v2"``); ``block`` rebuilds a CIFAR name with the other block (``9n+2`` bottleneck depths)."""
    parsed = parse_name(name)
    if parsed is None:
        raise _unknown(name)
    key = name.lower()
    kind, depth, preact = parsed
    if key in REGISTRY and block in (None, REGISTRY[key].block):
        return REGISTRY[key]
    if key in REGISTRY and REGISTRY[key].family == "imagenet":
        raise ValueError(f"ImageNet ResNet-{depth} is built of {REGISTRY[key].block} blocks ([He16] Table 1), "
                         f"got block={block!r}")
    options = {"preact": preact} | ({"shortcut": "none"} if kind == "plain" else {})
    try:
        return cifar_spec(depth, block or "basic", **options)
    except ValueError as error:
        raise _unknown(name, f" {error}") if key not in REGISTRY else error


def build(name, /, **options):
    """Builds the network registered as ``name``; ``options`` are ``ArchSpec`` fields (``shortcut``, ``preact``,
    ``stride_on``, ``width``, ...) and ``builder.ResNet`` keywords (``include_top``, ``weights``, ``classes``...).

    ``name`` is positional so that ``name=`` can name the model, as in keras.applications. A weights tag
    (``weights="imagenet-v2"``) brings the architecture its weights were trained with (torchvision's "v1.5" stride,
    BN epsilon 1e-5, ...); ``include_preprocessing=True`` then puts their normalisation in the model.

    Example: ``build("resnet56", shortcut="B", classes=100)``, ``build("resnet50", stride_on="3x3")`` (v1.5),
    ``build("plain34", input_shape=(160, 160, 3), include_top=False, pooling="avg")``.

    Returns:
        ``ResNetModel``; see ``builder.ResNet`` for shapes.
    """
    architecture = {key: options.pop(key) for key in list(options) if key in field_names()}
    if architecture.get("shortcut", "") is None:  # None means the default, as in ResNet()
        del architecture["shortcut"]
    base = spec(name, architecture.pop("block", None))
    record = weight_records.find(base.name, options.get("weights"))
    if record is not None:
        base = base.replace(**record.options)
    options.setdefault("name", name.lower())
    return ResNet(base.replace(**architecture), **options)
