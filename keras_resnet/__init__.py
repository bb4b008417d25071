"""keras-resnet: the residual networks of He et al. (CVPR 2016, ECCV 2016) for Keras 3.

    import keras_resnet
    model = keras_resnet.ResNet50(weights="imagenet")       # keras.applications conventions
    model = keras_resnet.build("resnet110", classes=100)     # any registered name, any option
    keras_resnet.list_models()
    model = keras_resnet.ResNet18(weights="imagenet")       # torchvision's weights, converted exactly
    keras_resnet.list_weights("resnet50")                    # every published weights record of a name
"""

from keras_resnet.package_check import check_installation

check_installation()  # before anything else: the Keras 2 package of the same name may have shadowed our modules

from keras_resnet.applications import *  # noqa: F401,F403  (ResNet18 .. ResNet1202, Plain20 .., ResNet50V2 ..)
from keras_resnet.applications import CONSTRUCTORS
from keras_resnet.backbone import Backbone, stage_outputs
from keras_resnet.builder import ResNet, cifar_resnet, imagenet_resnet
from keras_resnet.layers import ZeroPadShortcut
from keras_resnet.metrics import TopKError
from keras_resnet.preprocessing import (decode_predictions, preprocess_input, preprocess_input_torch,
                                        preprocess_input_v2)
from keras_resnet.registry import build, list_models
from keras_resnet.speech import WRBN
from keras_resnet.stats import count_flops, model_stats
from keras_resnet.weight_records import list_weights, weights_info

__version__ = "0.1.0"
__all__ = ["Backbone", "ResNet", "TopKError", "WRBN", "ZeroPadShortcut", "build", "cifar_resnet", "count_flops",
           "decode_predictions", "imagenet_resnet", "list_models", "list_weights", "model_stats", "preprocess_input",
           "preprocess_input_torch", "preprocess_input_v2", "stage_outputs", "weights_info", *sorted(CONSTRUCTORS)]
