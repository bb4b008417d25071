"""``ResNetModel``: a Keras functional model that carries its ``ArchSpec``.

Every network the builders make is one, and so is the model a training run saves: ``model.spec`` is the
architecture and ``model.spec.block_names`` its block boundaries, saved in the model's config and read back by
``keras.saving.load_model(..., safe_mode=True)``. Analysis and export read it instead of parsing names; models saved
before it existed load as plain functional models (``spec_of`` returns ``None`` for them).
"""

import contextlib
import functools
import sys

import keras

from keras_resnet.models.contract import InferenceContract, contract_of
from keras_resnet.models.spec import ArchSpec


@contextlib.contextmanager
def deep_graph(layers):
    """Keras walks a functional graph recursively when it builds (or loads) the model: ResNet-1202 (about 3,600
    layers) needs more than Python's default 1,000 frames. The limit is raised while the block runs."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 4 * layers + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


CHANNELS_FIRST_FIX = ("build and load models with channels_last (keras.config.set_image_data_format('channels_last'), "
                      "the default), or start the process with TF_ENABLE_ONEDNN_OPTS=1")


@functools.cache
def runs_channels_first():
    """Whether this process's backend and default device run a ``channels_first`` convolution: TensorFlow's own CPU
    Conv2D (oneDNN off: its default on CPUs without AVX-512, or ``TF_ENABLE_ONEDNN_OPTS=0``) supports NHWC only."""
    if keras.backend.backend() != "tensorflow":
        return True
    try:
        keras.ops.convert_to_numpy(keras.ops.conv(keras.ops.ones((1, 1, 2, 2)), keras.ops.ones((1, 1, 1, 1)),
                                                  data_format="channels_first"))
    except Exception as error:  # the backend's own error type; only its NHWC refusal says no
        return "NHWC" not in str(error)
    return True


def check_data_format(data_format):
    """Refuses ``channels_first`` in one line where this process cannot run it (``runs_channels_first``), before
    anything is built or run, instead of TensorFlow's ``UnimplementedError`` at the first convolution."""
    if data_format == "channels_first" and not runs_channels_first():
        raise ValueError("channels_first models cannot run in this process: TensorFlow's CPU convolution without "
                         f"oneDNN supports channels_last (NHWC) only; {CHANNELS_FIRST_FIX}.")


def data_format_of(model):
    """``"channels_first"`` if any layer of ``model`` computes in it, else ``"channels_last"``."""
    formats = {getattr(layer, "data_format", None) for layer in model.layers}
    return "channels_first" if "channels_first" in formats else "channels_last"


@keras.saving.register_keras_serializable(package="keras_resnet")
class ResNetModel(keras.Model):
    """A functional model (``ResNetModel(inputs, outputs, spec=..., name=...)``) with ``spec`` in its config.

    ``weights_tag``: the published weights the model was built with (``ResNet(spec, weights="imagenet-v2")``, or a
    converted checkpoint declared as such), also in its config, so that evaluation, export and prediction feed it
    images as the weights' publisher did (``weight_records``); ``None`` for other models.

    ``contract``: the model's ``contract.InferenceContract`` (input size, view, normalisation, class names, weights
    tag), also in its config, so that a model file copied alone knows how to be fed; ``preprocess_input`` applies its
    normalisation.
    """

    def __init__(self, *args, spec=None, weights_tag=None, contract=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec = spec
        self.weights_tag = weights_tag
        self.contract = contract

    def preprocess_input(self, images):
        """Raw ``[0, 255]`` RGB pixels (the model's data format, at its input size) -> what this model takes: the
        normalisation of its weights (the identity when the model normalises itself), from its contract."""
        return contract_of(self).preprocess_input(images)

    def get_config(self):
        config = super().get_config()
        if self.spec is not None:
            config["spec"] = self.spec.to_config()
        if self.weights_tag is not None:
            config["weights_tag"] = self.weights_tag
        if isinstance(self.contract, InferenceContract):
            config["contract"] = self.contract.to_config()
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        spec = config.pop("spec", None)
        weights_tag = config.pop("weights_tag", None)
        contract = config.pop("contract", None)
        with deep_graph(len(config.get("layers", ()))):
            model = super().from_config(config, custom_objects=custom_objects)
        check_data_format(data_format_of(model))
        model.spec = ArchSpec.from_config(spec) if spec is not None else None
        model.weights_tag = weights_tag
        model.contract = InferenceContract.from_config(contract) if contract is not None else None
        return model


def weights_tag_of(model):
    """The weights tag a model was built with (``ResNetModel.weights_tag``), or ``None``."""
    tag = getattr(model, "weights_tag", None)
    return tag if isinstance(tag, str) else None


def spec_of(model):
    """The ``ArchSpec`` a model carries, or ``None`` (a model from elsewhere, or saved before specs existed)."""
    return getattr(model, "spec", None) if isinstance(getattr(model, "spec", None), ArchSpec) else None
