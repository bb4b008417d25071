"""Building blocks of residual and plain networks ([He16] Sec. 3, Fig. 2 and 5; [He16b] Fig. 1 and 4).

``blocks -> stages -> builder -> named models``: this module holds the first two. Blocks are functional-API
functions ``x -> y`` on Keras tensors, with stable layer names (``conv2_block1_1_conv``...) identical to
keras.applications, so published weight files load as they are.

A block is described by:

- ``shortcut``: ``"A"`` (identity; zero-padded channels and subsampling where dimensions increase, parameter-free),
  ``"B"`` (projection where the width changes, identity elsewhere), ``"C"`` (projection everywhere) or ``"none"``
  (no shortcut: the plain twin) -- [He16] Sec. 4.1.
- ``preact``: post-activation ([He16]: conv -> BN -> ReLU, ReLU after the addition) or pre-activation ([He16b]:
  BN -> ReLU -> conv, pure identity addition).
- ``stride_on``: for bottlenecks, the paper's stride on the first 1x1 convolution (``"1x1"``) or the "v1.5" stride on
  the 3x3 (``"3x3"``).
"""

import dataclasses

import keras

from keras_resnet.models.layers import ZeroPadShortcut, stride_pair

BOTTLENECK_EXPANSION = 4


@dataclasses.dataclass(frozen=True)
class LayerConfig:
    """Conventions shared by every convolution and batch normalization of one network.

    Attributes:
        use_bias: convolutions carry biases. Post-activation nets put them before BN too (redundant, but that is
            what keras.applications' ResNet50/101/152 weights contain); pre-activation nets never put a bias
            directly before BN (as keras.applications' v2 weights).
        preact: the network is pre-activation ([He16b]).
        bn_momentum, bn_epsilon: BN conventions (see ``spec.ArchSpec``).
        weight_decay: the paper's weight decay lambda (SGD adds lambda * w to the gradient), applied as
            ``L2(lambda / 2)`` on convolution and dense kernels; ``None`` for no regularizer.
        kernel_initializer: He initialization ([He16] Sec. 3.4, after He et al. 2015).
        data_format: ``"channels_last"`` or ``"channels_first"``.
        sync_bn: batch statistics over the global batch of all replicas (TensorFlow under ``tf.distribute``);
            the paper's per-GPU statistics otherwise.
        shortcut_pad: where option-A shortcuts put their zero channels (``layers.ZeroPadShortcut``).
        conv_input: the extension point for other input domains: a function ``(x, name) -> x`` applied to the
            input of every convolution (``None``: none). The speech models use it to zero padded frames.
    """

    use_bias: bool = False
    preact: bool = False
    bn_momentum: float = 0.9
    bn_epsilon: float = 1.001e-5
    weight_decay: float | None = None
    kernel_initializer: str = "he_normal"
    data_format: str = "channels_last"
    sync_bn: bool = False
    shortcut_pad: str = "after"
    conv_input: object = None

    @classmethod
    def from_spec(cls, spec, **conventions):
        """The conventions of ``spec`` (an ``ArchSpec``); ``conventions`` are the others (``weight_decay``,
        ``sync_bn``, ``data_format``, ``conv_input``)."""
        return cls(use_bias=spec.use_bias, preact=spec.preact, bn_momentum=spec.bn_momentum,
                   bn_epsilon=float(spec.bn_epsilon), shortcut_pad=spec.shortcut_pad, **conventions)

    @property
    def channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def regularizer(self):
        return keras.regularizers.L2(self.weight_decay / 2) if self.weight_decay else None

    def conv(self, x, filters, kernel_size, strides, name, before_bn=True):
        """``kernel_size`` x ``kernel_size`` convolution named ``{name}_conv``.

        Strided convolutions pad explicitly and symmetrically (``{name}_pad``), as Caffe/Torch do and as the
        published weights were trained; ``padding="same"`` would pad only bottom/right at stride 2.
        """
        if self.conv_input is not None:
            x = self.conv_input(x, name)
        padding = "same"
        if max(stride_pair(strides)) > 1 and kernel_size > 1:
            x = keras.layers.ZeroPadding2D((kernel_size - 1) // 2, data_format=self.data_format,
                                           name=f"{name}_pad")(x)
            padding = "valid"
        use_bias = self.use_bias and not (before_bn and self.preact)
        return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                                   kernel_initializer=self.kernel_initializer,
                                   kernel_regularizer=self.regularizer(), data_format=self.data_format,
                                   name=f"{name}_conv")(x)

    def bn(self, x, name):
        return keras.layers.BatchNormalization(axis=self.channel_axis, momentum=self.bn_momentum,
                                               epsilon=self.bn_epsilon, synchronized=self.sync_bn,
                                               name=f"{name}_bn")(x)

    def relu(self, x, name):
        return keras.layers.Activation("relu", name=name)(x)

    def conv_bn_relu(self, x, filters, kernel_size, strides, name):
        """Post-activation unit: conv -> BN -> ReLU, names ``{name}_conv/_bn/_relu``."""
        x = self.conv(x, filters, kernel_size, strides, name)
        return self.relu(self.bn(x, name), f"{name}_relu")


