"""Published weights as data: one frozen record per (architecture, tag).

In the spirit of torchvision's weight enums and timm's pretrained configs, a record says everything needed to
build the architecture the weights were trained for, to fetch and verify the file, to feed it images as its
publisher did, and what it is claimed to score:

- ``imagenet`` for ResNet-50/101/152 and their v2 twins: keras.applications' files (Caffe ports of the models of
  [He16], TF-slim's v2 models of [He16b]), loaded as they are.
- ``imagenet`` for ResNet-18/34 and ``imagenet-v1``/``imagenet-v2`` for ResNet-50/101/152: torchvision's
  IMAGENET1K_V1/V2 checkpoints, converted from PyTorch (``convert.py``).
- ``cifar10`` for ResNet-20 .. 1202: the reference PyTorch re-implementation of [He16] Sec. 4.2 (option A).

``params`` counts trainable parameters (torchvision's and the paper's convention) and ``flops`` multiply-adds at the
record's input size, both as ``stats.model_stats`` counts them on the built model (tests check they agree).
"""

import dataclasses

from keras_resnet.models.spec import cifar_spec, imagenet_spec, parse_name

# keras.applications' files: their origin and MD5 hashes are facts about those files, owned here (a test checks
# them against the copy inside the installed keras while it has one). Name -> (MD5 with classifier, MD5 ``_notop``).
BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
WEIGHTS_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}

# The layout of keras.applications' ResNet50V2 .. 152V2 (TF-slim's resnet_v2): stride on the 3x3 of the last
# block of a stage, biases only on convolutions that no BN follows.
KERAS_V2_LAYOUT = {"preact": True, "stride_on": "3x3", "downsample_at": "last", "use_bias": True}
# keras.applications' ResNet50/101/152 (Caffe ports): a bias before every BN.
KERAS_V1_LAYOUT = {"use_bias": True}
# torchvision's (and timm's) ResNets: "v1.5" stride on the 3x3 of bottlenecks, no biases, PyTorch's BN epsilon.
TORCHVISION_LAYOUT = {"use_bias": False, "stride_on": "3x3", "bn_epsilon": 1e-5}
# The reference CIFAR re-implementation: option A with planes // 4 zero channels on both sides of the input's.
CIFAR_REFERENCE_LAYOUT = {"shortcut": "A", "use_bias": False, "bn_epsilon": 1e-5, "shortcut_pad": "both"}

LAYOUTS = {"keras": None, "torchvision": TORCHVISION_LAYOUT, "cifar-reference": CIFAR_REFERENCE_LAYOUT}


@dataclasses.dataclass(frozen=True)
class EvalTransform:
    """How the publisher evaluates: resize the shorter side to ``resize``, center-crop ``crop`` x ``crop`` (``None``:
    the image as it is), then ``(pixel - mean) / std`` per channel on raw ``[0, 255]`` pixels in ``channel_order``."""

    resize: int | None
    crop: int | None
    interpolation: str
    mean: tuple
    std: tuple
    channel_order: str = "RGB"


# torchvision's Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]) on [0, 1] pixels, in [0, 255] units.
_TORCH_MEAN, _TORCH_STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
CAFFE = EvalTransform(256, 224, "bilinear", (103.939, 116.779, 123.68), (1.0, 1.0, 1.0), "BGR")
TF_SCALE = EvalTransform(256, 224, "bilinear", (127.5, 127.5, 127.5), (127.5, 127.5, 127.5))
TORCHVISION_V1 = EvalTransform(256, 224, "bilinear", _TORCH_MEAN, _TORCH_STD)
TORCHVISION_V2 = EvalTransform(232, 224, "bilinear", _TORCH_MEAN, _TORCH_STD)
CIFAR_REFERENCE = EvalTransform(None, None, "bilinear", _TORCH_MEAN, _TORCH_STD)  # it normalises CIFAR so too


