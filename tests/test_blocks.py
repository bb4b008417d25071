import keras
import pytest

from keras_resnet.models.blocks import LayerConfig, basic_block, bottleneck_block, shortcut, stage
from keras_resnet.models.layers import ZeroPadShortcut


def _model(block_fn, input_shape, *args, **kwargs):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, block_fn(inputs, *args, **kwargs))


def _layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("option, shortcut_params", [("A", 0), ("B", 16 * 32 + 4 * 32), ("C", 16 * 32 + 4 * 32)])
def test_basic_block_downsampling_shortcut_options(option, shortcut_params):
    """[He16] Sec. 4.1: A is parameter-free, B and C project (1x1 conv + BN) when dimensions increase."""
    model = _model(basic_block, (8, 8, 16), 32, 2, option, LayerConfig(), "b")
    assert model.output.shape == (None, 4, 4, 32)
    branch = 16 * 9 * 32 + 32 * 9 * 32 + 2 * 4 * 32  # two 3x3 convs + their BN (gamma, beta, mean, var)
    assert model.count_params() == branch + shortcut_params
    assert ("ZeroPadShortcut" in _layer_types(model)) == (option == "A")


def test_option_c_projects_identity_shortcuts_too():
    b = _model(basic_block, (8, 8, 16), 16, 1, "B", LayerConfig(), "b")
    c = _model(basic_block, (8, 8, 16), 16, 1, "C", LayerConfig(), "b")
    assert c.count_params() - b.count_params() == 16 * 16 + 4 * 16
    assert c.get_layer("b_0_conv").strides == (1, 1)


def test_plain_block_has_no_addition():
    model = _model(basic_block, (8, 8, 16), 16, 1, "none", LayerConfig(), "b")
    assert "Add" not in _layer_types(model)
    assert model.layers[-1].name == "b_out"


def test_identity_block_adds_its_input():
    """With the residual branch zeroed (last BN gamma = beta = 0), a post-activation block is ReLU(x)."""
    model = _model(basic_block, (4, 4, 8), 8, 1, "A", LayerConfig(), "b")
    bn = model.get_layer("b_2_bn")
    bn.gamma.assign(keras.ops.zeros_like(bn.gamma))
    x = keras.random.normal((2, 4, 4, 8))
    y = model(x, training=False)
    assert float(keras.ops.max(keras.ops.abs(y - keras.ops.relu(x)))) < 1e-6


@pytest.mark.parametrize("stride_on, strided", [("1x1", "b_1_conv"), ("3x3", "b_2_conv")])
def test_bottleneck_stride_placement(stride_on, strided):
    """[He16]: stride on the first 1x1; "v1.5": on the 3x3. The 3x3 pads symmetrically when strided."""
    model = _model(bottleneck_block, (8, 8, 64), 32, 2, "B", LayerConfig(), "b", stride_on=stride_on)
    assert model.output.shape == (None, 4, 4, 128)
    convs = {layer.name: layer.strides for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
    assert convs[strided] == (2, 2)
    assert sorted(name for name, s in convs.items() if s == (2, 2)) == sorted({strided, "b_0_conv"})
    assert ("b_2_pad" in [layer.name for layer in model.layers]) == (stride_on == "3x3")


def test_preactivation_block_ends_on_the_addition():
    """[He16b]: BN -> ReLU -> conv, no ReLU after the addition; projections start from the pre-activation."""
    model = _model(bottleneck_block, (8, 8, 64), 32, 1, "B", LayerConfig(preact=True), "b")
    assert isinstance(model.layers[-1], keras.layers.Add)
    projection = model.get_layer("b_0_conv")
    assert projection.input is model.get_layer("b_preact_relu").output
    assert not model.get_layer("b_1_conv").use_bias  # no bias right before BN


def test_bias_and_weight_decay_conventions():
    config = LayerConfig(use_bias=True, weight_decay=1e-4)
    model = _model(basic_block, (8, 8, 16), 16, 1, "B", config, "b")
    conv = model.get_layer("b_1_conv")
    assert conv.use_bias
    assert conv.kernel_regularizer.l2 == pytest.approx(5e-5)  # lambda / 2: SGD then adds lambda * w
    assert model.get_layer("b_1_bn").momentum == 0.9


def test_stage_downsamples_in_first_or_last_block():
    for downsample_at, strided_block in [("first", "s_block1"), ("last", "s_block3")]:
        inputs = keras.Input((8, 8, 16))
        model = keras.Model(inputs, stage(inputs, "basic", 32, 3, 2, "A", LayerConfig(), "s",
                                          downsample_at=downsample_at))
        assert model.output.shape == (None, 4, 4, 32)
        strided = [layer.name for layer in model.layers
                   if isinstance(layer, keras.layers.Conv2D) and layer.strides == (2, 2)]
        assert strided == [f"{strided_block}_1_conv"]


def test_shortcut_returns_input_when_dimensions_match():
    inputs = keras.Input((4, 4, 8))
    assert shortcut(inputs, inputs, 8, 1, "A", LayerConfig(), "b") is inputs
    assert shortcut(inputs, inputs, 8, 1, "none", LayerConfig(), "b") is None
    padded = shortcut(inputs, inputs, 8, 2, "B", LayerConfig(), "b")  # B, width unchanged: subsample only
    assert [type(layer) for layer in keras.Model(inputs, padded).layers[1:]] == [ZeroPadShortcut]
