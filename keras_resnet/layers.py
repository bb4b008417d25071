"""Custom layers of the residual networks.

Only what stock Keras layers cannot express lives here. Every layer is registered as a serializable Keras object, so a
saved model loads again with ``keras.saving.load_model(path, safe_mode=True)`` (no ``Lambda`` layers anywhere).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_resnet")
class ZeroPadShortcut(keras.layers.Layer):
    """Parameter-free shortcut of option A ([He16] Sec. 4.1, CIFAR experiments of Sec. 4.2).

    The identity mapping when dimensions increase: the input is subsampled by taking every ``strides``-th pixel and
    the extra output channels are zeros, appended after the input channels.

    Shapes (channels_last): ``(batch, H, W, C_in) -> (batch, ceil(H / strides), ceil(W / strides), filters)``;
    channels_first likewise with the channel axis first.

    Args:
        filters: number of output channels, ``>= C_in``.
        strides: spatial subsampling factor (1 keeps the resolution).
        data_format: ``"channels_last"`` or ``"channels_first"``; defaults to ``keras.config.image_data_format()``.
    """

    def __init__(self, filters, strides=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if int(filters) < 1 or int(strides) < 1:
            raise ValueError(f"ZeroPadShortcut needs filters >= 1 and strides >= 1, got {filters} and {strides}")
        self.filters = int(filters)
        self.strides = int(strides)
        self.data_format = data_format or keras.config.image_data_format()

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        in_channels = input_shape[self._channel_axis()]
        if in_channels is not None and in_channels > self.filters:
            raise ValueError(
                f"Option-A shortcuts can only add channels, got {in_channels} -> {self.filters}: "
                "use shortcut='B' or 'C' (projection) where the width shrinks."
            )

    def call(self, inputs):
        s = self.strides
        x = inputs[:, ::s, ::s, :] if self.data_format == "channels_last" else inputs[:, :, ::s, ::s]
        extra = self.filters - x.shape[self._channel_axis()]  # channels are static
        if self.data_format == "channels_last":
            padding = [[0, 0], [0, 0], [0, 0], [0, extra]]
        else:
            padding = [[0, 0], [0, extra], [0, 0], [0, 0]]
        return ops.pad(x, padding)

    def compute_output_shape(self, input_shape):
        def subsample(size):
            return None if size is None else -(-size // self.strides)

        if self.data_format == "channels_last":
            batch, height, width, _ = input_shape
            return (batch, subsample(height), subsample(width), self.filters)
        batch, _, height, width = input_shape
        return (batch, self.filters, subsample(height), subsample(width))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "data_format": self.data_format}
