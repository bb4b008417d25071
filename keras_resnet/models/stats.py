"""Parameter and FLOP counts of built models, counted as [He16] Table 1 counts them.

FLOPs are multiply-adds of the convolutions and fully connected layers (one multiply-add = one FLOP in the paper's
"3.6 billion FLOPs" of ResNet-34); batch normalization, ReLU, additions and pooling are not counted.
"""

import math

import keras


def _weighted_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _weighted_layers(layer)
        else:
            yield layer


def _output_positions(layer):
    """Number of output positions a kernel is applied at: spatial size for convolutions, 1 for a plain Dense."""
    shape = layer.output.shape
    spatial = shape[1:-1] if getattr(layer, "data_format", "channels_last") != "channels_first" else shape[2:]
    if any(size is None for size in spatial):
        raise ValueError(f"Layer {layer.name!r} has a dynamic output size {tuple(shape)}: count FLOPs on a model "
                         "built with a fixed input_shape, e.g. input_shape=(224, 224, 3).")
    return math.prod(spatial)


def count_flops(model):
    """Multiply-adds of one forward pass of one image through ``model`` (built with a static input shape)."""
    flops = 0
    for layer in _weighted_layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        if isinstance(layer, keras.layers.Dense):
            flops += math.prod(kernel.shape) * math.prod(layer.output.shape[1:-1] or (1,))
        elif hasattr(layer, "kernel_size"):  # Conv1D/2D/3D: kernel (k..., C_in / groups, C_out)
            flops += math.prod(kernel.shape) * _output_positions(layer)
    return flops


def model_stats(model):
    """``{"params", "trainable_params", "flops"}`` of a built model.

    ``params`` counts every weight, BN moving statistics included (keras' ``count_params``: 25,636,712 for
    keras.applications' ResNet50); ``trainable_params`` leaves them out (torchvision's and the paper's count:
    11.69M for ResNet-18).
    """
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return {"params": model.count_params(), "trainable_params": trainable, "flops": count_flops(model)}
