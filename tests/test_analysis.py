"""The seeds' experiments: lesions equal hand-removed branches, residual nets survive them, paths are binomial."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_resnet
from conftest import randomize_batchnorm
from keras_resnet import analysis, data
from keras_resnet import cli

BLOCK_TYPES = {
    "basic, option A": ("resnet8", {}),
    "basic, option C": ("resnet8", {"shortcut": "C"}),
    "bottleneck, option B": ("resnet11", {"block": "bottleneck", "shortcut": "B"}),
    "pre-activation basic": ("resnet8v2", {}),
    "pre-activation bottleneck": ("resnet11v2", {"block": "bottleneck", "shortcut": "B"}),
}


@pytest.fixture(scope="module")
def degradation_dir(tmp_path_factory):
    """plain-20 and ResNet-20 trained on the digits with the same recipe, through the command."""
    folder = tmp_path_factory.mktemp("degradation")
    assert cli.main(["experiment", "degradation", "--dataset", "digits", "--depths", "20", "--epochs", "6",
                     "--batch-size", "64", "--output-dir", str(folder)]) == 0
    return folder


def _silence_branch(model, name):
    """Removes a block's residual branch by hand: its last layer outputs zeros (BN gamma = beta = 0, or a zero
    convolution in pre-activation blocks)."""
    branch = [layer for layer in model.layers  # {name}_1_conv .. {name}_3_bn; {name}_0_* is the shortcut
              if layer.name.startswith(f"{name}_") and layer.name[len(name) + 1] in "123456789" and layer.weights]
    for weight in branch[-1].weights:
        if "moving" not in weight.path:
            weight.assign(np.zeros(weight.shape, "float32"))


@pytest.mark.parametrize("block_type", BLOCK_TYPES)
def test_deleting_a_block_is_removing_its_branch(block_type, rng):
    name, options = BLOCK_TYPES[block_type]
    model = keras_resnet.build(name, **options)
    randomize_batchnorm(model, rng)
    images = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    network = analysis.Network(model)
    np.testing.assert_array_equal(np.asarray(network.compose()(images, training=False)),
                                  np.asarray(model(images, training=False)))  # deleting nothing: the identity
    for index, segment in enumerate(network.segments):
        lesioned = np.asarray(network.compose({index})(images, training=False))
        by_hand = keras.models.clone_model(model)
        by_hand.set_weights(model.get_weights())
        _silence_branch(by_hand, segment.name)
        np.testing.assert_allclose(lesioned, np.asarray(by_hand(images, training=False)), atol=1e-5)


@pytest.mark.slow  # trains the degradation experiment's eight networks
def test_residual_nets_survive_deletions_plain_nets_do_not(degradation_dir):
    source = data.load("digits")
    test = data.eval_dataset(source, 360)
    losses = {}
    for name in ("resnet20", "plain20"):
        model = keras.saving.load_model(degradation_dir / "runs" / name / "model.keras", safe_mode=True)
        results = analysis.lesion_study(model, test, max_k=2, draws=2)
        singles = [row["error"] for row in results["single"] if not row["downsampling"]]
        losses[name] = np.mean(singles) - results["base_error"]
        assert results["base_error"] < 0.5, f"{name} did not train"
    assert losses["plain20"] > losses["resnet20"] + 0.1, losses


@pytest.mark.slow  # trains the degradation experiment's eight networks
def test_degradation_outputs(degradation_dir):
    results = json.loads((degradation_dir / "degradation.json").read_text())
    assert set(results["runs"]) == {"plain20", "resnet20"} and results["epochs"] == 6
    for run in results["runs"].values():
        assert len(run["train_error"]) == len(run["test_error"]) == 6
    assert Image.open(degradation_dir / "degradation.png").size == (1000, 400)


@pytest.mark.slow  # trains the degradation experiment's eight networks
def test_lesion_and_paths_commands(degradation_dir, tmp_path):
    model = str(degradation_dir / "runs" / "resnet20" / "model.keras")
    assert cli.main(["experiment", "lesion", model, "--max-k", "2", "--draws", "1",
                     "--output-dir", str(tmp_path)]) == 0
    lesion = json.loads((tmp_path / "lesion.json").read_text())
    assert [row["name"] for row in lesion["single"]][:3] == ["conv2_block1", "conv2_block2", "conv2_block3"]
    assert [row["k"] for row in lesion["deleted"]] == [1, 2] and len(lesion["swapped"]) == 2
    assert Image.open(tmp_path / "lesion.png").size == (1300, 400)
    assert cli.main(["experiment", "paths", model, "--lengths", "1", "4", "9", "--samples", "1",
                     "--images", "8", "--output-dir", str(tmp_path)]) == 0
    paths = json.loads((tmp_path / "paths.json").read_text())
    assert paths["distribution"]["counts"] == [math.comb(9, k) for k in range(10)]
    assert paths["gradients"]["lengths"] == [1, 4, 9] and len(paths["gradients"]["magnitude"]) == 3
    assert Image.open(tmp_path / "paths.png").size == (1300, 400)


def test_resnet110_path_lengths_are_binomial(rng):
    model = keras_resnet.build("resnet110")
    distribution = analysis.path_length_distribution(model)
    assert distribution["n"] == 54
    assert distribution["counts"] == [math.comb(54, k) for k in range(55)]
    assert sum(distribution["counts"]) == 2 ** 54
    assert distribution["binomial"][27] == pytest.approx(math.comb(54, 27) / 2 ** 54)
    images = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    gradients = analysis.gradient_by_path_length(model, (images, np.arange(4)), lengths=[1, 27, 54], samples=1)
    assert len(gradients["magnitude"]) == 3 and all(np.isfinite(gradients["magnitude"]))
    assert gradients["magnitude"][-1] > 0  # the gradient reaches the input through all 54 residual branches
    assert gradients["total"] == pytest.approx([m * math.comb(54, k)
                                                for m, k in zip(gradients["magnitude"], [1, 27, 54])])


def test_bad_input(rng):
    mlp = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="not a keras_resnet residual or plain network"):
        analysis.lesion_study(mlp, (np.zeros((2, 4)), np.zeros(2)))
    with pytest.raises(ValueError, match="not sequence models such as WRBN"):
        analysis.Network(keras_resnet.WRBN(16, 3, lstm_units=4))
    model = keras_resnet.build("resnet14")
    images, labels = rng.normal(size=(4, 32, 32, 3)).astype("float32"), np.arange(4)
    with pytest.raises(ValueError, match=r"k must be between 1 and the 4 deletable"):
        analysis.lesion_study(model, (images, labels), max_k=5)
    with pytest.raises(ValueError, match="need labels"):
        analysis.lesion_study(model, tf.data.Dataset.from_tensor_slices(images).batch(2))
    with pytest.raises(ValueError, match="plain network: it has one path"):
        analysis.path_length_distribution(keras_resnet.build("plain14"))
