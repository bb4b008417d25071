"""keras-resnet: the residual networks of He et al. (CVPR 2016, ECCV 2016) for Keras 3.

    import keras_resnet
    model = keras_resnet.ResNet50(weights="imagenet")       # keras.applications conventions
    model = keras_resnet.build("resnet110", classes=100)     # any registered name, any option
    keras_resnet.list_models()
    model = keras_resnet.ResNet18(weights="imagenet")       # torchvision's weights, converted exactly
    keras_resnet.list_weights("resnet50")                    # every published weights record of a name
    x = model.preprocess_input(images)                       # the preprocessing of the model's own weights

``import keras_resnet`` loads Keras and every public name, so that the package's layers and models are registered
with Keras before a saved model is loaded. A process started with ``-h``/``--help``, or as the ``keras-resnet``
command, loads them on first use instead (PEP 562): the help prints, and bad arguments are refused, without waiting
for TensorFlow; the command loads them (``load_all``) once its arguments are checked.
"""

import importlib
import importlib.util
import sys

from keras_resnet.support.package_check import check_installation, command_started, help_requested

check_installation()  # before anything else: the Keras 2 package of the same name may have shadowed our modules

__version__ = "0.1.0"

# The module that defines each public name; the constructors (ResNet18 .. ResNet1202, Plain20 .., ResNet50V2 ..)
# come from keras_resnet.applications.constructors, one per registered network.
_MODULES = {
    "applications.backbone": ("Backbone", "stage_outputs"),
    "applications.builder": ("ResNet", "cifar_resnet", "imagenet_resnet"),
    "models.contract": ("InferenceContract", "contract_of"),
    "models.layers": ("TopK", "ZeroPadShortcut"),
    "models.metrics": ("TopKError",),
    "applications.preprocessing": ("decode_predictions", "preprocess_input", "preprocess_input_torch",
                                   "preprocess_input_v2"),
    "applications.registry": ("build", "list_models"),
    "speech": ("WRBN",),
    "models.stats": ("count_flops", "model_stats"),
    "weights.records": ("list_weights", "weights_info"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name):
    if name.startswith("__") and name != "__all__":
        raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"keras_resnet.{_EXPORTS[name]}"), name)
    elif name != "__all__" and importlib.util.find_spec(f"keras_resnet.{name}") is not None:
        value = importlib.import_module(f"keras_resnet.{name}")  # a sub-package: keras_resnet.cli, .models, ...
    else:
        constructors = importlib.import_module("keras_resnet.applications.constructors").CONSTRUCTORS
        if name == "__all__":
            value = sorted(_EXPORTS) + sorted(constructors)
        elif name in constructors:
            value = constructors[name]
        else:
            raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")
    globals()[name] = value
    return value


def load_all():
    """Imports every public name, which registers the package's layers, models and metrics with Keras."""
    for name in __getattr__("__all__"):
        __getattr__(name)


if not (help_requested(sys.argv) or command_started(sys.argv)):
    load_all()
