"""Our named networks against keras.applications: same weights in, same predictions out."""

import keras
import numpy as np
import pytest

import keras_resnet
from conftest import randomize_batchnorm

REFERENCES = {
    "ResNet50": keras.applications.ResNet50,
    "ResNet101": keras.applications.ResNet101,
    "ResNet152": keras.applications.ResNet152,
    "ResNet50V2": keras.applications.ResNet50V2,
}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in ("ResNet101", "ResNet152")
                                  else name for name in REFERENCES])  # the deep ones in the slow step
def test_same_predictions_as_keras_applications(name, tmp_path, rng):
    """The test writes the weight file itself: keras.applications model -> file -> ours, by path."""
    reference = REFERENCES[name](weights=None)
    randomize_batchnorm(reference, rng)
    path = tmp_path / f"{name}.weights.h5"
    reference.save_weights(path)
    ours = getattr(keras_resnet, name)(weights=str(path))
    images = rng.uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    images = getattr(keras_resnet, name).preprocess_input(images)
    expected = keras.ops.convert_to_numpy(reference(images, training=False))
    actual = keras.ops.convert_to_numpy(ours(images, training=False))
    assert np.abs(actual - expected).max() <= 1e-5
    assert [layer.name for layer in ours.layers if layer.weights] == \
        [layer.name for layer in reference.layers if layer.weights]


def test_named_constructors_follow_the_registry():
    assert keras_resnet.ResNet1202.__name__ == "ResNet1202"
    assert keras_resnet.Plain34().name == "plain34"
    assert keras_resnet.ResNet20().output.shape == (None, 10)
    assert keras_resnet.ResNet50V2.preprocess_input is keras_resnet.preprocess_input_v2
    assert keras_resnet.Plain34.preprocess_input is keras_resnet.preprocess_input
    assert keras_resnet.ResNet18.preprocess_input is keras_resnet.preprocess_input_torch  # torchvision's weights


def test_preprocessing_is_keras_applications():
    x = np.full((1, 2, 2, 3), 255.0, "float32")
    caffe = keras.ops.convert_to_numpy(keras_resnet.preprocess_input(x.copy()))
    np.testing.assert_allclose(caffe[0, 0, 0], [255 - 103.939, 255 - 116.779, 255 - 123.68], rtol=1e-6)
    np.testing.assert_allclose(keras_resnet.preprocess_input_v2(x.copy()), 1.0)
