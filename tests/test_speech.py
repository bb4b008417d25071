"""The WRBN speech front-end: shapes, masking, learning on a frame-labelling task, saving, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_resnet
from keras_resnet.models.blocks import LayerConfig
from keras_resnet.data.audio import log_mel_spectrogram, stft_magnitudes
from keras_resnet.speech import WRBN, Conv, ResBlock

SMALL = {"blocks": 1, "width": 1, "lstm_units": 16}


@pytest.mark.parametrize("frames", [17, 50, 101])
def test_time_axis_is_kept_or_reduced_exactly(frames, rng):
    features = rng.normal(size=(2, frames, 40)).astype("float32")
    assert WRBN(40, 7, **SMALL)(features).shape == (2, frames, 7)
    assert WRBN(40, 7, stride_time=True, **SMALL)(features).shape == (2, -(-frames // 4), 7)


def test_a_tiny_front_end_has_the_parameters_it_should():
    """Conv(3, 1) with 4 filters + BN, one basic block of 4 channels (2 convs + 2 BN), a dense layer per frame."""
    model = WRBN(8, 3, blocks=1, width=1, stages=((1, 4),), conv_filters=4, lstm_layers=0, shortcut="A",
                 preact=False)
    conv1, block, dense = 3 * 3 * 1 * 4 + 4 * 4, 2 * (3 * 3 * 4 * 4 + 4 * 4), (8 * 4) * 3 + 3
    assert model.count_params() == conv1 + block + dense


def test_padding_is_masked(rng):
    """A zero-padded sequence gets exactly the outputs it gets alone; padding that is not masked changes them."""
    model = WRBN(40, 5, **SMALL)
    features = rng.normal(size=(1, 60, 40)).astype("float32")
    alone = np.asarray(model(features, training=False))
    padded = np.concatenate([features, np.zeros((1, 20, 40), "float32")], axis=1)
    batch = np.concatenate([padded, rng.normal(size=(1, 80, 40)).astype("float32")])  # a longer neighbour
    np.testing.assert_allclose(np.asarray(model(batch, training=False))[:1, :60], alone, atol=1e-5)
    unmasked = np.concatenate([features, np.full((1, 20, 40), 1e-3, "float32")], axis=1)
    assert np.abs(np.asarray(model(unmasked, training=False))[:, :60] - alone).max() > 1e-4


def _tones(count, rng, classes=4, sample_rate=8000, seconds=1.0):
    """Utterances of consecutive tones (one frequency per class) in noise, with a label per 10 ms frame."""
    frequencies = np.array([300.0, 800.0, 1500.0, 2500.0])[:classes]
    samples = int(sample_rate * seconds)
    time = np.arange(samples) / sample_rate
    waves, labels = [], []
    for _ in range(count):
        cuts = np.sort(rng.choice(np.arange(1000, samples - 1000, 80), 3, replace=False))
        segments = rng.integers(0, classes, 4)
        per_sample = np.repeat(segments, np.diff(np.concatenate([[0], cuts, [samples]])))
        waves.append(np.sin(2 * np.pi * frequencies[per_sample] * time) + 0.3 * rng.normal(size=samples))
        frames = 1 + (samples - 200) // 80
        labels.append(per_sample[np.arange(frames) * 80 + 100])  # the label at each window's centre
    features = log_mel_spectrogram(np.stack(waves).astype("float32"), sample_rate=sample_rate, frame_length=200,
                                   frame_step=80, fft_length=256, num_mel_bins=40)
    return features.numpy(), np.stack(labels)


@pytest.mark.slow  # trains six epochs
def test_it_learns_to_label_frames(rng):
    x_train, y_train = _tones(96, rng)
    x_test, y_test = _tones(32, rng)
    keras.utils.set_random_seed(1)
    model = WRBN(40, 4, **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=16, epochs=6, verbose=0)
    accuracy = np.mean(np.argmax(model.predict(x_test, verbose=0), -1) == y_test)
    assert accuracy > 0.8  # chance: 0.25


def test_round_trip_and_plain_twin(tmp_path, rng):
    features = rng.normal(size=(2, 30, 40)).astype("float32")
    for shortcut in ("B", "none"):
        model = WRBN(40, 5, shortcut=shortcut, **SMALL)
        model.save(tmp_path / f"{shortcut}.keras")
        loaded = keras.saving.load_model(tmp_path / f"{shortcut}.keras", safe_mode=True)
        np.testing.assert_array_equal(np.asarray(model(features)), np.asarray(loaded(features)))
        adds = sum(isinstance(layer, keras.layers.Add) for layer in model.layers)
        assert (adds == 0) == (shortcut == "none")
    assert keras_resnet.WRBN is WRBN


def test_features_from_waveforms():
    wave = tf.random.normal((2, 16_000))
    assert log_mel_spectrogram(wave).shape == (2, 98, 80)
    assert stft_magnitudes(wave).shape == (2, 98, 257)


def test_bad_input(rng):
    model = WRBN(40, 5, **SMALL)
    with pytest.raises(ValueError, match="built for 40 features per frame, got 30.*num_mel_bins=40"):
        model(rng.normal(size=(2, 20, 30)).astype("float32"))
    with pytest.raises(ValueError, match=r"incompatible shape"):
        model(rng.normal(size=(20, 40)).astype("float32"))
    with pytest.raises(ValueError, match="N >= 1"):
        WRBN(40, 5, blocks=0)
    with pytest.raises(ValueError, match="N >= 1"):
        ResBlock(keras.Input((None, 8, 4)), 2, 8, 0, LayerConfig(), "s")
    with pytest.raises(ValueError, match="must be odd"):
        Conv(keras.Input((None, 8, 1)), 4, 1, 8, LayerConfig())
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        WRBN(40, 0)
