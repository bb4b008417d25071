"""Layers of the speech models: feature frames in, padding frames masked.

Registered under the same names as before they moved here, so models saved earlier load as they are.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_resnet")
class SpectrogramInput(keras.layers.Layer):
    """Checks a batch of feature frames and adds the channel axis for the 2-D convolutional front-end.

    Shapes: ``(batch, time, num_features) -> (batch, time, num_features, 1)``. A batch of another rank or feature
    size fails here with a message that says what the model takes.
    """

    def __init__(self, num_features, **kwargs):
        super().__init__(**kwargs)
        self.num_features = int(num_features)

    def _check(self, shape):
        if len(shape) != 3:
            raise ValueError(f"The speech model takes feature frames of rank 3, (batch, time, {self.num_features}), "
                             f"got shape {tuple(shape)}: add the batch axis, or the feature axis, first.")
        if shape[-1] is not None and shape[-1] != self.num_features:
            raise ValueError(f"The speech model was built for {self.num_features} features per frame, got "
                             f"{shape[-1]}: compute features with num_mel_bins={self.num_features}, or build the "
                             f"model with num_features={shape[-1]}.")

    def build(self, input_shape):
        self._check(input_shape)

    def call(self, inputs):
        self._check(inputs.shape)
        return ops.expand_dims(inputs, -1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_features, 1)

    def get_config(self):
        return {**super().get_config(), "num_features": self.num_features}


@keras.saving.register_keras_serializable(package="keras_resnet")
class FrameMask(keras.layers.Layer):
    """Which frames of a zero-padded batch are real: a frame is padding when every feature equals ``mask_value``.

    Shapes: ``(batch, time, features) -> (batch, ceil(time / time_stride))`` booleans, aligned with a front-end that
    subsamples time by ``time_stride``.
    """

    def __init__(self, mask_value=0.0, time_stride=1, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)
        self.time_stride = int(time_stride)

    def call(self, inputs):
        return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1)[:, ::self.time_stride]

    def compute_output_shape(self, input_shape):
        time = input_shape[1]
        return (input_shape[0], None if time is None else -(-time // self.time_stride))

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="bool")

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value, "time_stride": self.time_stride}


@keras.saving.register_keras_serializable(package="keras_resnet")
class ZeroMaskedFrames(keras.layers.Layer):
    """Sets the padding frames of a feature map to zero.

    Shapes: ``x`` ``(batch, time, frequency, channels)`` and ``frame_mask`` ``(batch, time)`` booleans -> like ``x``.
    """

    def call(self, x, frame_mask):
        return x * ops.cast(frame_mask, x.dtype)[:, :, None, None]

    def compute_output_shape(self, x_shape, frame_mask_shape):
        return x_shape
