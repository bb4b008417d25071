"""Precision and XLA settings: what auto picks per device, outputs that stay float32, float16 with loss scaling."""

import dataclasses
import json

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import data
from keras_resnet.training import TrainConfig, precision, train


@pytest.mark.parametrize("device, asked, policy, jit", [
    ("cpu", ("auto", "auto"), "float32", False),
    ("gpu", ("auto", "auto"), "mixed_float16", True),
    ("tpu", ("auto", "auto"), "mixed_bfloat16", True),
    ("cpu", ("bfloat16", "auto"), "mixed_bfloat16", False),
    ("cpu", ("float16", "on"), "mixed_float16", True),
    ("cpu", ("float16", "auto"), "mixed_float16", True),  # TensorFlow's CPU float16 kernels are slow without XLA
    ("cpu", ("float16", "off"), "mixed_float16", False),
    ("gpu", ("float32", "off"), "float32", False),
    ("gpu", ("bfloat16", True), "mixed_bfloat16", True),
    ("tpu", ("auto", "off"), "mixed_bfloat16", False),
])
def test_resolution_table(device, asked, policy, jit):
    setting = precision.resolve(*asked, device=device)
    assert (setting.policy, setting.jit_compile, setting.device) == (policy, jit, device)
    assert setting.loss_scaling == (policy == "mixed_float16")
    assert "\n" not in setting.description and f"XLA {'on' if jit else 'off'}" in setting.description
    assert ("auto" in setting.description) == ("auto" in asked)


def test_no_xla_with_determinism():
    """TensorFlow's op determinism excludes XLA (Keras then compiles without it): auto says so, on is refused."""
    for device, precision_name in (("cpu", "float16"), ("gpu", "auto")):
        setting = precision.resolve(precision_name, "auto", device=device, deterministic=True)
        assert not setting.jit_compile and "XLA off for --deterministic" in setting.description
        assert precision.resolve(precision_name, "auto", device=device).jit_compile
    with pytest.raises(ValueError, match="--jit-compile on cannot be combined with --deterministic"):
        precision.resolve("float16", "on", device="cpu", deterministic=True)
    assert not precision.resolve("float32", "off", device="gpu", deterministic=True).jit_compile


def test_auto_on_this_machine_and_bad_values():
    setting = precision.resolve()
    assert setting.device == precision.device_kind()
    if setting.device == "cpu":
        assert (setting.policy, setting.jit_compile) == ("float32", False)
    with pytest.raises(ValueError, match="Unknown precision 'half'.*float16"):
        precision.resolve("half")
    with pytest.raises(ValueError, match="Unknown jit_compile 'yes'.*auto, on, off"):
        precision.resolve("auto", "yes")
    with pytest.raises(ValueError, match="Unknown device"):
        precision.resolve(device="npu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        setting.policy = "float16"


def test_bfloat16_network_computes_in_bfloat16_and_outputs_float32():
    before = keras.mixed_precision.global_policy().name
    with precision.resolve("bfloat16", "off", device="cpu").scope():
        model = keras_resnet.build("resnet8", input_shape=(16, 16, 3), classes=10)
    assert keras.mixed_precision.global_policy().name == before  # the scope restores the policy
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32" for layer in convs)
    assert model.output.dtype == "float32"
    probabilities = model.predict(np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)), verbose=0)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-3)


@pytest.mark.slow  # float16 is slow on CPU
def test_float16_training_is_loss_scaled_and_finite():
    """A few float16 steps on 8x8 digits (TensorFlow runs float16 slowly on CPUs): the optimizer scales the loss,
    the loss stays finite and the model learns something."""
    keras.utils.set_random_seed(0)
    setting = precision.resolve("float16", "off", device="cpu")
    source = data.load("digits", image_size=8)
    with setting.scope():
        model = keras_resnet.build("resnet8", input_shape=source.image_shape, classes=source.num_classes)
        optimizer = setting.optimizer(keras.optimizers.SGD(0.05, momentum=0.9))
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert setting.optimizer(optimizer) is optimizer
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", jit_compile=setting.jit_compile)
    history = model.fit(data.train_dataset(source, 32, epochs=3, steps=4), epochs=3, verbose=0).history
    assert model.output.dtype == "float32"
    losses = history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.slow  # two 30-epoch runs, ~90 s
def test_float16_trains_to_float32_accuracy_on_digits(tmp_path):
    """Issue 14: ``train --precision float16`` (loss-scaled, XLA-compiled on CPU by ``auto``) trains as far as the
    same float32 run: ResNet-8 on the 8x8 digits, 30 epochs of batch 32, same seed and batches. Measured here: 93.33 %
    against 93.61 % with the first epoch order, 93.33 % against 92.22 % with index_shuffle's, 89.17 % against
    91.67 % since in-memory batches are augmented at once: one run's accuracy on 360 images scatters by about 1.5
    points (a binomial standard deviation), so the test allows float16 3 points (11 images) less; a float16 run that
    does not train (loss scaling or XLA broken) ends tens of points lower."""
    summaries = {}
    for name in ("float32", "float16"):
        config = TrainConfig(model="resnet8", dataset="digits", image_size=8, epochs=30, batch_size=32,
                             precision=name, output_dir=str(tmp_path / name), verbose=0)
        train(config)
        summaries[name] = json.loads((tmp_path / name / "summary.json").read_text())
    assert (summaries["float16"]["precision"], summaries["float16"]["jit_compile"]) == ("mixed_float16", True)
    assert (summaries["float32"]["precision"], summaries["float32"]["jit_compile"]) == ("float32", False)
    assert summaries["float32"]["test_accuracy"] > 0.9  # trained far enough for the comparison to mean something
    assert summaries["float16"]["test_accuracy"] >= summaries["float32"]["test_accuracy"] - 0.03