@dataclasses.dataclass(frozen=True)
class WeightRecord:
    """Published weights of one architecture.

    Attributes:
        name, tag: registry name and weights tag (``ResNet50(weights="imagenet-v2")``).
        layout: ``"keras"`` (a Keras weights file), ``"torchvision"`` or ``"cifar-reference"`` (converted).
        architecture: builder options the weights need, as ``(option, value)`` pairs; see ``options``.
        origin, file_name: where the file is published and its name.
        file_hash: full hash checked by ``keras.utils.get_file`` (md5 for keras' files, SHA-256 otherwise), or
            ``None`` where only the prefix in the file name is known.
        sha256_prefix: the SHA-256 prefix the file name carries (torch.hub's convention), checked after download.
        dataset, classes, input_size: what the classifier was trained on and at.
        top1, top5: claimed accuracies in percent (``None``: not published), from ``metrics_source``.
        license: terms of the weights.
        transform: the publisher's evaluation preprocessing.
        params, flops: trainable parameters and multiply-adds at ``input_size``.
    """

    name: str
    tag: str
    layout: str
    architecture: tuple
    origin: str
    file_name: str
    file_hash: str | None
    sha256_prefix: str | None
    dataset: str
    classes: int
    input_size: int
    top1: float
    top5: float | None
    metrics_source: str
    license: str
    transform: EvalTransform
    params: int
    flops: int

    @property
    def options(self):
        """The ``ArchSpec`` fields of ``architecture`` as a dict."""
        return dict(self.architecture)

    @property
    def spec(self):
        """The ``ArchSpec`` these weights were trained with: the paper's network of this name and dataset (ImageNet
        [He16] Table 1, CIFAR Sec. 4.2), with ``options`` (equal to the registry's spec with them: a test checks)."""
        _, depth, preact = parse_name(self.name)
        make = imagenet_spec if self.dataset.startswith("imagenet") else cifar_spec
        return make(depth, **{"preact": preact, **self.options})


RECORDS = {}


def _add(record):
    RECORDS[(record.name, record.tag)] = record


_KERAS_LICENSE = {
    "v1": "MIT (the authors' released Caffe models of [He16]), ported by keras.applications (Apache-2.0)",
    "v2": "Apache-2.0 (keras.applications, from TF-slim's resnet_v2 models)",
}
_KERAS_TOP1 = {"resnet50": 74.9, "resnet101": 76.4, "resnet152": 76.6,
               "resnet50v2": 76.0, "resnet101v2": 77.2, "resnet152v2": 78.0}
# (params, flops) as stats.model_stats counts them at 224x224 (checked by tests/test_weight_records.py).
_KERAS_STATS = {"resnet50": (25583592, 3857973248), "resnet101": (44601832, 7570194432),
                "resnet152": (60268520, 11282415616), "resnet50v2": (25568360, 3482255360),
                "resnet101v2": (44577896, 7194476544), "resnet152v2": (60236904, 10906697728)}
for _name, (_top_hash, _) in WEIGHTS_HASHES.items():
    _v2 = _name.endswith("v2")
    _file = f"{_name}_weights_tf_dim_ordering_tf_kernels.h5"
    _add(WeightRecord(
        _name, "imagenet", "keras", tuple((KERAS_V2_LAYOUT if _v2 else KERAS_V1_LAYOUT).items()),
        f"{BASE_WEIGHTS_PATH}{_file}", _file, _top_hash, None, "imagenet-1k", 1000, 224,
        _KERAS_TOP1.get(_name), None, "keras.applications documentation (single 224 crop)",
        _KERAS_LICENSE["v2" if _v2 else "v1"], TF_SCALE if _v2 else CAFFE, *_KERAS_STATS[_name]))

_TORCHVISION = "https://download.pytorch.org/models/"
_TORCHVISION_LICENSE = ("BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms allow non-commercial "
                        "research and education only")
