"""Exact conversion of PyTorch ResNet checkpoints to our models.

Two layouts of parameter names are understood:

- torchvision / timm ImageNet ResNets ([He16] Table 1): ``conv1``, ``bn1``, ``layer{1..4}.{b}.conv{1..3}`` /
  ``bn{1..3}``, ``layer{s}.0.downsample.0`` (1x1 projection) / ``downsample.1`` (its BN), ``fc``. They put the
  bottleneck's stride on the 3x3 ("v1.5"), have no convolution biases and use BN epsilon 1e-5
  (``weight_records.TORCHVISION_LAYOUT``).
- the reference CIFAR re-implementation of [He16] Sec. 4.2: ``conv1``, ``bn1``, ``layer{1..3}.{b}.conv{1,2}`` /
  ``bn{1,2}``, ``linear``; option A pads ``planes // 4`` zero channels on both sides of the subsampled input
  (``weight_records.CIFAR_REFERENCE_LAYOUT``); with option B, ``shortcut.0`` / ``shortcut.1`` are the projection.

Both pad convolutions symmetrically, as our strided convolutions do, so the converted model computes the same
function: kernels go from PyTorch's ``(out, in, kh, kw)`` to Keras' ``(kh, kw, in, out)``, the fully connected weight
is transposed, BN's ``weight``/``bias``/``running_mean``/``running_var`` become gamma/beta/moving mean/variance.
"""

import os

import numpy as np

from keras_resnet.models import contract as contract_lib
from keras_resnet.support import files
from keras_resnet.applications import registry
from keras_resnet.weights import records as weight_records
from keras_resnet.weights.checkpoints import read_state_dict
from keras_resnet.weights.torch_layout import layout_options, load_state_dict, state_classes  # noqa: F401  (public here too)


def convert(state_dict_or_path, model_name, **options):
    """Builds ``model_name`` with the checkpoint's architecture and copies the checkpoint's weights into it.

    Args:
        state_dict_or_path: a checkpoint file (``.pth``/``.pt``/``.th`` in torch's zip or legacy format, or
            ``.safetensors``; read without torch and without running code from it) or a ``{name: array}`` dict.
        model_name: registry name: ``resnet18`` .. ``resnet152`` for torchvision/timm checkpoints, ``resnet20`` ..
            ``resnet1202`` for the CIFAR reference's.
        **options: ``registry.build`` options that do not change the architecture (``include_top``,
            ``input_shape``, ``pooling``, ``classifier_activation``, ``name``...). ``classes`` defaults to the
            checkpoint's. ``weights_tag``: the published weights the checkpoint is (``"imagenet-v2"``: see
            ``weight_records``); the model records it (``ResNetModel.weights_tag``) so that evaluation, export and
            prediction feed it images as its publisher did.

    Returns:
        ``keras.Model`` computing the PyTorch network's function: ``(batch, H, W, 3)`` -> ``(batch, classes)``
        (logits with ``classifier_activation=None``). Inputs are preprocessed as the checkpoint's publisher did
        (``weight_records`` has their transforms).
    """
    if isinstance(state_dict_or_path, (str, os.PathLike)):
        state = read_state_dict(state_dict_or_path)
    elif isinstance(state_dict_or_path, dict):
        state = {key: np.asarray(value) for key, value in state_dict_or_path.items()}
    else:
        raise ValueError(f"convert takes a checkpoint path or a state dict, got {type(state_dict_or_path).__name__}")
    base = registry.spec(model_name)
    if base.preact or not base.residual:
        raise ValueError(f"{model_name!r} has no PyTorch layout to convert from: checkpoints convert to the "
                         "post-activation ResNets (resnet18 .. resnet152 for torchvision/timm, resnet20 .. resnet1202 "
                         "for the CIFAR reference)")
    family = base.family
    layout = layout_options(family, state)
    weights_tag = options.pop("weights_tag", None)
    record = None
    if weights_tag is not None:
        record = weight_records.weights_info(model_name, weights_tag)
        if record.spec != base.replace(**layout):
            raise ValueError(f"The {weights_tag} weights of {model_name!r} are not in this checkpoint's layout "
                             f"({record.layout} weights): leave out the weights tag or pass the right one.")
    conflicts = sorted(key for key, value in options.items() if key in layout and value != layout[key])
    if conflicts:
        raise ValueError(f"The checkpoint's architecture fixes {', '.join(f'{k}={layout[k]!r}' for k in conflicts)}; "
                         "remove these options to convert it exactly.")
    classes = state_classes(state, family)
    if options.get("include_top", True) and "classes" not in options and classes is not None:
        options["classes"] = classes
    options.setdefault("weights", None)
    model = registry.build(model_name, **{**layout, **options})
    load_state_dict(model, state, family)
    if record is not None:
        model.weights_tag = record.tag
    # The checkpoint's publisher's view and normalisation: its record's; without a tag, the paper's view with the
    # normalisation of both layouts (torchvision/timm ResNets and the CIFAR reference use ImageNet's mean and std).
    if record is not None:
        model.contract = contract_lib.for_record(record, model.contract.input_size, model.contract.data_format)
    else:
        model.contract = model.contract.with_normalization("torch")
    return model


def convert_checkpoint(path, model_name, output_path, **options):
    """Converts a checkpoint file and saves the result: a whole model (``.keras``) or its weights (``.weights.h5``).

    ``options`` are those of ``convert`` (``weights_tag`` included). The file is written atomically
    (``files.atomic_path``: a temporary file in the same folder, then renamed); a folder that cannot take it is
    refused before converting. Returns ``output_path``.
    """
    output_path = os.fspath(output_path)
    if not output_path.endswith((".weights.h5", ".keras")):
        raise ValueError(f"The output must end in .keras (whole model) or .weights.h5 (weights), got {output_path!r}")
    if os.path.isdir(output_path):
        raise ValueError(f"The output {output_path!r} is a folder: pass a file name ending in .keras or .weights.h5.")
    files.check_writable_folder(os.path.dirname(output_path) or os.curdir, "--output folder")  # before converting
    model = convert(path, model_name, **options)
    with files.atomic_path(output_path) as temporary:
        (model.save if output_path.endswith(".keras") else model.save_weights)(temporary)
    return output_path
