"""Numeric precision and XLA compilation: what a run uses on this machine.

    setting = precision.resolve("auto", "auto")    # float32, no XLA on a CPU; mixed float16 + XLA on a GPU
    print(setting.description)
    with setting.scope():                            # the Keras dtype policy while the model is built
        model = keras_resnet.build("resnet20")
    model.compile(optimizer=setting.optimizer(keras.optimizers.SGD(0.1)), loss=..., jit_compile=setting.jit_compile)

``auto`` picks per device what ``benchmarks/throughput.py`` measured: on a CPU float32 without XLA (XLA slows
training there; bfloat16 is faster only on CPUs with bfloat16 units, pass it explicitly there; an explicit float16
gets XLA, without which TensorFlow's CPU kernels run it about 15x slower); on a GPU mixed float16 with XLA (tensor
cores; NVIDIA's published ResNet-50 figures are ~2.6x float32 with AMP + XLA); on a TPU mixed bfloat16 with XLA (its
native type; TPUs always compile). Mixed precision computes in 16 bits and keeps the variables in float32; the
network's classifier computes in float32, so outputs (and the loss) stay float32. float16's narrow range needs loss
scaling: ``optimizer`` wraps the optimizer in ``keras.optimizers.LossScaleOptimizer``, which skips a step whose
gradients overflowed and lowers the scale.
"""

import contextlib
import dataclasses

import keras

from keras_resnet.support.choices import JIT_COMPILE, PRECISIONS

DEVICES = ("cpu", "gpu", "tpu")
# Keras dtype policy of each precision: 16-bit compute, float32 variables.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# What "auto" picks per device: (precision, XLA), and why.
AUTO = {
    "cpu": ("float32", False,
            "float32 runs well on every CPU, bfloat16 only on those with bfloat16 units; XLA slows training"),
    "gpu": ("float16", True, "tensor cores with loss scaling, fused by XLA"),
    "tpu": ("bfloat16", True, "the TPU's native type; TPUs always compile"),
}
# Where "auto" XLA differs for an explicitly chosen precision: (device, precision) -> (XLA, why).
AUTO_JIT = {
    ("cpu", "float16"): (True, "TensorFlow's CPU kernels emulate float16 slowly, XLA compiles it to fast code"),
}


@dataclasses.dataclass(frozen=True)
class Precision:
    """A resolved setting: the Keras dtype policy, whether to compile with XLA, and a one-line description."""

    policy: str
    jit_compile: bool
    device: str
    description: str

    @property
    def loss_scaling(self):
        """Whether the optimizer needs loss scaling (float16's range is too narrow for small gradients)."""
        return self.policy == "mixed_float16"

    def apply(self):
        """Sets the global Keras dtype policy (layers built afterwards compute in it)."""
        keras.mixed_precision.set_global_policy(self.policy)

    @contextlib.contextmanager
    def scope(self):
        """The dtype policy while the block runs (build the model in it); the previous policy afterwards."""
        previous = keras.mixed_precision.global_policy()
        self.apply()
        try:
            yield self
        finally:
            keras.mixed_precision.set_global_policy(previous)

    def optimizer(self, optimizer):
        """``optimizer`` wrapped in a ``LossScaleOptimizer`` for float16 (dynamic scale), unchanged otherwise."""
        if self.loss_scaling and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer


def device_kind():
    """``"tpu"``, ``"gpu"`` or ``"cpu"``: the accelerator the Keras backend computes on."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        for kind in ("TPU", "GPU"):
            if tf.config.list_logical_devices(kind):
                return kind.lower()
        return "cpu"
    if backend == "jax":
        import jax

        return {"tpu": "tpu", "gpu": "gpu", "cuda": "gpu", "rocm": "gpu"}.get(jax.devices()[0].platform, "cpu")
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return "cpu"


def resolve(precision="auto", jit_compile="auto", device=None, deterministic=False):
    """The ``Precision`` to use: ``precision`` in ``PRECISIONS``, ``jit_compile`` in ``JIT_COMPILE`` (or a bool),
    ``device`` in ``DEVICES`` (default: this machine's, ``device_kind()``). With ``deterministic`` (TensorFlow's op
    determinism, ``training.make_deterministic``) XLA is off: Keras compiles without it there anyway, so ``auto``
    says so and ``on`` is refused."""
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}.")
    if isinstance(jit_compile, bool):
        jit_compile = "on" if jit_compile else "off"
    if jit_compile not in JIT_COMPILE:
        raise ValueError(f"Unknown jit_compile {jit_compile!r}: choose one of {', '.join(JIT_COMPILE)}.")
    device = device or device_kind()
    if device not in DEVICES:
        raise ValueError(f"Unknown device {device!r}: choose one of {', '.join(DEVICES)}.")
    auto_precision, auto_jit, why = AUTO[device]
    chosen = auto_precision if precision == "auto" else precision
    if jit_compile == "auto" and (device, chosen) in AUTO_JIT:
        auto_jit, why = AUTO_JIT[device, chosen]
    if deterministic and keras.backend.backend() == "tensorflow":
        if jit_compile == "on":
            raise ValueError("--jit-compile on cannot be combined with --deterministic: TensorFlow's op determinism "
                             "excludes XLA (Keras would compile without it); pass --jit-compile auto or off.")
        if auto_jit:
            auto_jit, why = False, f"{why}; XLA off for --deterministic, which TensorFlow's XLA does not support"
    jit = auto_jit if jit_compile == "auto" else jit_compile == "on"
    policy = POLICIES[chosen]
    picked = [name for name, value in (("precision", precision), ("jit_compile", jit_compile)) if value == "auto"]
    reason = f" (auto {' and '.join(picked)} on {device}: {why})" if picked else ""
    description = (f"{policy} ({'16-bit compute, float32 variables' if chosen != 'float32' else 'full precision'}"
                   f"{', loss scaling' if chosen == 'float16' else ''}), XLA {'on' if jit else 'off'}{reason}")
    return Precision(policy, jit, device, description)


def with_dtype_policy(model, policy):
    """A copy of the functional ``model`` that computes under the Keras dtype ``policy`` (e.g. ``"mixed_bfloat16"``)
    with the same weights (variables stay float32); the last layer (the classifier) keeps float32, so the outputs
    stay float32 as in training. Used to export a bfloat16 SavedModel from a float32 model.
    Shapes: as ``model``'s.
    """
    config = model.get_config()
    classifier = model.layers[-1].name
    for layer in config["layers"]:
        dtype = layer["config"].get("dtype")
        if layer["config"]["name"] != classifier and isinstance(dtype, dict) and dtype.get("class_name") == \
                "DTypePolicy":
            layer["config"]["dtype"] = {**dtype, "config": {"name": policy}}
    twin = model.__class__.from_config(config)
    twin.set_weights(model.get_weights())
    return twin
