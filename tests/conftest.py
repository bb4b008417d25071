import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_resnet.models.network import runs_channels_first  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def randomize_batchnorm(model, rng, variance_scale=1.0):
    """Non-trivial BN statistics, so that comparisons exercise every BN parameter.

    ``variance_scale`` multiplies the moving variances: an untrained network of hundreds of residual blocks doubles
    its activations' variance in every block at unit statistics and overflows float32 before the classifier.
    """
    for weight in model.weights:
        if "moving_variance" in weight.path:
            weight.assign(rng.uniform(0.5, 1.5, weight.shape) * variance_scale)
        elif "moving_mean" in weight.path or "beta" in weight.path:
            weight.assign(rng.normal(0.0, 0.1, weight.shape))


# channels_first tests run where the process can run it; elsewhere (TensorFlow's CPU convolution without oneDNN) the
# package refuses it in one line, which tests/test_builder.py checks.
needs_channels_first = pytest.mark.skipif(
    not runs_channels_first(),
    reason="TensorFlow's CPU Conv2D runs NHWC only without oneDNN: channels_first is refused here (tested)")


def channels_first_twin(name="resnet8", classes=4, size=32):
    """``(model, twin)``: the registered network ``name`` in channels_last and its channels_first twin holding the
    same weights (the global data format is restored afterwards)."""
    import keras_resnet

    model = keras_resnet.build(name, classes=classes, input_shape=(size, size, 3))
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        twin = keras_resnet.build(name, classes=classes, input_shape=(3, size, size))
    finally:
        keras.config.set_image_data_format(previous)
    twin.set_weights(model.get_weights())
    return model, twin
