"""Custom layers of the residual networks.

Only what stock Keras layers cannot express lives here. Every layer is registered as a serializable Keras object, so a
saved model loads again with ``keras.saving.load_model(path, safe_mode=True)`` (no ``Lambda`` layers anywhere).
"""

import keras
from keras import ops


def stride_pair(strides):
    """``2`` -> ``(2, 2)``; ``(1, 2)`` -> ``(1, 2)``: strides along (height, width), or (time, frequency)."""
    pair = (strides, strides) if isinstance(strides, int) else tuple(strides)
    if len(pair) != 2 or any(not isinstance(s, int) or s < 1 for s in pair):
        raise ValueError(f"strides must be a positive integer or a pair of them, got {strides!r}")
    return pair


@keras.saving.register_keras_serializable(package="keras_resnet")
class ZeroPadShortcut(keras.layers.Layer):
    """Parameter-free shortcut of option A ([He16] Sec. 4.1, CIFAR experiments of Sec. 4.2).

    The identity mapping when dimensions increase: the input is subsampled by taking every ``strides``-th pixel and
    the extra output channels are zeros, appended after the input channels (``pad="after"``) or split evenly before
    and after them (``pad="both"``, the layout of the reference PyTorch CIFAR re-implementation, whose weights then
    convert exactly).

    Shapes (channels_last): ``(batch, H, W, C_in) -> (batch, ceil(H / s_h), ceil(W / s_w), filters)``;
    channels_first likewise with the channel axis first.

    Args:
        filters: number of output channels, ``>= C_in``.
        strides: spatial subsampling factor, one for both axes or ``(s_h, s_w)`` (1 keeps the resolution).
        data_format: ``"channels_last"`` or ``"channels_first"``; defaults to ``keras.config.image_data_format()``.
        pad: ``"after"`` (zeros after the input channels) or ``"both"`` (half before, the rest after).
    """

    PADS = ("after", "both")

    def __init__(self, filters, strides=1, data_format=None, pad="after", **kwargs):
        super().__init__(**kwargs)
        if int(filters) < 1:
            raise ValueError(f"ZeroPadShortcut needs filters >= 1, got {filters}")
        if pad not in self.PADS:
            raise ValueError(f"ZeroPadShortcut pad must be one of {self.PADS}, got {pad!r}")
        self.filters = int(filters)
        self.strides = stride_pair(strides)
        self.data_format = data_format or keras.config.image_data_format()
        self.pad = pad

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
        sh, sw = self.strides
        x = inputs[:, ::sh, ::sw, :] if self.data_format == "channels_last" else inputs[:, :, ::sh, ::sw]
        extra = self.filters - x.shape[self._channel_axis()]  # channels are static
        before = extra // 2 if self.pad == "both" else 0
        if self.data_format == "channels_last":
            padding = [[0, 0], [0, 0], [0, 0], [before, extra - before]]
        else:
            padding = [[0, 0], [before, extra - before], [0, 0], [0, 0]]
        return ops.pad(x, padding)

    def compute_output_shape(self, input_shape):
        def subsample(size, stride):
            return None if size is None else -(-size // stride)

        sh, sw = self.strides
        if self.data_format == "channels_last":
            batch, height, width, _ = input_shape
            return (batch, subsample(height, sh), subsample(width, sw), self.filters)
        batch, _, height, width = input_shape
        return (batch, self.filters, subsample(height, sh), subsample(width, sw))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": list(self.strides),
                "data_format": self.data_format, "pad": self.pad}


@keras.saving.register_keras_serializable(package="keras_resnet")
class PixelNormalization(keras.layers.Layer):
    """The input normalisation of published weights, inside the model: raw ``[0, 255]`` pixels in.

    ``y = (x[channel_order] - mean) / std`` per channel; ``channel_order="BGR"`` reverses RGB input first (Caffe's
    convention, keras.applications' v1 weights). The numbers come from the weights' record
    (``weight_records.EvalTransform``).

    Shapes: ``(batch, H, W, 3) -> (batch, H, W, 3)`` (channels_last; channels_first likewise).
    """

    def __init__(self, mean, std, channel_order="RGB", data_format=None, **kwargs):
        super().__init__(**kwargs)
        if channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {channel_order!r}")
        if len(mean) != len(std) or min(std) <= 0:
            raise ValueError(f"mean and std need one entry per channel and std > 0, got {mean} and {std}")
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]
        self.channel_order = channel_order
        self.data_format = data_format or keras.config.image_data_format()

    def call(self, inputs):
        shape = (1, 1, 1, -1) if self.data_format == "channels_last" else (1, -1, 1, 1)
        x = ops.cast(inputs, self.compute_dtype)
        if self.channel_order == "BGR":
            x = ops.flip(x, axis=-1 if self.data_format == "channels_last" else 1)
        mean = ops.reshape(ops.convert_to_tensor(self.mean, self.compute_dtype), shape)
        std = ops.reshape(ops.convert_to_tensor(self.std, self.compute_dtype), shape)
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std, "channel_order": self.channel_order,
                "data_format": self.data_format}


@keras.saving.register_keras_serializable(package="keras_resnet")
class TopK(keras.layers.Layer):
    """The ``k`` best classes of each row of probabilities, best first, for exported graphs that answer with them.

    Shapes: ``(batch, classes) -> (scores float (batch, k), classes int32 (batch, k))``; ``k`` is capped at the
    number of classes.
    """

    def __init__(self, k=5, **kwargs):
        super().__init__(**kwargs)
        if int(k) < 1:
            raise ValueError(f"k must be a positive integer, got {k}")
        self.k = int(k)

    def call(self, probabilities):
        scores, classes = ops.top_k(probabilities, min(self.k, probabilities.shape[-1]))
        return scores, ops.cast(classes, "int32")

    def compute_output_shape(self, input_shape):
        k = min(self.k, input_shape[-1])
        return (input_shape[0], k), (input_shape[0], k)

    def get_config(self):
        return {**super().get_config(), "k": self.k}
