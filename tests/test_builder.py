"""Acceptance of the core builders: counts against [He16], keras.applications shapes, errors that name the fix."""

import os
import subprocess
import sys

import keras
import pytest

import keras_resnet
from keras_resnet.applications.builder import ResNet, cifar_resnet, imagenet_resnet
from keras_resnet.models.spec import ArchSpec
from keras_resnet.models.stats import model_stats

# [He16] Table 6 parameters, with the paper's rounding (decimals).
CIFAR_PARAMS = {"resnet20": (0.27, 2), "resnet32": (0.46, 2), "resnet44": (0.66, 2), "resnet56": (0.85, 2),
                "resnet110": (1.7, 1), "resnet1202": (19.4, 1)}
DEEPEST = {"resnet1202", "resnet101", "resnet152"}  # built in the slow suite only
# [He16] Table 1: parameters (torchvision's counts, M) and multiply-adds (e9) at 224x224.
IMAGENET_COUNTS = {"resnet18": (11.69, 1.8), "resnet34": (21.80, 3.6), "resnet50": (25.56, 3.8),
                   "resnet101": (44.55, 7.6), "resnet152": (60.19, 11.3)}
KERAS_APPLICATIONS_PARAMS = {"resnet50": 25_636_712, "resnet101": 44_707_176, "resnet152": 60_419_944}


def _params(names):
    return [pytest.param(name, marks=pytest.mark.slow) if name in DEEPEST else name for name in names]


@pytest.mark.parametrize("name", _params(CIFAR_PARAMS))
def test_cifar_parameter_counts_match_the_paper(name):
    expected, decimals = CIFAR_PARAMS[name]
    assert round(model_stats(keras_resnet.build(name))["trainable_params"] / 1e6, decimals) == expected


@pytest.mark.parametrize("name", _params(IMAGENET_COUNTS))
def test_imagenet_parameters_and_flops_match_the_paper(name):
    params, flops = IMAGENET_COUNTS[name]
    stats = model_stats(keras_resnet.build(name))
    assert stats["trainable_params"] / 1e6 == pytest.approx(params, rel=0.005)
    assert stats["flops"] / 1e9 == pytest.approx(flops, rel=0.05)
    if name in KERAS_APPLICATIONS_PARAMS:
        assert stats["params"] == KERAS_APPLICATIONS_PARAMS[name]


def test_preact_cifar_bottlenecks_match_he16b():
    """[He16b] Table 3: ResNet-164 has 1.7M parameters."""
    assert round(model_stats(keras_resnet.build("resnet164v2"))["trainable_params"] / 1e6, 1) == 1.7


def test_plain_twins_have_the_same_weights_as_option_a_nets():
    plain, residual = keras_resnet.build("plain20"), keras_resnet.build("resnet20")
    assert plain.count_params() == residual.count_params()
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    assert sum(isinstance(layer, keras.layers.Add) for layer in residual.layers) == 9  # 3n shortcuts


@pytest.mark.parametrize("pooling, shape", [(None, (None, 5, 5, 2048)), ("avg", (None, 2048)), ("max", (None, 2048))])
def test_feature_shapes_without_top(pooling, shape):
    model = keras_resnet.ResNet50(weights=None, include_top=False, pooling=pooling, input_shape=(160, 160, 3))
    assert model.output.shape == shape


def test_feature_shapes_of_cifar_and_basic_nets():
    assert keras_resnet.ResNet20(include_top=False, input_shape=(32, 32, 3)).output.shape == (None, 8, 8, 64)
    assert keras_resnet.build("resnet164v2", include_top=False, pooling="avg").output.shape == (None, 256)
    assert keras_resnet.ResNet18(include_top=False, pooling="avg", input_shape=(64, 64, 3)).output.shape == (None, 512)
    model = keras_resnet.ResNet34(include_top=False)  # default: any input size
    assert model.input.shape == (None, None, None, 3)
    assert model(keras.ops.zeros((1, 96, 64, 3))).shape == (1, 3, 2, 512)


def test_top_and_classes():
    model = keras_resnet.build("resnet56", classes=100, input_shape=(40, 40, 3))
    assert model.output.shape == (None, 100)
    assert model.get_layer("predictions").activation.__name__ == "softmax"
    logits = keras_resnet.build("resnet20", classifier_activation=None)
    assert logits.get_layer("predictions").activation.__name__ == "linear"


