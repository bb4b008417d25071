"""Training and inference speed of our backend-agnostic ResNet-50 under Keras' JAX backend, against keras.applications'
ResNet-50 in the same run, per precision; each row with its achieved FLOP/s and the fraction of the device's measured
matmul peak, and the published GPU figures printed beside the table.

    python benchmarks/throughput_jax.py                  # on a GPU: ResNet-50, batch 256, 224px, float32 and bfloat16
    python benchmarks/throughput_jax.py --image-size 64 --batch-size 4 --steps 2 --rounds 1 --cifar-batch 8 \
        --matmul-size 1024                               # a quick look on a CPU

The script sets ``KERAS_BACKEND=jax`` itself and needs no TensorFlow: only ``keras``, ``jax`` and this package's
modelling modules. Each configuration is built under its Keras dtype policy (``float32``, or ``mixed_bfloat16``:
bfloat16 compute, float32 variables), and timed as JAX programs are meant to be run: one ``jax.jit``-compiled step
over the model's ``stateless_call`` (training: forward, backward and the SGD-with-momentum update of
``optimizer.stateless_apply``, batch-norm statistics updated, the state's buffers donated; inference: the forward
pass in inference mode) on one fixed random batch that lives on the device, so the host's input pipeline is not
measured. A measurement times ``--steps`` consecutive steps and waits for the last (``block_until_ready``); the
configurations are measured in alternating rounds and each keeps its best. The peak is an 8192^2 matmul of the same
dtype under the same default precision (JAX lets float32 matmuls and convolutions use TF32 on NVIDIA GPUs).
FLOPs: ``keras_resnet.models.stats.count_flops`` multiply-adds x 2 per image forward, x 3 for a training step.
"""

import functools
import json
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"  # before keras is imported; this benchmark is about the JAX backend

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_resnet  # noqa: E402
from keras_resnet.models.stats import count_flops  # noqa: E402
from keras_resnet.support.tables import format_table  # noqa: E402
from keras_resnet.support.validation import positive_int  # noqa: E402
from timing import argument_parser, check_models  # noqa: E402

TRAIN_FLOPS_PER_FORWARD = 3
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
REFERENCE = "ResNet50 (keras.applications)"
# Published training figures for the same network family (../shared/PAPER.md): NVIDIA's TensorFlow ResNet-50 v1.5
# (stride 2 on the 3x3 convolutions, about 4.1 GFLOPs against v1's 3.9) on one A100-40GB, with its own DALI input
# pipeline, batch 256.
PUBLISHED = [("NVIDIA TF ResNet-50 v1.5, one A100-40GB, AMP (float16) + XLA, train", 2375),
             ("NVIDIA TF ResNet-50 v1.5, one A100-40GB, TF32 + XLA, train", 909)]


class Stepper:
    """Compiled train and inference steps of one model on one fixed batch that lives on the device."""

    def __init__(self, model, batch_size, seed=0):
        rng = np.random.default_rng(seed)
        classes = model.output.shape[-1]
        self.x = jax.device_put(rng.uniform(0, 255, (batch_size, *model.input.shape[1:])).astype("float32"))
        self.y = jax.device_put(rng.integers(0, classes, batch_size).astype("int32"))
        self.batch_size = batch_size
        optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
        optimizer.build(model.trainable_variables)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()

        def loss_and_state(trainable, non_trainable, x, y):
            probabilities, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, keras.ops.cast(probabilities, "float32")), non_trainable

        gradients = jax.value_and_grad(loss_and_state, has_aux=True)

        @functools.partial(jax.jit, donate_argnums=0)
        def train_step(state, x, y):
            trainable, non_trainable, optimizer_state = state
            (loss, non_trainable), grads = gradients(trainable, non_trainable, x, y)
            trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
            return loss, (trainable, non_trainable, optimizer_state)

        @jax.jit
        def infer_step(trainable, non_trainable, x):
            return model.stateless_call(trainable, non_trainable, x, training=False)[0]

        self._train_step, self._infer_step = train_step, infer_step
        self.state = ([v.value for v in model.trainable_variables],
                      [v.value for v in model.non_trainable_variables],
                      [v.value for v in optimizer.variables])

    def train(self):
        loss, self.state = self._train_step(self.state, self.x, self.y)
        return loss

    def infer(self):
        return self._infer_step(self.state[0], self.state[1], self.x)

    def images_per_second(self, kind, steps):
        step = self.train if kind == "train" else self.infer
        jax.block_until_ready(step())  # the previous measurement's work is done before the clock starts
        start = time.perf_counter()
        for _ in range(steps):
            out = step()
        jax.block_until_ready(out)
        return steps * self.batch_size / (time.perf_counter() - start)


def matmul_flops_per_second(dtype, size=8192, repeats=10):
    """FLOP/s of a jit-compiled ``size x size`` matmul in ``dtype``: the device's measured peak for that dtype."""
    key_a, key_b = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(key_a, (size, size), dtype)
    b = jax.random.normal(key_b, (size, size), dtype)
    matmul = jax.jit(jax.numpy.matmul)
    for _ in range(3):
        jax.block_until_ready(matmul(a, b))
    start = time.perf_counter()
    for _ in range(repeats):
        out = matmul(a, b)
    jax.block_until_ready(out)
    return 2 * size ** 3 * repeats / (time.perf_counter() - start)


