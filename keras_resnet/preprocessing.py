"""ImageNet input preprocessing and prediction decoding, as keras.applications does them.

The v1 weights ([He16], converted from Caffe) expect ``"caffe"`` preprocessing: RGB -> BGR and the ImageNet mean
``[103.939, 116.779, 123.68]`` subtracted; the v2 weights expect ``"tf"``: pixels scaled to ``[-1, 1]``;
torchvision's (ResNet-18/34 ``"imagenet"``) expect ``"torch"``: ``[0, 1]``, then ImageNet mean and std. The named
constructors carry theirs: ``keras_resnet.ResNet50.preprocess_input``.
"""

from keras.applications import imagenet_utils
from keras.applications import resnet as _resnet_v1
from keras.applications import resnet_v2 as _resnet_v2


def preprocess_input(x, data_format=None):
    """Caffe-style preprocessing of the v1 ImageNet weights. ``(batch, H, W, 3)`` RGB in [0, 255] -> same shape."""
    return _resnet_v1.preprocess_input(x, data_format=data_format)


def preprocess_input_v2(x, data_format=None):
    """Preprocessing of the v2 ImageNet weights: ``[0, 255] -> [-1, 1]``, same shape."""
    return _resnet_v2.preprocess_input(x, data_format=data_format)


def preprocess_input_torch(x, data_format=None):
    """Preprocessing of torchvision's weights: ``[0, 255] -> [0, 1]``, then ImageNet mean/std per RGB channel."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


def decode_predictions(preds, top=5):
    """``(batch, 1000)`` probabilities -> per image, the ``top`` ``(class id, name, score)`` tuples."""
    return imagenet_utils.decode_predictions(preds, top=top)


PREPROCESSING = {"caffe": preprocess_input, "tf": preprocess_input_v2, "torch": preprocess_input_torch}