def test_input_tensor_is_used():
    inputs = keras.Input((48, 48, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    model = keras_resnet.build("resnet20", input_tensor=x)
    assert model.inputs[0] is inputs and model.output.shape == (None, 10)


def test_options_reach_the_layers():
    model = keras_resnet.build("resnet50", stride_on="3x3", use_bias=False, input_shape=(64, 64, 3))
    assert model.get_layer("conv3_block1_2_conv").strides == (2, 2)
    assert model.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert not model.get_layer("conv1_conv").use_bias
    decayed = keras_resnet.build("resnet20", weight_decay=1e-4, bn_momentum=0.99)
    assert decayed.get_layer("predictions").kernel_regularizer.l2 == pytest.approx(5e-5)
    assert decayed.get_layer("conv1_bn").momentum == 0.99
    assert len(decayed.losses) == 20  # 19 convolutions + the classifier


def test_generic_entry_points():
    assert imagenet_resnet(18, input_shape=(32, 32, 3)).name == "resnet18"
    assert cifar_resnet(50).get_layer("conv4_block8_out").output.shape == (None, 8, 8, 64)  # CIFAR depth 50 (n=8)
    assert cifar_resnet(86).output.shape == (None, 10)
    custom = ResNet(ArchSpec("cifar", "bottleneck", (1, 2, 1), shortcut="C", preact=True), name="tiny")
    assert custom.output.shape == (None, 10) and custom.name == "tiny"


# --- bad input: a ValueError that names the fix ------------------------------------------------------------------

def test_bad_cifar_depth():
    with pytest.raises(ValueError, match=r"depth must be 6n\+2 for CIFAR ResNets.*got 21"):
        cifar_resnet(21)
    with pytest.raises(ValueError, match=r"6n\+2.*got 21.*resnet20"):
        keras_resnet.build("resnet21")


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"Unknown architecture 'resnt50'.*'resnet50'.*list_models"):
        keras_resnet.build("resnt50")


@pytest.mark.parametrize("option", ["D", "AB", 1])
def test_bad_shortcut_option(option):
    with pytest.raises(ValueError, match=r"shortcut must be 'A', 'B' or 'C'"):
        keras_resnet.build("resnet20", shortcut=option)


def test_imagenet_weights_need_1000_classes():
    with pytest.raises(ValueError, match=r"include_top=False"):
        keras_resnet.ResNet50(weights="imagenet", classes=10)


def test_input_too_small():
    with pytest.raises(ValueError, match=r"too small for 'resnet50'.*>= 32"):
        keras_resnet.ResNet50(weights=None, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match=r"input_shape must be"):
        keras_resnet.build("resnet20", input_shape=(32, 32))


def test_bad_pooling():
    with pytest.raises(ValueError, match=r"pooling must be one of None, 'avg', 'max', got 'mean'"):
        keras_resnet.build("resnet20", include_top=False, pooling="mean")


def test_other_bad_options():
    with pytest.raises(ValueError, match=r"stride_on must be one of"):
        keras_resnet.build("resnet50", stride_on="2x2")
    with pytest.raises(ValueError, match=r"classes must be a positive integer"):
        keras_resnet.build("resnet20", classes=0)
    with pytest.raises(ValueError, match=r"classes must be a positive integer, got True"):
        keras_resnet.build("resnet20", classes=True)


def test_shortcut_none_means_the_default_everywhere():
    """``shortcut=None`` is the family's option (A for CIFAR nets) in ``build`` as in ``ResNet``."""
    for model in (keras_resnet.build("resnet20", shortcut=None), cifar_resnet(20, shortcut=None)):
        assert any(isinstance(layer, keras_resnet.ZeroPadShortcut) for layer in model.layers)
    with pytest.raises(ValueError, match=r"built of bottleneck blocks"):
        keras_resnet.build("resnet50", block="basic")


def test_include_top_needs_a_static_input_shape():
    """keras.applications' rule: a classifier on top needs fixed sides (checked before anything is built)."""
    for shape in [(None, None, 3), (224, None, 3)]:
        with pytest.raises(ValueError, match=r"include_top=True needs a static input_shape.*include_top=False with "
                                             r"pooling='avg'"):
            keras_resnet.ResNet50(weights=None, input_shape=shape)
    with pytest.raises(ValueError, match=r"static input_shape, as in keras.applications, got input_shape=\(None, "
                                         r"None, 3\): pass fixed sides \(e.g. \(32, 32, 3\)\)"):
        keras_resnet.ResNet20(input_shape=(None, None, 3))
    assert keras_resnet.ResNet20(include_top=False, pooling="avg", input_shape=(None, None, 3)).output.shape == \
        (None, 64)


@pytest.mark.parametrize("name, weights, shape, published", [
    ("ResNet50", "imagenet", (64, 64, 3), r"\(224, 224, 3\)"),
    ("ResNet18", "imagenet", (None, None, 3), r"\(224, 224, 3\)"),
    ("ResNet20", "cifar10", (64, 64, 3), r"\(32, 32, 3\)"),
])
def test_weights_with_their_classifier_take_the_published_input_size(name, weights, shape, published):
    """keras.applications' rule for weights="imagenet" with include_top=True, for every weights tag: refused
    before any download."""
    with pytest.raises(ValueError, match=rf"weights='{weights}' with include_top=True takes the published "
                                         rf"input_shape={published}, got input_shape=.*include_top=False"):
        getattr(keras_resnet, name)(weights=weights, input_shape=shape)


def test_channels_first_is_refused_in_one_line_where_it_cannot_run(tmp_path):
    """With TensorFlow's own CPU convolution (oneDNN off, as on CPUs without AVX-512), channels_first models are
    refused when built and when loaded, in one line that names the fix, instead of an UnimplementedError at the
    first convolution; where it can run, the same model is built, saved and run."""
    script = """
import sys, keras, numpy as np
keras.config.set_image_data_format("channels_first")
import keras_resnet
from keras_resnet.models.network import runs_channels_first
if sys.argv[1] == "build":
    model = keras_resnet.build("resnet8", classes=3)
    model.predict(np.zeros((1, 3, 32, 32), "float32"), verbose=0)
    model.save(sys.argv[2])
else:
    keras.saving.load_model(sys.argv[2], safe_mode=True)
print("ran", runs_channels_first())
"""
    path = str(tmp_path / "first.keras")

    def run(step, onednn):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3"}
        return subprocess.run([sys.executable, "-c", script, step, path], env=env, capture_output=True, text=True)

    supported = run("build", "1")
    if "ran True" not in supported.stdout:
        pytest.skip("this CPU runs no channels_first convolution even with oneDNN")
    for step in ("build", "load"):
        refused = run(step, "0")
        assert refused.returncode == 1 and "UnimplementedError" not in refused.stderr, refused.stderr
        last = refused.stderr.strip().splitlines()[-1]
        assert last.startswith("ValueError: channels_first models cannot run") and "TF_ENABLE_ONEDNN_OPTS=1" in last
    assert "ran True" in run("load", "1").stdout