# name, tag, file, (top-1, top-5), (params, flops): accuracies from torchvision's ResNet*_Weights metadata.
_TORCHVISION_FILES = [
    ("resnet18", "imagenet", "resnet18-f37072fd.pth", (69.758, 89.078), (11689512, 1814073344)),
    ("resnet34", "imagenet", "resnet34-b627a593.pth", (73.314, 91.420), (21797672, 3663761408)),
    ("resnet50", "imagenet-v1", "resnet50-0676ba61.pth", (76.130, 92.862), (25557032, 4089184256)),
    ("resnet50", "imagenet-v2", "resnet50-11ad3fa6.pth", (80.858, 95.434), (25557032, 4089184256)),
    ("resnet101", "imagenet-v1", "resnet101-63fe2227.pth", (77.374, 93.546), (44549160, 7801405440)),
    ("resnet101", "imagenet-v2", "resnet101-cd907fc2.pth", (81.886, 95.780), (44549160, 7801405440)),
    ("resnet152", "imagenet-v1", "resnet152-394f9c45.pth", (78.312, 94.046), (60192808, 11513626624)),
    ("resnet152", "imagenet-v2", "resnet152-f82ba261.pth", (82.284, 96.002), (60192808, 11513626624)),
]
for _name, _tag, _file, (_top1, _top5), _stats in _TORCHVISION_FILES:
    _v2 = _tag == "imagenet-v2"
    # Only the SHA-256 prefix in the file name is known here (torch.hub checks the same prefix).
    _add(WeightRecord(
        _name, _tag, "torchvision", tuple(TORCHVISION_LAYOUT.items()), _TORCHVISION + _file, _file, None,
        _file.rsplit("-", 1)[1].split(".")[0], "imagenet-1k", 1000, 224, _top1, _top5,
        f"torchvision {_name.replace('resnet', 'ResNet')}_Weights.IMAGENET1K_{'V2' if _v2 else 'V1'} metadata",
        _TORCHVISION_LICENSE, TORCHVISION_V2 if _v2 else TORCHVISION_V1, *_stats))

_CIFAR_ORIGIN = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
# depth: (file, full SHA-256 or None, test error %, (params, flops)). The full hashes were computed from the files
# in the repository (commit d5489e8); ResNet-110's and -1202's files were not at hand, so only their prefix is
# recorded. Test errors: the repository's README.
_CIFAR_FILES = {
    20: ("resnet20-12fca82f.th", "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8", 8.27,
         (269722, 40551040)),
    32: ("resnet32-d509ac18.th", "d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850", 7.37,
         (464154, 68862592)),
    44: ("resnet44-014dd654.th", "014dd6541728a1c700b1642ab640e211dc6eb8ed507d70697458dc8f8a0ae2e4", 6.90,
         (658586, 97174144)),
    56: ("resnet56-4bfd9763.th", "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367", 6.61,
         (853018, 125485696)),
    110: ("resnet110-1d1ed7c2.th", None, 6.32, (1727962, 252887680)),
    1202: ("resnet1202-f3b1deed.th", None, 6.18, (19421274, 2829238912)),
}
for _depth, (_file, _sha256, _error, _stats) in _CIFAR_FILES.items():
    _add(WeightRecord(
        f"resnet{_depth}", "cifar10", "cifar-reference", tuple(CIFAR_REFERENCE_LAYOUT.items()),
        _CIFAR_ORIGIN + _file, _file, _sha256, _file.rsplit("-", 1)[1].split(".")[0], "cifar10", 10, 32,
        round(100 - _error, 2), None, "akamaster/pytorch_resnet_cifar10 README (test error)",
        "BSD-2-Clause (akamaster/pytorch_resnet_cifar10)", CIFAR_REFERENCE, *_stats))


def find(name, tag):
    """The record of ``name`` (registry name) tagged ``tag``, or ``None``."""
    if not isinstance(tag, str) or not isinstance(name, str):
        return None
    return RECORDS.get((name.lower(), tag))


def tags(name):
    """The weights tags of ``name``, e.g. ``["imagenet", "imagenet-v1", "imagenet-v2"]`` for ``resnet50``."""
    return sorted(tag for record_name, tag in RECORDS if record_name == str(name).lower())


def weights_info(name, tag):
    """The ``WeightRecord`` of ``name`` tagged ``tag``; a ValueError naming the existing tags otherwise."""
    record = find(name, tag)
    if record is None:
        known = tags(name)
        raise ValueError(f"No published weights tagged {tag!r} for {name!r}; "
                         + (f"its tags are {', '.join(map(repr, known))}." if known else
                            "it has none (keras_resnet.list_weights() lists every record)."))
    return record


def list_weights(name=None):
    """Every record (of ``name`` only, when given), by name and tag."""
    return [RECORDS[key] for key in sorted(RECORDS) if name is None or key[0] == str(name).lower()]