def shortcut(x, preactivated, filters, strides, option, config, name):
    """The shortcut branch of one block ([He16] Eq. 1 and 2, Sec. 4.1 options A/B/C).

    Args:
        x: block input, ``(batch, H, W, C_in)``.
        preactivated: BN-ReLU of ``x`` in pre-activation blocks (projections start from it, as in [He16b]); ``x``
            otherwise.
        filters: output channels ``C_out`` of the block.
        strides: spatial stride of the block: one for both axes, or ``(s_h, s_w)``.
        option: one of ``spec.SHORTCUTS``.
        config: the network's ``LayerConfig``.
        name: block name; layers are ``{name}_0_conv``/``{name}_0_bn`` (projection) or ``{name}_0_pad`` (option A).

    Returns:
        ``(batch, H / strides, W / strides, C_out)``, or ``None`` for ``option="none"``.
    """
    if option == "none":
        return None
    widens = x.shape[config.channel_axis] != filters
    if option == "C" or (option == "B" and widens):
        projected = config.conv(preactivated, filters, 1, strides, f"{name}_0", before_bn=not config.preact)
        return projected if config.preact else config.bn(projected, f"{name}_0")
    if widens or max(stride_pair(strides)) > 1:
        return ZeroPadShortcut(filters, strides, data_format=config.data_format, pad=config.shortcut_pad,
                               name=f"{name}_0_pad")(x)
    return x


def stem_activation(x, config, name="conv1"):
    """After the stem's convolution: BN-ReLU ([He16]); nothing in pre-activation nets, whose first block starts
    with BN-ReLU ([He16b])."""
    return x if config.preact else config.relu(config.bn(x, name), f"{name}_relu")


def final_activation(x, config):
    """Before the head: BN-ReLU of the last block's un-activated output in pre-activation nets ([He16b])."""
    return config.relu(config.bn(x, "post"), "post_relu") if config.preact else x


def _merge(x, residual, config, name):
    """Adds the shortcut (``x``, or nothing in plain nets) and, post-activation, applies the final ReLU."""
    if residual is not None:
        x = keras.layers.Add(name=f"{name}_out" if config.preact else f"{name}_add")([residual, x])
    if config.preact:
        return x
    return config.relu(x, f"{name}_out")


def _preactivate(x, config, name):
    if not config.preact:
        return x
    return config.relu(config.bn(x, f"{name}_preact"), f"{name}_preact_relu")


def basic_block(x, filters, strides, option, config, name, stride_on="1x1"):
    """Two 3x3 convolutions with a shortcut ([He16] Fig. 2 / Fig. 5 left; [He16b] Fig. 4e when pre-activated).

    Shapes: ``(batch, H, W, C_in) -> (batch, H / strides, W / strides, filters)``. ``stride_on`` is accepted
    for a uniform block interface: the stride is always on the first 3x3.
    """
    del stride_on
    preactivated = _preactivate(x, config, name)
    residual = shortcut(x, preactivated, filters, strides, option, config, name)
    if config.preact:
        y = config.conv_bn_relu(preactivated, filters, 3, strides, f"{name}_1")
        y = config.conv(y, filters, 3, 1, f"{name}_2", before_bn=False)
    else:
        y = config.conv_bn_relu(x, filters, 3, strides, f"{name}_1")
        y = config.bn(config.conv(y, filters, 3, 1, f"{name}_2"), f"{name}_2")
    return _merge(y, residual, config, name)


def bottleneck_block(x, filters, strides, option, config, name, stride_on="1x1"):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4) with a shortcut ([He16] Fig. 5 right; [He16b] when pre-activated).

    Shapes: ``(batch, H, W, C_in) -> (batch, H / strides, W / strides, 4 * filters)``; ``filters`` is the
    bottleneck width. The stride is on the first 1x1 (``stride_on="1x1"``, the paper) or on the 3x3 (``"3x3"``,
    "v1.5").
    """
    out_filters = BOTTLENECK_EXPANSION * filters
    first_stride, middle_stride = (strides, 1) if stride_on == "1x1" else (1, strides)
    preactivated = _preactivate(x, config, name)
    residual = shortcut(x, preactivated, out_filters, strides, option, config, name)
    y = config.conv_bn_relu(preactivated, filters, 1, first_stride, f"{name}_1")
    y = config.conv_bn_relu(y, filters, 3, middle_stride, f"{name}_2")
    if config.preact:
        y = config.conv(y, out_filters, 1, 1, f"{name}_3", before_bn=False)
    else:
        y = config.bn(config.conv(y, out_filters, 1, 1, f"{name}_3"), f"{name}_3")
    return _merge(y, residual, config, name)


BLOCK_FUNCTIONS = {"basic": basic_block, "bottleneck": bottleneck_block}


def stage(x, block, filters, blocks, strides, option, config, name, stride_on="1x1", downsample_at="first"):
    """A stage ``conv{k}_x`` of ``blocks`` blocks of the same width ([He16] Table 1, Sec. 4.2).

    The stage's stride is taken by its first block (the paper) or, with ``downsample_at="last"``, by its last
    block (the layout of keras.applications' v2 weights). Blocks are named ``{name}_block1`` .. ``{name}_block{n}``.

    Shapes: ``(batch, H, W, C_in) -> (batch, H / strides, W / strides, filters * expansion)``.
    """
    downsampling = 0 if downsample_at == "first" else blocks - 1
    for index in range(blocks):
        x = BLOCK_FUNCTIONS[block](x, filters, strides if index == downsampling else 1, option, config,
                                   f"{name}_block{index + 1}", stride_on=stride_on)
    return x
