"""Residual learning for speech: the Wide Residual BLSTM Network (WRBN) of Heymann, Drude and Haeb-Umbach (2016).

A residual convolutional front-end over time x frequency, built from the seed's two pieces,

- ``Conv(A, S)``: an A x A convolution with stride S and zero padding (A - 1) / 2 on both sides;
- ``ResBlock(S, C, N)``: N residual blocks of C channels, the first with stride S;

followed by bidirectional LSTMs and a per-frame softmax. The blocks and shortcuts are the image networks' own
(``blocks.stage``, ``blocks.shortcut``, option A/B/C or ``"none"`` for the plain twin), with strides per axis.

Defaults. From the seed: the Conv/ResBlock vocabulary, residual front-end then BLSTMs, frame-wise classification.
Our choices where the seed gives no number (Wide ResNet conventions): ``Conv(3, 1)`` with 16 filters, then
``ResBlock(1, 16k, N)``, ``ResBlock(2, 32k, N)``, ``ResBlock(2, 64k, N)`` with widening ``k = 2`` and ``N = 2``,
pre-activation blocks, projection shortcuts where the width changes (option B); strides act on frequency only, so
the time axis is kept (``stride_time=True`` strides time too: ``T' = ceil(T / 4)``); two BLSTM layers of 256 units
per direction. Padded frames (all features equal to ``mask_value``) are masked: every convolution sees them as
zeros, like its own zero padding, and the BLSTMs skip them, so a padded sequence gets exactly the outputs it gets
alone. With ``stride_time`` only the BLSTMs mask (the front-end's last frames may then see padding).
"""

import keras

from keras_resnet.models.blocks import LayerConfig, final_activation, stage, stem_activation
from keras_resnet.models.layers import stride_pair
from keras_resnet.models.spec import normalize_shortcut
from keras_resnet.speech.layers import FrameMask, SpectrogramInput, ZeroMaskedFrames
from keras_resnet.support.validation import check_positive_int

DEFAULT_STAGES = ((1, 16), (2, 32), (2, 64))  # (S, C / k) of each ResBlock
RESBLOCK_N = " (a ResBlock needs N >= 1 residual blocks)"


def Conv(x, A, S, filters, config, name="conv1"):
    """``Conv(A, S)``: ``A x A`` convolution, stride ``S`` (int or (time, frequency)), padding ``(A - 1) / 2``.

    Shapes: ``(batch, T, F, C_in) -> (batch, ceil(T / S_t), ceil(F / S_f), filters)``.
    """
    if A < 1 or A % 2 == 0:
        raise ValueError(f"Conv filter size A must be odd and positive (padding (A - 1) / 2), got {A}")
    return config.conv(x, filters, A, S, name, before_bn=not config.preact)


def ResBlock(x, S, C, N, config, name, shortcut="B"):
    """``ResBlock(S, C, N)``: ``N`` basic residual blocks of ``C`` channels, the first with stride ``S``.

    Shapes: ``(batch, T, F, C_in) -> (batch, ceil(T / S_t), ceil(F / S_f), C)``.
    """
    check_positive_int(N, "N", RESBLOCK_N)
    return stage(x, "basic", C, N, S, normalize_shortcut(shortcut), config, name)


def WRBN(num_features, num_classes, blocks=2, width=2, stages=DEFAULT_STAGES, conv_size=3, conv_filters=16,
         lstm_units=256, lstm_layers=2, shortcut="B", preact=True, stride_time=False, mask_value=0.0,
         bn_momentum=0.9, weight_decay=None, name="wrbn"):
    """Builds a WRBN acoustic model.

    Args:
        num_features: features per frame (e.g. 80 log-mel or 257 STFT bins).
        num_classes: frame classes (senones, phonemes, ...).
        blocks: ``N``, residual blocks per ResBlock.
        width: widening factor ``k`` of the ResBlock channels.
        stages: ``(S, C / k)`` of each ResBlock.
        conv_size, conv_filters: ``A`` and channels of the first ``Conv(A, 1)``.
        lstm_units, lstm_layers: BLSTM units per direction and number of BLSTM layers (0: none).
        shortcut: ``"A"``, ``"B"``, ``"C"`` or ``"none"`` (the plain twin).
        preact: pre-activation blocks ([He16b]); post-activation as [He16] otherwise.
        stride_time: stride time as well as frequency (shortens the output sequence).
        mask_value: the feature value of padding frames.
        bn_momentum, weight_decay: as for the image networks (``blocks.LayerConfig``).
        name: model name.

    Returns:
        ``keras.Model``: ``(batch, T, num_features)`` float frames (``T`` free) -> ``(batch, T', num_classes)``
        per-frame probabilities, ``T' = T`` (or ``ceil(T / prod(S))`` with ``stride_time``).
    """
    for what, value in (("num_features", num_features), ("num_classes", num_classes), ("width", width)):
        check_positive_int(value, what)
    check_positive_int(blocks, "blocks", RESBLOCK_N)
    shortcut = normalize_shortcut(shortcut)
    inputs = keras.Input((None, None), name="features")  # the feature size is checked by SpectrogramInput
    frames = FrameMask(mask_value, name="frame_mask_input")(inputs)
    # With the time axis kept, every convolution sees padding frames as zeros (exact masking), through the
    # blocks' extension point for the inputs of convolutions.
    def zero_padding_frames(x, name):
        return ZeroMaskedFrames(name=f"{name}_mask")(x, frames)

    config = LayerConfig(preact=preact, bn_momentum=bn_momentum, weight_decay=weight_decay,
                         conv_input=None if stride_time else zero_padding_frames)
    time_stride = 1
    x = Conv(SpectrogramInput(num_features, name="add_channel")(inputs), conv_size, 1, conv_filters, config)
    x = stem_activation(x, config)
    for index, (S, C) in enumerate(stages):
        strides = (S, S) if stride_time else (1, S)
        time_stride *= stride_pair(strides)[0]
        x = ResBlock(x, strides, C * width, blocks, config, f"conv{index + 2}", shortcut)
    x = final_activation(x, config)
    frequencies, channels = x.shape[2], x.shape[3]
    x = keras.layers.Reshape((-1, frequencies * channels), name="frames")(x)
    mask = FrameMask(mask_value, time_stride, name="frame_mask")(inputs) if time_stride > 1 else frames
    for index in range(lstm_layers):
        lstm = keras.layers.LSTM(lstm_units, return_sequences=True, kernel_regularizer=config.regularizer(),
                                 name=f"lstm{index + 1}")
        x = keras.layers.Bidirectional(lstm, name=f"blstm{index + 1}")(x, mask=mask)
    outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=config.regularizer(),
                                 name="frame_predictions")(x)
    return keras.Model(inputs, outputs, name=name)