def flops(rate):
    """A FLOP/s figure in TFLOP/s, or GFLOP/s under one TFLOP/s (a CPU)."""
    return f"{rate / 1e12:.1f} T" if rate >= 1e12 else f"{rate / 1e9:.1f} G"


def build(make, precision):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        return make()
    finally:
        keras.config.set_dtype_policy(previous)


def main(argv=None):
    parser = argument_parser(__doc__, __file__)
    parser.add_argument("--image-size", type=positive_int, default=224, help="ResNet-50 input side (the paper's)")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="ResNet-50 batch (NVIDIA's per GPU)")
    parser.add_argument("--cifar", nargs="*", default=["resnet110"], help="CIFAR nets, timed at --cifar-batch")
    parser.add_argument("--cifar-batch", type=positive_int, default=128, help="the paper's CIFAR mini-batch")
    parser.add_argument("--precisions", nargs="+", default=["bfloat16", "float32"], choices=sorted(POLICIES))
    parser.add_argument("--steps", type=positive_int, default=20, help="consecutive steps per measurement")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="alternating rounds; each configuration keeps its best")
    parser.add_argument("--matmul-size", type=positive_int, default=8192)
    parser.add_argument("--no-reference", action="store_true", help="skip keras.applications' ResNet-50")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    check_models(parser, args.cifar)

    shape = (args.image_size, args.image_size, 3)
    models = [("resnet50 (keras_resnet)", lambda: keras_resnet.ResNet50(weights=None, input_shape=shape),
               args.batch_size)]
    if not args.no_reference:
        models.append((REFERENCE, lambda: keras.applications.ResNet50(weights=None, input_shape=shape),
                       args.batch_size))
    models += [(name, lambda name=name: keras_resnet.build(name), args.cifar_batch) for name in args.cifar]

    device = jax.devices()[0]
    print(f"keras {keras.__version__}, jax {jax.__version__}, device {device.platform}: {device.device_kind}",
          flush=True)
    peaks = {precision: matmul_flops_per_second(getattr(jax.numpy, precision), args.matmul_size)
             for precision in args.precisions}
    for precision, peak in peaks.items():
        print(f"matmul {args.matmul_size}^2 {precision}: {flops(peak)}FLOP/s", flush=True)

    configs, best = [], {}
    for precision in args.precisions:  # the first precision's rows come first, should a run be cut short
        for label, make, batch in models:
            try:
                model = build(make, precision)
            except ValueError as error:  # an input too small for the network, say
                parser.error(str(error))
            stepper = Stepper(model, batch)
            start = time.perf_counter()
            jax.block_until_ready(stepper.train())  # tracing and XLA compilation, outside the timed rounds
            jax.block_until_ready(stepper.infer())
            compile_s = time.perf_counter() - start
            key = (label, precision)
            configs.append((key, batch, model.input.shape[1], 2 * count_flops(model), stepper))
            for kind in ("train", "infer"):
                best[key + (kind,)] = stepper.images_per_second(kind, args.steps)
            print(f"{label} {precision} batch {batch}: train {best[key + ('train',)]:.0f} img/s, "
                  f"infer {best[key + ('infer',)]:.0f} img/s (compiled in {compile_s:.0f} s)", flush=True)
    for _ in range(args.rounds - 1):
        for key, _, _, _, stepper in configs:
            for kind in ("train", "infer"):
                best[key + (kind,)] = max(best[key + (kind,)], stepper.images_per_second(kind, args.steps))

    rows = []
    for (label, precision), batch, side, forward_flops, _ in configs:
        train, infer = best[(label, precision, "train")], best[(label, precision, "infer")]
        train_flops, infer_flops = TRAIN_FLOPS_PER_FORWARD * forward_flops * train, forward_flops * infer
        reference = best.get((REFERENCE, precision, "train")) if label.startswith("resnet50") else None
        reference_infer = best.get((REFERENCE, precision, "infer")) if reference else None
        rows.append({"model": label, "input": f"{side}px",
                     "batch": batch, "precision": precision,
                     "train img/s": f"{train:.0f}", "infer img/s": f"{infer:.0f}",
                     "train FLOP/s": flops(train_flops), "infer FLOP/s": flops(infer_flops),
                     "train % peak": f"{100 * train_flops / peaks[precision]:.0f}%",
                     "infer % peak": f"{100 * infer_flops / peaks[precision]:.0f}%",
                     "train ratio": f"{train / reference:.2f}x" if reference else "-",
                     "infer ratio": f"{infer / reference_infer:.2f}x" if reference else "-"})
    print()
    print(format_table(rows, list(rows[0])))
    print(f"\nPeaks (matmul {args.matmul_size}^2): "
          + ", ".join(f"{p} {flops(v)}FLOP/s" for p, v in peaks.items())
          + f"; best of {args.rounds} alternating rounds of {args.steps} steps; ratios are ours / keras.applications.")
    print("Published, for comparison (training, their own input pipeline; not measured here):")
    for what, rate in PUBLISHED:
        print(f"  {what}: {rate:,} img/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device.device_kind, "keras": keras.__version__, "jax": jax.__version__,
                       "peaks": peaks, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
