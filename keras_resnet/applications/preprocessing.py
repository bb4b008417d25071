"""ImageNet input preprocessing and prediction decoding, as keras.applications does them.

The v1 weights ([He16], converted from Caffe) expect ``"caffe"`` preprocessing: RGB -> BGR and the ImageNet mean
``[103.939, 116.779, 123.68]`` subtracted; the v2 weights expect ``"tf"``: pixels scaled to ``[-1, 1]``;
torchvision's (ResNet-18/34 ``"imagenet"``, every ResNet's ``"imagenet-v1"``/``"imagenet-v2"``) expect ``"torch"``:
``[0, 1]``, then ImageNet mean and std. The preprocessing that cannot go wrong is the model's own,
``model.preprocess_input(images)`` (from the inference contract it carries); ``preprocess_input(images,
weights="imagenet-v2")`` gives a weights tag's. The named constructors carry their ``weights="imagenet"`` default's:
``keras_resnet.ResNet50.preprocess_input``.
"""

import keras
from keras.applications import imagenet_utils
from keras.applications import resnet as _resnet_v1
from keras.applications import resnet_v2 as _resnet_v2

from keras_resnet.weights import records as weight_records
from keras_resnet.models.contract import for_record


def preprocess_input(x, data_format=None, weights=None, model=None):
    """``(batch, H, W, 3)`` RGB in [0, 255] -> the same shape, normalised for ``weights``.

    ``weights=None``: keras.applications' caffe-style preprocessing of the v1 ImageNet weights. A weights tag
    (``"imagenet-v2"``) gives the normalisation of those weights (``weight_records``); ``model`` (a registry name)
    says whose, where the tag's weights normalise differently (``"imagenet"``: caffe for ResNet-50, torch for
    ResNet-18). A model built with weights knows its own: ``model.preprocess_input(images)``.
    """
    if weights is None:
        return _resnet_v1.preprocess_input(x, data_format=data_format)
    record = _record(weights, model)
    return for_record(record, data_format=data_format or keras.config.image_data_format()).preprocess_input(x)


def _record(weights, model):
    """The one record of ``weights`` (of ``model`` when given) whose normalisation applies; one line otherwise."""
    if model is not None:
        return weight_records.weights_info(model, weights)
    records = [record for record in weight_records.list_weights() if record.tag == weights]
    if not records:
        tags = sorted({record.tag for record in weight_records.list_weights()})
        raise ValueError(f"No published weights are tagged {weights!r}: the tags are {', '.join(map(repr, tags))}.")
    normalizations = {(r.transform.mean, r.transform.std, r.transform.channel_order) for r in records}
    if len(normalizations) > 1:
        names = sorted({record.name for record in records})
        raise ValueError(f"The {weights!r} weights of {', '.join(names)} normalise differently: pass model=<name> "
                         f"(e.g. preprocess_input(images, weights={weights!r}, model={names[0]!r})), or use "
                         "model.preprocess_input(images) on the model built with them.")
    return records[0]


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
