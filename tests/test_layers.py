import keras
import numpy as np
import pytest

from keras_resnet.models.layers import ZeroPadShortcut


def test_option_a_subsamples_and_appends_zero_channels(rng):
    x = rng.normal(size=(2, 8, 8, 16)).astype("float32")
    y = keras.ops.convert_to_numpy(ZeroPadShortcut(32, strides=2)(x))
    assert y.shape == (2, 4, 4, 32)
    np.testing.assert_array_equal(y[..., :16], x[:, ::2, ::2, :])
    assert not y[..., 16:].any()


def test_option_a_odd_sizes_and_channels_first(rng):
    x = rng.normal(size=(1, 3, 7, 5)).astype("float32")
    layer = ZeroPadShortcut(6, strides=2, data_format="channels_first")
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (1, 6, 4, 3) == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(y[:, :3], x[:, :, ::2, ::2])
    assert not y[:, 3:].any()


def test_option_a_has_no_parameters_and_round_trips_its_config():
    layer = ZeroPadShortcut(64, strides=2)
    layer.build((None, 8, 8, 32))
    assert layer.count_params() == 0
    clone = ZeroPadShortcut.from_config(layer.get_config())
    assert (clone.filters, clone.strides, clone.data_format) == (64, (2, 2), "channels_last")
    assert keras.saving.get_registered_name(ZeroPadShortcut) == "keras_resnet>ZeroPadShortcut"


def test_option_a_refuses_to_drop_channels():
    with pytest.raises(ValueError, match="use shortcut='B' or 'C'"):
        ZeroPadShortcut(8)(np.zeros((1, 4, 4, 16), "float32"))


def test_option_a_strides_per_axis(rng):
    """Speech front-ends subsample frequency only: strides (1, 2) keep the time axis."""
    x = rng.normal(size=(1, 7, 8, 4)).astype("float32")
    layer = ZeroPadShortcut(8, strides=(1, 2))
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (1, 7, 4, 8) == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(y[..., :4], x[:, :, ::2, :])
    with pytest.raises(ValueError, match="strides must be a positive integer or a pair"):
        ZeroPadShortcut(8, strides=(1, 0))
