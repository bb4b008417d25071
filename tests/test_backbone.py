"""Backbone features: stage outputs keyed C<k> (stride 2**k), in both data formats, saved and loaded safely."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_resnet
from conftest import needs_channels_first, randomize_batchnorm
from keras_resnet.applications.backbone import Backbone, stage_outputs

# name -> (input side, {level: channels}, the layer each level is, by name)
FAMILIES = {
    "resnet18": (64, {2: 64, 3: 128, 4: 256, 5: 512},
                 ["conv2_block2_out", "conv3_block2_out", "conv4_block2_out", "conv5_block2_out"]),
    "resnet50": (64, {2: 256, 3: 512, 4: 1024, 5: 2048},
                 ["conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"]),
    # keras.applications' v2 layout downsamples in a stage's last block: C<k> is the deepest output at stride 2**k,
    # and the last map follows the final BN-ReLU of the pre-activation net.
    "resnet50v2": (64, {2: 256, 3: 512, 4: 1024, 5: 2048},
                   ["conv2_block2_out", "conv3_block3_out", "conv4_block5_out", "post_relu"]),
    "resnet20": (16, {0: 16, 1: 32, 2: 64}, ["conv2_block3_out", "conv3_block3_out", "conv4_block3_out"]),
    "plain20": (16, {0: 16, 1: 32, 2: 64}, ["conv2_block3_out", "conv3_block3_out", "conv4_block3_out"]),
    "resnet20v2": (16, {0: 16, 1: 32, 2: 64}, ["conv2_block3_out", "conv3_block3_out", "post_relu"]),
}


@pytest.fixture(params=["channels_last", pytest.param("channels_first", marks=needs_channels_first)])
def data_format(request):
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format(request.param)
    yield request.param
    keras.config.set_image_data_format(previous)


def _shape(data_format, side, channels):
    return (side, side, channels) if data_format == "channels_last" else (channels, side, side)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_stage_shapes_per_family(name, data_format, rng):
    side, channels, _ = FAMILIES[name]
    backbone = Backbone(name, input_shape=_shape(data_format, side, 3))
    assert list(backbone.output) == [f"C{level}" for level in channels]
    images = rng.uniform(0, 1, (2, *_shape(data_format, side, 3))).astype("float32")
    maps = backbone.predict(images, verbose=0)
    assert list(maps) == list(backbone.output)
    for level, width in channels.items():
        expected = (2, *_shape(data_format, side // 2 ** level, width))
        assert backbone.output[f"C{level}"].shape == (None, *expected[1:])
        assert maps[f"C{level}"].shape == expected


@pytest.mark.parametrize("name", ["resnet18", "resnet50v2", "resnet20", "plain20", "resnet20v2"])
def test_maps_are_the_full_models_intermediate_layers(name, rng):
    side, _, layer_names = FAMILIES[name]
    model = keras_resnet.build(name, input_shape=(side, side, 3), classes=7)
    randomize_batchnorm(model, rng)
    reference = keras.Model(model.input, [model.get_layer(layer).output for layer in layer_names])
    images = rng.uniform(0, 255, (2, side, side, 3)).astype("float32")
    maps = Backbone(model)(images)
    for got, want in zip(maps.values(), reference(images)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_last_map_is_what_the_classifier_pools(rng):
    model = keras_resnet.build("resnet50v2", include_top=False, input_shape=(64, 64, 3))
    randomize_batchnorm(model, rng)
    images = rng.uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(Backbone(model)(images)["C5"]), np.asarray(model(images)))


def test_stem_layers_before_the_network_keep_the_strides(rng):
    """A trained model subtracts its mean in a first layer; the levels stay those of the bare network."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Normalization(mean=100.0, variance=255.0 ** 2, name="mean_subtraction")(inputs)
    network = keras_resnet.build("resnet8", input_tensor=x, classes=3)
    model = keras.Model(inputs, network.output)
    assert {key: tuple(value.shape) for key, value in stage_outputs(model).items()} == {
        "C0": (None, 16, 16, 16), "C1": (None, 8, 8, 32), "C2": (None, 4, 4, 64)}


def test_keras_applications_resnets_work_too():
    model = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))
    outputs = stage_outputs(model)
    assert {key: tuple(value.shape[1:]) for key, value in outputs.items()} == {
        "C2": (16, 16, 256), "C3": (8, 8, 512), "C4": (4, 4, 1024), "C5": (2, 2, 2048)}
    assert outputs["C2"] is model.get_layer("conv2_block2_out").output


def test_save_and_load_with_safe_mode(tmp_path, rng):
    backbone = Backbone("resnet20", input_shape=(16, 16, 3))
    randomize_batchnorm(backbone, rng)
    path = tmp_path / "backbone.keras"
    backbone.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    images = rng.uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    want, got = backbone(images), loaded(images)
    assert list(got) == ["C0", "C1", "C2"]
    for key in want:
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), atol=1e-6)


JAX_SCRIPT = """
import sys
import numpy as np
import keras, keras_resnet
assert keras.backend.backend() == "jax"
backbone = keras.saving.load_model(sys.argv[1], safe_mode=True)
maps = backbone(np.load(sys.argv[2]))
np.savez(sys.argv[3], **{key: keras.ops.convert_to_numpy(value) for key, value in maps.items()})
assert "tensorflow" not in sys.modules
"""


def test_same_maps_under_jax(tmp_path, rng):
    pytest.importorskip("jax")
    backbone = Backbone("resnet20v2", input_shape=(16, 16, 3))
    randomize_batchnorm(backbone, rng)
    backbone.save(tmp_path / "backbone.keras")
    images = rng.uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    np.save(tmp_path / "x.npy", images)
    run = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path / "backbone.keras"), str(tmp_path / "x.npy"),
                          str(tmp_path / "maps.npz")], env={**os.environ, "KERAS_BACKEND": "jax",
                                                            "JAX_PLATFORMS": "cpu"},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = np.load(tmp_path / "maps.npz")
    for key, value in backbone(images).items():
        np.testing.assert_allclose(got[key], np.asarray(value), rtol=1e-4, atol=1e-4)  # float32 conv order


def test_clear_errors():
    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D()])
    with pytest.raises(ValueError, match="no residual stages"):
        stage_outputs(plain)
    nested = keras.Sequential([keras.Input((16, 16, 3)), keras_resnet.build("resnet8", input_shape=(16, 16, 3))])
    with pytest.raises(ValueError, match=r"model.get_layer\('resnet8'\)"):
        Backbone(nested)
    with pytest.raises(ValueError, match="registry names only"):
        Backbone(keras_resnet.build("resnet8", input_shape=(16, 16, 3)), weights="imagenet")
